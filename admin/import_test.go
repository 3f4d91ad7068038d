package admin

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// cardView is what a test compares of a card: what the API shows of it
// apart from bookkeeping (version, updated_at).
type cardView struct {
	Email      string               `json:"email"`
	Attributes directory.Attributes `json:"attributes"`
	Enabled    bool                 `json:"enabled"`
	Status     string               `json:"status"`
	LastKnown  *store.LastKnown     `json:"last_known"`
}

func (e *env) card(id string) cardView {
	e.t.Helper()
	var c cardView
	if err := json.Unmarshal([]byte(e.must(200, "GET", acme+"/cards/"+id, nil).Raw), &c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) importFile(name, content string, fields map[string]string) response {
	e.t.Helper()
	r := e.must(201, "POST", acme+"/imports", upload(name, []byte(content), fields))
	if want := store.RunApplied; fields["dry_run"] == "" && r.Body["status"] != want {
		e.t.Fatalf("import %s: %s", name, r.Raw)
	}
	return r
}

// TestImportChangesOnlyItsColumns: an import of a file with only Email and
// Department changes the department and leaves the name and role; an
// empty cell leaves the department too, unless clear_empty, which the
// plan shows.
func TestImportChangesOnlyItsColumns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.importFile("all.csv", "Email,First Name,Last Name,Department,Role\nann@example.com,Ann,Lee,Research,editor\n", nil)
		ann := e.cardID("ann@example.com")
		want := directory.Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor"}
		if got := e.card(ann).Attributes; !reflect.DeepEqual(got, want) {
			t.Fatalf("after the first import: %+v", got)
		}

		r := e.importFile("dept.csv", "Email,Department\nann@example.com,Sales\n", nil)
		want.Department = "Sales"
		if got := e.card(ann).Attributes; !reflect.DeepEqual(got, want) {
			t.Fatalf("an import of Email,Department: %+v, want %+v", got, want)
		}
		if counts, _ := r.Body["counts"].(map[string]any); counts["update"] != 1.0 {
			t.Fatalf("counts %v", r.Body["counts"])
		}

		// An empty cell leaves the department: the plan has nothing to do.
		r = e.importFile("blank.csv", "Email,Department\nann@example.com,\n", nil)
		if counts, _ := r.Body["counts"].(map[string]any); counts["unchanged"] != 1.0 || counts["update"] != nil {
			t.Fatalf("an empty cell: counts %v", r.Body["counts"])
		}
		if got := e.card(ann).Attributes; !reflect.DeepEqual(got, want) {
			t.Fatalf("an empty cell: %+v, want %+v", got, want)
		}

		// clear_empty: the dry run's plan says it, and what it clears.
		r = e.importFile("blank.csv", "Email,Department\nann@example.com,\n", map[string]string{"clear_empty": "true", "dry_run": "true"})
		plan := e.must(200, "GET", acme+"/runs/"+fmt.Sprint(r.Body["id"])+"/plan", nil)
		var p reconcile.Plan
		if err := json.Unmarshal([]byte(plan.Raw), &p); err != nil {
			t.Fatal(err)
		}
		if !p.Partial || !p.ClearEmpty || !slices.Equal(p.Columns, []string{"department"}) || len(p.Changes) != 1 ||
			!slices.Equal(p.Changes[0].Cleared, []string{"department"}) {
			t.Fatalf("clear_empty plan: %s", plan.Raw)
		}
		e.importFile("blank.csv", "Email,Department\nann@example.com,\n", map[string]string{"clear_empty": "true"})
		want.Department = ""
		if got := e.card(ann).Attributes; !reflect.DeepEqual(got, want) {
			t.Fatalf("clear_empty: %+v, want %+v", got, want)
		}
		if r := e.do("POST", acme+"/imports", rwKey, upload("x.csv", []byte("Email\n"), map[string]string{"clear_empty": "maybe"})); r.Status != 400 || r.errField() != "clear_empty" {
			t.Fatalf("bad clear_empty: %d %s", r.Status, r.Raw)
		}
		// A misspelt option is refused, not taken for its default.
		if r := e.do("POST", acme+"/imports", rwKey, upload("x.csv", []byte("Email\n"), map[string]string{"clear-empty": "true"})); r.Status != 400 || r.errField() != "clear-empty" || r.errCode() != "unknown_parameter" {
			t.Fatalf("misspelt clear_empty: %d %s", r.Status, r.Raw)
		}
		if r := e.do("POST", acme+"/imports?full-roster=true", rwKey, upload("x.csv", []byte("Email\n"), nil)); r.Status != 400 || r.errField() != "full-roster" {
			t.Fatalf("unknown query parameter: %d %s", r.Status, r.Raw)
		}
	})
}

