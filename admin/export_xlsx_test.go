package admin

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func readXLSX(t *testing.T, raw string) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("export.xlsx: %v", err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"Cards"}) {
		t.Fatalf("sheets %v", got)
	}
	rows, err := f.GetRows("Cards")
	if err != nil {
		t.Fatal(err)
	}
	// GetRows drops trailing empty cells: pad to the header.
	for i := range rows {
		for len(rows[i]) < len(rows[0]) {
			rows[i] = append(rows[i], "")
		}
	}
	return rows
}

func TestExportXLSXHasTheCSVColumnsAndFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ids := e.seedPeople()
		e.seedCustom(ids)
		e.must(200, "PATCH", acme+"/cards/"+ids["cy@example.com"], map[string]any{"employee_id": "007", "display_name": "=1+1"})
		for _, query := range []string{"", "?role=admin&sort=-email", "?q=berlin", "?status=disabled"} {
			res := e.do("GET", acme+"/cards/export.xlsx"+query, roKey, nil)
			if res.Status != 200 || res.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
				t.Fatalf("export.xlsx%s: %d %.200s", query, res.Status, res.Raw)
			}
			got := readXLSX(t, res.Raw)
			want, err := csv.NewReader(strings.NewReader(e.must(200, "GET", acme+"/cards/export.csv"+query, nil).Raw)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range want {
				for i, c := range row {
					row[i] = strings.TrimPrefix(c, "'") // the CSV's formula guard; XLSX cells are text
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("export.xlsx%s:\n%v\nexport.csv:\n%v", query, got, want)
			}
		}
		rows := readXLSX(t, e.do("GET", acme+"/cards/export.xlsx?q=cy%40", roKey, nil).Raw)
		if len(rows) != 2 || rows[1][slices.Index(rows[0], "employee_id")] != "007" || rows[1][slices.Index(rows[0], "display_name")] != "=1+1" {
			t.Fatalf("cy's row: %v", rows)
		}
		if r := e.do("GET", acme+"/cards/export.xlsx?stauts=x", roKey, nil); r.Status != 400 || r.errField() != "stauts" {
			t.Fatalf("unknown parameter: %d %s", r.Status, r.Raw)
		}
	})
}

// Export as XLSX, change one cell, import the workbook: exactly that
// cell changes — a field's, or a custom attribute's.
func TestExportXLSXEditOneCellReimport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedCustom(e.seedPeople())
		for _, edit := range roundTripEdits {
			before := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
			res := e.must(200, "GET", acme+"/cards/export.xlsx", nil)
			f, err := excelize.OpenReader(strings.NewReader(res.Raw))
			if err != nil {
				t.Fatal(err)
			}
			rows := readXLSX(t, res.Raw)
			col, row := slices.Index(rows[0], edit.column), slices.IndexFunc(rows, func(r []string) bool { return r[0] == edit.email })
			if col < 0 || row < 1 {
				t.Fatalf("no %s of %s in %q", edit.column, edit.email, rows)
			}
			cell, _ := excelize.CoordinatesToCellName(col+1, row+1)
			if err := f.SetCellStr("Cards", cell, edit.value); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := f.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			f.Close()
			imp := e.must(201, "POST", acme+"/imports", upload("cards.xlsx", buf.Bytes(), nil))
			if imp.Body["status"] != "applied" {
				t.Fatalf("import: %.500s", imp.Raw)
			}
			after := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
			wantOneCellChanged(t, before, after, edit.email, edit.column, edit.value)
		}
	})
}

// diffLines names the lines of b that differ from a's, "" if none.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("want %q\n got %q", x, y))
		}
	}
	return strings.Join(out, "\n")
}

// The workbook as exported, imported unchanged, changes nothing: the
// import reads every cell of it, custom attributes too.
func TestExportXLSXReimportUnchanged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedCustom(e.seedPeople())
		before := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw
		raw := e.must(200, "GET", acme+"/cards/export.xlsx", nil).Raw
		imp := e.must(201, "POST", acme+"/imports", upload("cards.xlsx", []byte(raw), nil))
		if imp.Body["status"] != "applied" {
			t.Fatalf("import: %.500s", imp.Raw)
		}
		if after := e.must(200, "GET", acme+"/cards/export.csv", nil).Raw; diffLines(before, after) != "" {
			t.Fatalf("after importing the export as it was:\n%s", diffLines(before, after))
		}
	})
}
