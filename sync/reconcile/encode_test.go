package reconcile

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// TestEncodePlanIsEncodingJSON: a stored plan written a change and a
// record at a time is, byte for byte after its whitespace, what
// json.Marshal makes of it, and it reads back.
func TestEncodePlanIsEncodingJSON(t *testing.T) {
	plan := Plan{Tenant: "acme", Source: "ldap:corp", Records: 3, Present: 2, FullRoster: true, Fingerprint: "f1",
		Flagged: []Flag{{Line: "uid=x,dc=example", Key: "k9", Reason: `no email <"mail">`}},
		Counts:  map[string]int{"create": 1, "update": 1, "withdraw": 1, "refused": 1},
		Changes: []Change{
			{Action: Create, Key: "k1", Email: "ann@example.com", Effect: "enable", Line: "hr.csv:2"},
			{Action: Update, Key: "k2", Email: "bob@example.com", CardID: "c2", Refused: "email taken & held",
				Attributes: []directory.AttributeChange{{Name: "title", Old: "", New: "Lead <R&D>"}}},
			{Action: Withdraw, Key: "k3", Email: "zoë@example.com", CardID: "c3", Effect: "disable"},
		}}
	snap := &Snapshot{Name: "ldaps://dc1 ou=people", Size: 10, Hash: "abc", Fetched: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC),
		Records: []Record{
			{Key: "k1", Email: "ann@example.com", Line: "hr.csv:2", Attributes: store.Attributes{GivenName: "Ann", Groups: []string{"Eng", "All"},
				Custom: map[string]string{"cost_center": "42", "b": "<x>"}}},
			{Key: "k2", Email: "bob@example.com", Deactivated: true},
		},
		Flagged: plan.Flagged, Columns: []string{"given_name", "groups", "custom.cost_center"}}
	partial := plan
	partial.Partial, partial.Columns, partial.ClearEmpty = true, snap.Columns, true
	partial.Changes = append([]Change{{Action: Update, Key: "k4", CardID: "c4", Cleared: []string{"given_name"},
		Attributes: []directory.AttributeChange{{Name: "given_name", Old: "Ann", New: ""}}}}, plan.Changes...)
	for _, st := range []stored{
		{Plan: partial, Snapshot: snap},
		{Plan: plan},
		{Plan: plan, Snapshot: snap},
		{Plan: Plan{Tenant: "acme", Changes: []Change{}}, Snapshot: &Snapshot{Records: []Record{}}},
		{Plan: Plan{Tenant: "acme"}, Snapshot: &Snapshot{}},
		{Plan: Plan{Tenant: "acme"}, Snapshot: &Snapshot{Columns: []string{}}},
	} {
		enc, err := encodePlan(st)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(enc))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(zr)
		want, _ := json.Marshal(st)
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, got)
		}
		if !bytes.Equal(compact.Bytes(), want) {
			t.Fatalf("streamed\n%s\njson.Marshal\n%s", compact.Bytes(), want)
		}
		back, err := decodePlan(enc)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, want) {
			t.Fatalf("read back\n%s\nwant\n%s", again, want)
		}
	}
}

// TestStoredSnapshotKeepsNoColumnsApart: a file of emails only asserts no
// attribute; read back from a stored plan it still asserts none (empty,
// not nil, which would take every record whole).
func TestStoredSnapshotKeepsNoColumnsApart(t *testing.T) {
	for _, cols := range [][]string{nil, {}} {
		enc, err := encodePlan(stored{Plan: Plan{Tenant: "acme"}, Snapshot: &Snapshot{Columns: cols}})
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePlan(enc)
		if err != nil {
			t.Fatal(err)
		}
		if (back.Snapshot.Columns == nil) != (cols == nil) {
			t.Fatalf("columns %#v read back as %#v", cols, back.Snapshot.Columns)
		}
	}
}