// TestExportImportRoundTrip: export the cards, change one cell, import the
// file: exactly that cell changes. Every column the export writes up to
// status is one the import reads; a value the export guards against
// formulas comes back as it was; a disabled card stays as it was, with
// its last known attributes, and nothing holds it disabled.
func TestExportImportRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		rec := func(email string, a store.Attributes) reconcile.Record {
			return reconcile.Record{Key: email, Email: email, Attributes: a}
		}
		ann := rec("ann@example.com", store.Attributes{GivenName: "Ann", FamilyName: "Lee", Title: "Chemist", Department: "Research",
			Location: "Berlin", EmployeeID: "0042", ManagerEmail: "mo@example.com", Groups: []string{"Labs", "All"}})
		bob := rec("bob@example.com", store.Attributes{GivenName: "Bob", FamilyName: "Stone", Department: "Research", Role: "viewer"})
		cy := rec("cy@example.com", store.Attributes{GivenName: "Cy", FamilyName: "Nak", Department: "Finance", Role: "editor"})
		e.mu.Lock()
		e.snaps["hr"] = []reconcile.Record{ann, bob, cy}
		e.mu.Unlock()
		e.runFeed("hr")
		annID, bobID, cyID := e.cardID("ann@example.com"), e.cardID("bob@example.com"), e.cardID("cy@example.com")
		// A value that begins with an apostrophe before a formula is one
		// the export must guard too, or the import strips its apostrophe.
		e.must(200, "PATCH", acme+"/cards/"+annID, map[string]any{"display_name": "=Ann", "role": "admin", "title": "'=Chemist"})
		// HR stops listing Cy: disabled, last known attributes.
		e.clock.Advance(24 * 60 * 60 * 1e9)
		e.mu.Lock()
		e.snaps["hr"] = []reconcile.Record{ann, bob}
		e.mu.Unlock()
		e.runFeed("hr")
		before := map[string]cardView{annID: e.card(annID), bobID: e.card(bobID), cyID: e.card(cyID)}
		if c := before[cyID]; c.Enabled || c.Attributes.Department != "Finance" || c.LastKnown == nil || c.LastKnown.Source != "file:hr" {
			t.Fatalf("cy after the withdrawal: %+v", c)
		}

		res := e.do("GET", acme+"/cards/export.csv", roKey, nil)
		if res.Status != 200 {
			t.Fatalf("export: %d %s", res.Status, res.Raw)
		}
		rows, err := csv.NewReader(strings.NewReader(res.Raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := rows[0]
		if !slices.Equal(header[1:10], store.TextAttributes) {
			t.Fatalf("export header %v: the attribute columns must follow store.TextAttributes", header)
		}
		col := func(name string) int { return slices.Index(header, name) }
		byEmail := map[string][]string{}
		for _, row := range rows[1:] {
			byEmail[row[0]] = row
		}
		if r := byEmail["ann@example.com"]; r[col("display_name")] != "'=Ann" || r[col("title")] != "''=Chemist" || r[col("groups")] != "Labs;All" {
			t.Fatalf("ann's row: %q", r)
		}
		if r := byEmail["cy@example.com"]; r[col("status")] != "disabled" || r[col("department")] != "Finance" ||
			r[col("last_known_source")] != "file:hr" || r[col("last_known_at")] != "2026-11-21T09:00:00Z" {
			t.Fatalf("cy's row: %q", r)
		}

		byEmail["bob@example.com"][col("department")] = "Sales"
		var edited bytes.Buffer
		w := csv.NewWriter(&edited)
		w.WriteAll(rows)
		r := e.importFile("export.csv", edited.String(), nil)
		plan := e.must(200, "GET", acme+"/runs/"+fmt.Sprint(r.Body["id"])+"/plan", nil)
		var p reconcile.Plan
		if err := json.Unmarshal([]byte(plan.Raw), &p); err != nil {
			t.Fatal(err)
		}
		// The import reads every attribute column of the export.
		if want := append(slices.Clone(store.TextAttributes), "groups"); !slices.Equal(slices.Sorted(slices.Values(p.Columns)), slices.Sorted(slices.Values(want))) {
			t.Fatalf("the import read the columns %v of the export's %v", p.Columns, header)
		}

		after := map[string]cardView{annID: e.card(annID), bobID: e.card(bobID), cyID: e.card(cyID)}
		wantBob := before[bobID]
		wantBob.Attributes.Department = "Sales"
		if !reflect.DeepEqual(after[bobID], wantBob) {
			t.Fatalf("bob: %+v\nwant %+v", after[bobID], wantBob)
		}
		if !reflect.DeepEqual(after[annID], before[annID]) {
			t.Fatalf("ann changed: %+v\nwas %+v", after[annID], before[annID])
		}
		// Cy's row says disabled, of a card disabled already that the admin
		// does not hold: nothing changes, her last known attributes stay.
		if !reflect.DeepEqual(after[cyID], before[cyID]) {
			t.Fatalf("cy changed: %+v\nwas %+v", after[cyID], before[cyID])
		}
		if claims, err := e.dir.Claims(e.t.Context(), "acme", cyID); err != nil || len(claims) != 1 {
			t.Fatalf("cy's claims: %+v, %v; want file:hr's only", claims, err)
		}
		// Once HR lists her again she is enabled: the import holds nothing.
		e.mu.Lock()
		e.snaps["hr"] = []reconcile.Record{ann, bob, cy}
		e.mu.Unlock()
		e.runFeed("hr")
		if c := e.card(cyID); !c.Enabled || c.LastKnown != nil {
			t.Fatalf("cy listed again: %+v", c)
		}
	})
}

