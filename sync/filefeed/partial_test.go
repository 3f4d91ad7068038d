package filefeed

import (
	"slices"
	"testing"
)

// TestParseNamesItsColumns: a snapshot names the attributes its header
// columns fill (not email or status), which a partial feed and an import
// assert; a value the card export guarded against formulas reads as it
// was.
func TestParseNamesItsColumns(t *testing.T) {
	snap, err := Parse("people.csv", []byte("Email,Department,Status,Notes,Groups\nann@example.com,'=Sales,active,x,'-ops\n"), ParseOptions{Feed: "import"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"department", "groups"}; !slices.Equal(snap.Columns, want) {
		t.Fatalf("columns %v, want %v", snap.Columns, want)
	}
	if a := snap.Records[0].Attributes; a.Department != "=Sales" || !slices.Equal(a.Groups, []string{"-ops"}) {
		t.Fatalf("attributes %+v", a)
	}
	snap, err = Parse("people.csv", []byte("Email,Title\nann@example.com,'Boss\n"), ParseOptions{Feed: "import", Columns: map[string]string{"Title": "custom.title"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.Columns, []string{"custom.title"}) || snap.Records[0].Attributes.Custom["title"] != "'Boss" {
		t.Fatalf("custom column: %v, %+v", snap.Columns, snap.Records[0].Attributes)
	}
}
