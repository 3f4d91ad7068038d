package filefeed

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseImportListsEveryColumn: every header cell is listed with its
// target or, ignored, with why: one no field has, one the mapping
// ignores, a default header whose field the mapping reads elsewhere, a
// second column for one field.
func TestParseImportListsEveryColumn(t *testing.T) {
	data := "Email,First Name,Office Location,Manager,Shoe Size,Cost Center,Given Name,Location\nann@example.com,Ann,Berlin,bo@example.com,38,CC1,Annie,Rome\n"
	snap, cols, err := ParseImport("people.csv", []byte(data), ParseOptions{Feed: "import",
		Columns: map[string]string{"Office Location": "location", "Cost Center": "custom.cost_center", "Manager": IgnoreColumn}})
	if err != nil {
		t.Fatal(err)
	}
	type c struct{ header, target, by string }
	var got []c
	reasons := map[string]string{}
	for _, h := range cols {
		got = append(got, c{h.Header, h.Target, h.By})
		if h.Ignored != (h.Target == "") || h.Ignored != (h.Reason != "") {
			t.Errorf("%+v: ignored, target and reason disagree", h)
		}
		reasons[h.Header] = h.Reason
	}
	want := []c{{"Email", "email", "default"}, {"First Name", "given_name", "default"}, {"Office Location", "location", "columns"},
		{"Manager", "", ""}, {"Shoe Size", "", ""}, {"Cost Center", "custom.cost_center", "columns"}, {"Given Name", "", ""}, {"Location", "", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("columns %+v\nwant %+v", got, want)
	}
	for header, want := range map[string]string{"Manager": "ignored by the column mapping", "Shoe Size": "no card field of that name",
		"Given Name": `given name is read from column "First Name"`, "Location": `location is read from column "Office Location"`} {
		if !strings.Contains(reasons[header], want) {
			t.Errorf("%s: reason %q, want %q", header, reasons[header], want)
		}
	}
	a := snap.Records[0].Attributes
	if a.Location != "Berlin" || a.ManagerEmail != "" || a.GivenName != "Ann" || a.Custom["cost_center"] != "CC1" {
		t.Fatalf("attributes %+v", a)
	}
}

// TestParseImportRememberedColumns: with ColumnsOptional a mapped header
// the file lacks is no error, and its field's default header is read.
func TestParseImportRememberedColumns(t *testing.T) {
	opt := ParseOptions{Feed: "import", Columns: map[string]string{"Office Location": "location", "Mail": "email", "Notes": IgnoreColumn}}
	data := []byte("Email,Location\nann@example.com,Rome\n")
	if _, _, err := ParseImport("p.csv", data, opt); err == nil {
		t.Fatal("a required mapped column missing: no error")
	}
	opt.ColumnsOptional = true
	snap, cols, err := ParseImport("p.csv", data, opt)
	if err != nil || len(snap.Records) != 1 || snap.Records[0].Attributes.Location != "Rome" || len(cols) != 2 || cols[1].By != "default" {
		t.Fatalf("optional: %+v %+v %v", snap.Records, cols, err)
	}
}

func TestCheckColumns(t *testing.T) {
	for _, tc := range []struct {
		cols   map[string]string
		header string
		want   string
	}{
		{map[string]string{"Office Location": "office"}, "Office Location", `unknown target "office"`},
		{map[string]string{"A": "custom."}, "A", "unknown target"},
		{map[string]string{"A": "location", "B": "location"}, "B", `location is already mapped from "A"`},
		{map[string]string{"Work Email": "email", "work_email": "ignore"}, "work_email", "the same as"},
		{map[string]string{" ": "title"}, " ", "empty"},
	} {
		err := CheckColumns(tc.cols)
		var me *MappingError
		if !errors.As(err, &me) || me.Header != tc.header || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a MappingError for %q containing %q", tc.cols, err, tc.header, tc.want)
		}
	}
	if err := CheckColumns(map[string]string{"A": "relation.parent", "B": "custom.x", "C": "ignore", "D": "ignore", "E": "status"}); err != nil {
		t.Errorf("good columns: %v", err)
	}
}
