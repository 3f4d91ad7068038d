package filefeed

import "testing"

// TestParseRoleAndRelationColumns: a file's Role column and a column
// mapped to relation.parent reach the record (the directory then maps
// the role and links the parent).
func TestParseRoleAndRelationColumns(t *testing.T) {
	data := []byte("Email,Role,Parent,Manager\nkid@acme.example,Student,mum@acme.example,teacher@acme.example\n")
	snap, err := Parse("sis.csv", data, ParseOptions{Feed: "sis", Columns: map[string]string{"Parent": "relation.parent", "Manager": "manager_email"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Records) != 1 {
		t.Fatalf("%d records", len(snap.Records))
	}
	a := snap.Records[0].Attributes
	if a.Role != "Student" || a.Relations["parent"] != "mum@acme.example" || a.ManagerEmail != "teacher@acme.example" {
		t.Fatalf("attributes %+v", a)
	}
	if _, err := Parse("sis.csv", data, ParseOptions{Feed: "sis", Columns: map[string]string{"Parent": "relation."}}); err == nil {
		t.Fatal("relation. without a name parsed")
	}
}
