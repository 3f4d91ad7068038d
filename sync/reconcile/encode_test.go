package reconcile

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"strings"
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

		// The same plan with its changes encoded as they were made (not
		// listed) is stored as the same JSON, and lists them again.
		if st.Plan.Changes == nil {
			continue
		}
		streamed := spliced(t, st)
		enc, err = encodePlan(streamed)
		if err != nil {
			t.Fatal(err)
		}
		zr, err = gzip.NewReader(bytes.NewReader(enc))
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(zr)
		compact.Reset()
		if err := json.Compact(&compact, got); err != nil || !bytes.Equal(compact.Bytes(), want) {
			t.Fatalf("spliced (%v)\n%s\njson.Marshal\n%s", err, got, want)
		}
		if err := streamed.Plan.list(); err != nil || !reflect.DeepEqual(streamed.Plan.Changes, back.Plan.Changes) {
			t.Fatalf("listed again (%v): %+v, want %+v", err, streamed.Plan.Changes, back.Plan.Changes)
		}
	}
}

// spliced is st with its plan's changes not listed but encoded as a run
// that streams them has them (Plan.listed).
func spliced(t *testing.T, st stored) stored {
	t.Helper()
	cs := newChangeStream()
	for i := range st.Plan.Changes {
		if err := cs.add(&st.Plan.Changes[i]); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if st.Plan.listed, err = cs.close(); err != nil {
		t.Fatal(err)
	}
	st.Plan.Changes = nil
	return st
}

// FuzzStoredPlan: a stored plan read back from any bytes (raw, or gzip'd
// as the runner stores them) is an error or a plan, never a panic; and a
// plan built from any inputs is, decoded after encoding, the same plan,
// its stream what json.Marshal writes.
func FuzzStoredPlan(f *testing.F) {
	seed, _ := encodePlan(stored{Plan: Plan{Tenant: "acme", Changes: []Change{{Action: Create, Key: "k"}}}, Snapshot: &Snapshot{Records: []Record{{Key: "k"}}}})
	f.Add(seed, "acme", "file:hr", "ann@example.com", int64(3), uint32(1_764_000_000), true)
	f.Add([]byte(`{"plan":{"changes":[{"action":"withdraw","attributes":[{}]}]},"snapshot":{"Records":[{}]},"invite":false}`), "", "", "", int64(0), uint32(0), false)
	f.Add([]byte(`{"plan":{"changes":[[[[[`), "\xff<&>", "\"changes\":null", `"Records":null`, int64(-1), uint32(1<<32-1), true)
	f.Fuzz(func(t *testing.T, data []byte, a, b, c string, n int64, secs uint32, flag bool) {
		decodePlan(data)
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		zw.Write(data)
		zw.Close()
		decodePlan(zipped.Bytes())

		a, b, c = strings.ToValidUTF8(a, "\uFFFD"), strings.ToValidUTF8(b, "\uFFFD"), strings.ToValidUTF8(c, "\uFFFD")
		st := stored{Plan: Plan{Tenant: a, Source: b, Records: int(n), Present: int(n / 2), FullRoster: flag, Fingerprint: c,
			Changes: []Change{{Action: Action(a), Key: b, Email: c, CardID: a, Effect: b, Refused: c, Line: a}}}, LastApplied: c}
		if flag {
			st.Plan.Counts = map[string]int{a: int(n), b: 1}
			st.Plan.Flagged = []Flag{{Line: a, Key: b, Reason: c}}
			st.Plan.Changes = append(st.Plan.Changes, Change{Action: Update, Key: c, Attributes: []directory.AttributeChange{{Name: a, Old: b, New: c}}})
			st.Invite = &flag
		}
		if n%2 == 0 {
			recs := []Record{}
			if n%4 == 0 {
				recs = append(recs, Record{Key: a, Email: b, Deactivated: flag, Line: c, Attributes: store.Attributes{GivenName: a, Title: c,
					Groups: []string{b, c}, Custom: map[string]string{a: b}}}, Record{Key: c})
			}
			st.Snapshot = &Snapshot{Name: a, Size: n, Hash: b, Fetched: time.Unix(int64(secs), n%1e9).UTC(), Records: recs, Flagged: []Flag{}}
		}
		enc, err := encodePlan(st)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		back, err := decodePlan(enc)
		if err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		if !reflect.DeepEqual(back, st) {
			t.Fatalf("read back\n%#v\nwant\n%#v", back, st)
		}
		zr, _ := gzip.NewReader(bytes.NewReader(enc))
		got, _ := io.ReadAll(zr)
		want, _ := json.Marshal(st)
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil || !bytes.Equal(compact.Bytes(), want) {
			t.Fatalf("streamed (%v)\n%s\njson.Marshal\n%s", err, got, want)
		}

		// Its changes encoded as they were made, and spliced in: the same.
		if enc, err = encodePlan(spliced(t, st)); err != nil {
			t.Fatalf("encoding, spliced: %v", err)
		}
		if back, err = decodePlan(enc); err != nil || !reflect.DeepEqual(back, st) {
			t.Fatalf("read back, spliced (%v)\n%#v\nwant\n%#v", err, back, st)
		}
	})
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
