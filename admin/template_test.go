package admin

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/rosterd/rosterd/sync/filefeed"
)

// The XLSX template has the CSV template's header row, and a row filled
// in under it imports as the CSV's would.
func TestImportTemplateXLSX(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		res := e.do("GET", "/api/v1/import/template.xlsx", roKey, nil)
		if res.Status != 200 || res.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
			t.Fatalf("template.xlsx: %d %s %.200s", res.Status, res.Header.Get("Content-Type"), res.Raw)
		}
		csvHeader := strings.Split(strings.TrimSpace(strings.TrimPrefix(e.must(200, "GET", "/api/v1/import/template.csv", nil).Raw, "\uFEFF")), ",")
		f, err := excelize.OpenReader(strings.NewReader(res.Raw))
		if err != nil {
			t.Fatalf("template.xlsx is no workbook: %v", err)
		}
		defer f.Close()
		rows, err := f.GetRows("People")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || !slices.Equal(rows[0], csvHeader) || !slices.Equal(rows[0], filefeed.TemplateHeaders()) {
			t.Fatalf("template.xlsx rows %q, want only the CSV's header %q", rows, csvHeader)
		}
		// Fill in one person and import the workbook.
		email, dept := slices.Index(rows[0], "Email"), slices.Index(rows[0], "Department")
		if email < 0 || dept < 0 {
			t.Fatalf("no Email or Department column in %q", rows[0])
		}
		for col, v := range map[int]string{email: "tess@example.com", dept: "Template"} {
			cell, _ := excelize.CoordinatesToCellName(col+1, 2)
			if err := f.SetCellStr("People", cell, v); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		imp := e.must(201, "POST", acme+"/imports", upload("people.xlsx", buf.Bytes(), nil))
		if imp.Body["status"] != "applied" {
			t.Fatalf("import: %.500s", imp.Raw)
		}
		list := e.must(200, "GET", acme+"/cards?q=tess%40example.com", nil)
		if !strings.Contains(list.Raw, `"department":"Template"`) {
			t.Fatalf("the imported card: %.500s", list.Raw)
		}
	})
}
