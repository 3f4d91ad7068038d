package reconcile

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
)

// TestWriteCSVNeutralisesFormulas: a hostile value from a feed — an HR
// file or a directory attribute — reaches the plan CSV as text, in every
// column, also where a spreadsheet that splits on ";" would cut it.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	plan := Plan{Tenant: "acme", Source: "file:hr",
		Changes: []Change{
			{Action: Create, Key: ` =HYPERLINK("https://evil.example","x")`, Email: "ann@example.com", Effect: "enable", Line: "a;=1+1"},
			{Action: Update, Key: "\t=1", Email: "bob@example.com", CardID: "c2", Refused: "@SUM(1)",
				Attributes: []directory.AttributeChange{{Name: "title", Old: "", New: "=2"}}},
		},
		Flagged: []Flag{{Line: "-1+1", Reason: "x,=3"}, {Line: "hr.csv:9", Key: "00070", Reason: "invalid email"}}}
	var b bytes.Buffer
	if err := plan.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("reading the plan CSV back: %v\n%s", err, b.String())
	}
	want := [][]string{
		{"action", "key", "email", "card_id", "effect", "changes", "cleared", "refused", "line"},
		{"create", `' =HYPERLINK("https://evil.example","x")`, "ann@example.com", "", "enable", "", "", "", "'a;=1+1"},
		{"update", "'\t=1", "bob@example.com", "c2", "", "title:  → =2", "", "'@SUM(1)", ""},
		{"flagged", "", "", "", "", "", "", "'x,=3", "'-1+1"},
		{"flagged", "00070", "", "", "", "", "", "invalid email", "hr.csv:9"}, // the person a flagged row names
	}
	if len(rows) != len(want) {
		t.Fatalf("rows: %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
	// Split on ";" the way a European spreadsheet does, "a;=1+1" stays
	// one quoted cell.
	if !strings.Contains(b.String(), `,"'a;=1+1"`) {
		t.Errorf("the cell with a \";=\" is not quoted:\n%s", b.String())
	}
}