// TestReimportedExportLetsNobodyStay: export, import the file back: the
// admin now holds every exported person's attributes, but not their
// access. When HR stops listing someone, they are disabled as before the
// import; someone the import itself brought in stays.
func TestReimportedExportLetsNobodyStay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com")
		e.runFeed("hr")
		res := e.do("GET", acme+"/cards/export.csv", roKey, nil)
		if res.Status != 200 {
			t.Fatalf("export: %d %s", res.Status, res.Raw)
		}
		r := e.importFile("export.csv", res.Raw+"dee@example.com,Dee,,,,,,,,,,,,,,,\n", nil)
		if counts, _ := r.Body["counts"].(map[string]any); counts["create"] != 1.0 {
			t.Fatalf("re-import counts %v", r.Body["counts"])
		}
		bob, dee := e.cardID("bob@example.com"), e.cardID("dee@example.com")
		e.clock.Advance(24 * 60 * 60 * 1e9)
		e.setSnapshot("hr", "ann@example.com")
		e.runFeed("hr")
		if c := e.card(bob); c.Enabled || c.Attributes.GivenName != "bob" {
			t.Fatalf("bob, gone from HR after a re-imported export: %+v", c)
		}
		if c := e.card(dee); !c.Enabled {
			t.Fatalf("dee, whom the import brought in: %+v", c)
		}
	})
}
