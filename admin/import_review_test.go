package admin

import (
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// form is a multipart/form-data body of fields only (pasted text).
func form(fields map[string]string) *multipartBody {
	b := &multipartBody{}
	mw := multipart.NewWriter(&b.buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	b.contentType = mw.FormDataContentType()
	return b
}

func importBody(t *testing.T, r response) ImportBody {
	t.Helper()
	var b ImportBody
	if err := json.Unmarshal([]byte(r.Raw), &b); err != nil {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	return b
}

func (b ImportBody) change(email string) (ReviewChange, bool) {
	if b.Review == nil {
		return ReviewChange{}, false
	}
	for _, c := range b.Review.Changes {
		if c.Email == email {
			return c, true
		}
	}
	return ReviewChange{}, false
}

func (b ImportBody) column(header string) ReviewColumn {
	for _, c := range b.Review.Columns {
		if c.Header == header {
			return c
		}
	}
	return ReviewColumn{}
}

func hasChange(cs []directory.AttributeChange, name, old, new string) bool {
	return slices.Contains(cs, directory.AttributeChange{Name: name, Old: old, New: new})
}

// TestImportReviewMapsAppliesAndRefuses: a dry run with a mapped column
// (Office Location → location), an ignored one (Shoe Size) and a custom
// one (Cost Center → custom.cost_center) shows how each column maps, the
// flagged row with its line, and per person the card's attributes after
// and what changes; nothing is applied. from_review applies exactly it:
// the created card is invited, the updated one is not. The mapping is the
// tenant's default for the next import. A review whose card changed
// since is refused with 409, and nothing of it applies.
func TestImportReviewMapsAppliesAndRefuses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com")
		e.runFeed("hr")
		ann := e.cardID("ann@example.com")
		annMail := len(e.outbox(ann)) // what the feed sent her

		file := "Email,First Name,Office Location,Shoe Size,Cost Center\n" +
			"ann@example.com,Ann,Berlin,38,CC1\n" +
			"bob@example.com,Bob,Paris,44,CC2\n" +
			"not-an-email,Xi,Rome,40,CC3\n"
		columns := `{"Office Location": "location", "Cost Center": "custom.cost_center"}`
		r := e.must(201, "POST", acme+"/imports", upload("people.csv", []byte(file), map[string]string{"dry_run": "true", "invite": "yes", "columns": columns}))
		rev := importBody(t, r)
		if rev.Status != store.RunPlanned || !rev.DryRun || rev.Review == nil {
			t.Fatalf("dry run: %s", r.Raw)
		}
		wantCols := []ReviewColumn{
			{Column: 1, Header: "Email", Target: "email", Kind: "field", MappedBy: "default"},
			{Column: 2, Header: "First Name", Target: "given_name", Kind: "field", MappedBy: "default"},
			{Column: 3, Header: "Office Location", Target: "location", Kind: "field", MappedBy: "columns"},
			{Column: 4, Header: "Shoe Size", Kind: "ignored"},
			{Column: 5, Header: "Cost Center", Target: "custom.cost_center", Kind: "custom", MappedBy: "columns"},
		}
		got := slices.Clone(rev.Review.Columns)
		for i := range got {
			if got[i].Kind == "ignored" && got[i].Reason == "" {
				t.Errorf("ignored column %q without a reason", got[i].Header)
			}
			got[i].Reason = ""
		}
		if !reflect.DeepEqual(got, wantCols) || !slices.Equal(rev.Review.Ignored, []string{"Shoe Size"}) {
			t.Fatalf("columns %+v ignored %q", rev.Review.Columns, rev.Review.Ignored)
		}
		if f := rev.Review.Flagged; len(f) != 1 || f[0].Line != 4 || !strings.Contains(f[0].Reason, "invalid email") {
			t.Fatalf("flagged %+v", f)
		}
		bob, ok := rev.change("bob@example.com")
		wantBob := directory.Attributes{GivenName: "Bob", Location: "Paris", Custom: map[string]string{"cost_center": "CC2"}}
		if !ok || bob.Action != "create" || bob.Line != 3 || !bob.Invite || bob.Attributes == nil || !reflect.DeepEqual(*bob.Attributes, wantBob) ||
			!hasChange(bob.Changes, "location", "", "Paris") || !hasChange(bob.Changes, "custom.cost_center", "", "CC2") {
			t.Fatalf("bob's review: %+v", bob)
		}
		annCh, ok := rev.change("ann@example.com")
		if !ok || annCh.CardID != ann || annCh.Version == 0 || annCh.Invite || annCh.Attributes == nil ||
			annCh.Attributes.Location != "Berlin" || annCh.Attributes.Custom["cost_center"] != "CC1" ||
			!hasChange(annCh.Changes, "given_name", "ann", "Ann") || !hasChange(annCh.Changes, "location", "", "Berlin") {
			t.Fatalf("ann's review: %+v", annCh)
		}
		if s := rev.Summary; s != (ImportSummary{Created: 1, Updated: 1, Invited: 1, Flagged: 1}) {
			t.Fatalf("summary %+v", s)
		}
		if l := e.must(200, "GET", acme+"/cards?q=bob", nil); strings.Contains(l.Raw, "bob@") {
			t.Fatalf("the review created a card: %s", l.Raw)
		}

		// The mapping is now the tenant's default: a file without columns
		// reads Office Location as the location.
		r = e.must(201, "POST", acme+"/imports", upload("again.csv", []byte("Email,Office Location\ncy@example.com,Oslo\n"), map[string]string{"dry_run": "true"}))
		again := importBody(t, r)
		if c := again.column("Office Location"); c.Target != "location" || c.MappedBy != "import_default" {
			t.Fatalf("the remembered mapping: %+v", again.Review.Columns)
		}
		if cy, _ := again.change("cy@example.com"); cy.Attributes == nil || cy.Attributes.Location != "Oslo" {
			t.Fatalf("cy with the remembered mapping: %+v", cy)
		}

		// Applied from the review: exactly what was shown.
		r = e.must(201, "POST", acme+"/imports?from_review="+rev.ID, nil)
		applied := importBody(t, r)
		if applied.Status != store.RunApplied || applied.FromReview != rev.ID || applied.ID == rev.ID || applied.Trigger != "review" ||
			applied.Summary != (ImportSummary{Created: 1, Updated: 1, Invited: 1, Flagged: 1}) {
			t.Fatalf("applied from the review: %s", r.Raw)
		}
		bobID := e.cardID("bob@example.com")
		if c := e.card(bobID); !reflect.DeepEqual(c.Attributes, wantBob) {
			t.Fatalf("bob after the apply: %+v", c.Attributes)
		}
		if c := e.card(ann); c.Attributes.Location != "Berlin" || c.Attributes.GivenName != "Ann" || c.Attributes.Custom["cost_center"] != "CC1" {
			t.Fatalf("ann after the apply: %+v", c.Attributes)
		}
		if n := len(e.outbox(bobID)); n != 1 {
			t.Fatalf("bob, created with invite=yes: %d outbox rows, want 1", n)
		}
		if n := len(e.outbox(ann)); n != annMail {
			t.Fatalf("ann, updated: %d outbox rows, want still %d", n, annMail)
		}
		if l := e.must(200, "GET", acme+"/cards?q=cy@", nil); strings.Contains(l.Raw, "cy@") {
			t.Fatalf("applying one review applied another: %s", l.Raw)
		}
		// The same review again: its cards are not as reviewed any more.
		if r := e.do("POST", acme+"/imports?from_review="+rev.ID, rwKey, nil); r.Status != 409 || r.errCode() != "review_changed" {
			t.Fatalf("a review applied twice: %d %s", r.Status, r.Raw)
		}

		// A review of a move, then an admin edits bob: refused, nothing applied.
		r = e.must(201, "POST", acme+"/imports", upload("move.csv", []byte("Email,Office Location\nbob@example.com,Madrid\n"), map[string]string{"dry_run": "true"}))
		move := importBody(t, r)
		if c, _ := move.change("bob@example.com"); c.Action != "update" || !hasChange(c.Changes, "location", "Paris", "Madrid") {
			t.Fatalf("the move's review: %s", r.Raw)
		}
		e.must(200, "PATCH", acme+"/cards/"+bobID, map[string]any{"title": "Chemist"})
		r = e.do("POST", acme+"/imports?from_review="+move.ID, rwKey, nil)
		if r.Status != 409 || r.errCode() != "review_changed" || !strings.Contains(r.Raw, "bob@example.com") || !strings.Contains(r.Raw, "changed since the review") {
			t.Fatalf("a review whose card changed: %d %s", r.Status, r.Raw)
		}
		if c := e.card(bobID); c.Attributes.Location != "Paris" || c.Attributes.Title != "Chemist" {
			t.Fatalf("bob after a refused review: %+v", c.Attributes)
		}

		// from_review takes nothing else, and only an import's dry run.
		if r := e.do("POST", acme+"/imports?from_review="+move.ID+"&invite=yes", rwKey, nil); r.Status != 400 || r.errField() != "invite" {
			t.Fatalf("from_review with invite: %d %s", r.Status, r.Raw)
		}
		if r := e.do("POST", acme+"/imports?from_review="+applied.ID, rwKey, nil); r.Status != 400 || r.errField() != "from_review" {
			t.Fatalf("from_review of an applied run: %d %s", r.Status, r.Raw)
		}
		if r := e.do("POST", acme+"/imports?from_review=nope", rwKey, nil); r.Status != 404 || r.errField() != "from_review" {
			t.Fatalf("from_review of no run: %d %s", r.Status, r.Raw)
		}
	})
}

// TestImportPastedText: pasted tab- and comma-separated text with a
// header row imports as a file would, in a JSON body or a form field.
func TestImportPastedText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(201, "POST", acme+"/imports", map[string]any{
			"text":    "Email\tFirst Name\tDepartment\tNotes\ncy@example.com\tCy\tSales, EMEA\tmet at the fair\n",
			"invite":  "no",
			"columns": map[string]string{"Notes": "ignore"},
		})
		b := importBody(t, r)
		if b.Status != store.RunApplied || b.FileName != "pasted.txt" || b.Summary.Created != 1 || b.Summary.Invited != 0 {
			t.Fatalf("pasted tab-separated text: %s", r.Raw)
		}
		cy := e.cardID("cy@example.com")
		if c := e.card(cy); c.Attributes.GivenName != "Cy" || c.Attributes.Department != "Sales, EMEA" {
			t.Fatalf("cy from pasted text: %+v", c.Attributes)
		}
		if n := len(e.outbox(cy)); n != 0 {
			t.Fatalf("invite=no: %d outbox rows", n)
		}

		// Comma-separated, in a form field, as a dry run: the review.
		r = e.must(201, "POST", acme+"/imports", form(map[string]string{
			"text":    "Email,Last Name,Notes\r\ndee@example.com,Ng,x\r\nbad@,Oops,y\r\n",
			"dry_run": "true",
		}))
		b = importBody(t, r)
		if b.Review == nil || b.Summary.Created != 1 || b.Summary.Flagged != 1 || b.Review.Flagged[0].Where != "pasted.txt:3" {
			t.Fatalf("pasted comma-separated text: %s", r.Raw)
		}
		// The last mapping is the default: Notes is ignored by it.
		if c := b.column("Notes"); c.Kind != "ignored" || c.Reason != "ignored by the column mapping" {
			t.Fatalf("Notes under the remembered mapping: %+v", c)
		}
		if d, _ := b.change("dee@example.com"); d.Attributes == nil || d.Attributes.FamilyName != "Ng" {
			t.Fatalf("dee's review: %s", r.Raw)
		}

		// curl -d sends its JSON as a form; it is read as JSON all the same.
		r = e.do("POST", acme+"/imports", rwKey, `{"text":"Email,Title\nemma@example.com,Chemist\n"}`, "Content-Type", "application/x-www-form-urlencoded")
		if b := importBody(t, r); r.Status != 201 || b.Summary.Created != 1 {
			t.Fatalf("JSON sent as a form: %d %s", r.Status, r.Raw)
		}

		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"text": "  \n"}, "text"},
			{map[string]any{"text": "Email\nann@example.com\n", "dryrun": true}, "dryrun"},
			{map[string]any{"text": "Email\nann@example.com\n", "invite": "maybe"}, "invite"},
			{form(map[string]string{"text": "Email\n", "clear-empty": "true"}), "clear-empty"},
		} {
			if r := e.do("POST", acme+"/imports", rwKey, tc.body); r.Status != 400 || r.errField() != tc.field {
				t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.Status, r.Raw, tc.field)
			}
		}
	})
}

// TestImportFailedAnswers422: an import that fails — no email column, a
// mapped column the file lacks — answers 422 with the failed run; a
// mapping to no card field is a 400 naming the column.
func TestImportFailedAnswers422(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.do("POST", acme+"/imports", rwKey, upload("people.csv", []byte("Name,Office\nAnn,Berlin\n"), nil))
		b := importBody(t, r)
		if r.Status != 422 || b.Status != store.RunFailed || !strings.Contains(b.Error, "no email column") || b.ID == "" {
			t.Fatalf("an import without an email column: %d %s", r.Status, r.Raw)
		}
		if got := e.must(200, "GET", acme+"/runs/"+b.ID, nil); got.Body["status"] != store.RunFailed {
			t.Fatalf("the failed run: %s", got.Raw)
		}
		r = e.do("POST", acme+"/imports", rwKey, map[string]any{"text": "Email\nann@example.com\n", "columns": map[string]string{"Office Location": "location"}})
		if r.Status != 422 || !strings.Contains(r.Raw, `Office Location`) {
			t.Fatalf("a mapped column the text lacks: %d %s", r.Status, r.Raw)
		}
		r = e.do("POST", acme+"/imports", rwKey, map[string]any{"text": "Email\nann@example.com\n", "dry_run": true, "columns": map[string]string{"Office Location": "office"}})
		if r.Status != 400 || r.errField() != `columns["Office Location"]` || !strings.Contains(r.Raw, `unknown target \"office\"`) {
			t.Fatalf("an unknown target: %d %s", r.Status, r.Raw)
		}
		r = e.do("POST", acme+"/imports", rwKey, map[string]any{"text": "Email\nann@example.com\n", "columns": map[string]string{"Parent": "relation.parent"}})
		if r.Status != 400 || r.errField() != `columns["Parent"]` || !strings.Contains(r.Raw, "unknown relation") {
			t.Fatalf("a relation the tenant does not declare: %d %s", r.Status, r.Raw)
		}
		if l := e.must(200, "GET", acme+"/cards?q=ann", nil); strings.Contains(l.Raw, "ann@") {
			t.Fatalf("a refused import created a card: %s", l.Raw)
		}
	})
}

// TestImportReenablingInvitesNobody: a person an import brought in
// without an invite, dropped by a full-roster import, then brought back
// by an import with invite=yes, is re-enabled but not invited: an import
// invites only the cards it creates.
func TestImportReenablingInvitesNobody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.importFile("first.csv", "Email,First Name\nann@example.com,Ann\n", nil)
		ann := e.cardID("ann@example.com")
		e.importFile("roster.csv", "Email\nbob@example.com\n", map[string]string{"full_roster": "true"})
		if c := e.card(ann); c.Enabled || len(e.outbox(ann)) != 0 {
			t.Fatalf("ann after a full roster without her: %+v, %d outbox rows", c, len(e.outbox(ann)))
		}
		r := e.importFile("back.csv", "Email,First Name\nann@example.com,Ann\ncy@example.com,Cy\n", map[string]string{"invite": "yes"})
		if s := importBody(t, r).Summary; s.Created != 1 || s.Updated != 1 || s.Invited != 1 {
			t.Fatalf("summary %+v: %s", s, r.Raw)
		}
		if c := e.card(ann); !c.Enabled {
			t.Fatalf("ann after the import: %+v", c)
		}
		if n := len(e.outbox(ann)); n != 0 {
			t.Fatalf("ann, re-enabled by an import with invite=yes: %d outbox rows, want none", n)
		}
		if n := len(e.outbox(e.cardID("cy@example.com"))); n != 1 {
			t.Fatalf("cy, created: %d outbox rows, want 1", n)
		}
	})
}

// TestWriteImportBodyStreamsTheSameJSON: a long review written a change
// at a time reads back as the body json.Marshal would write.
func TestWriteImportBodyStreamsTheSameJSON(t *testing.T) {
	body := ImportBody{RunBody: RunBody{Run: store.Run{ID: "r1", Tenant: "acme", Status: store.RunPlanned, DryRun: true}},
		Summary: ImportSummary{Created: 150, Flagged: 1},
		Review: &ImportReview{Columns: []ReviewColumn{{Column: 1, Header: "Email", Target: "email", Kind: "field", MappedBy: "default"}},
			Ignored: []string{}, Flagged: []ReviewFlag{{Line: 2, Where: "a.csv:2", Reason: `invalid email "\"changes\":null"`}}}}
	for i := range 150 {
		body.Review.Changes = append(body.Review.Changes, ReviewChange{Action: "create", Line: i + 3, Email: fmt.Sprintf("p%d@example.com", i),
			Attributes: &directory.Attributes{GivenName: fmt.Sprint(i)}, Changes: []directory.AttributeChange{{Name: "given_name", New: fmt.Sprint(i)}}, Invite: true})
	}
	rec := httptest.NewRecorder()
	writeImportBody(rec, 201, body)
	var got, want any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %.200s", err, rec.Body.String())
	}
	j, _ := json.Marshal(body)
	json.Unmarshal(j, &want)
	if rec.Code != 201 || !reflect.DeepEqual(got, want) {
		t.Fatalf("streamed %d %.300s\nwant %.300s", rec.Code, rec.Body.String(), j)
	}
}

// TestImportMapsARelation: a column mapped to relation.<name> of a
// relation the tenant declares fills that relation, and the review says
// so; the tenant's default mapping is its own, not another tenant's.
func TestImportMapsARelation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech", "name": "Initech", "relations": []string{"parent"}})
		const initech = "/api/v1/tenants/initech"
		r := e.must(201, "POST", initech+"/imports", map[string]any{"dry_run": true,
			"text":    "Email,Parent,Instructor\nkid@example.com,mum@example.com,Ms Lee\n",
			"columns": map[string]string{"Parent": "relation.parent"}})
		b := importBody(t, r)
		if c := b.column("Parent"); c.Kind != "relation" || c.Target != "relation.parent" || c.MappedBy != "columns" {
			t.Fatalf("the Parent column: %s", r.Raw)
		}
		if c := b.column("Instructor"); c.Kind != "ignored" || !slices.Contains(b.Review.Ignored, "Instructor") {
			t.Fatalf("the Instructor column: %s", r.Raw)
		}
		kid, _ := b.change("kid@example.com")
		if kid.Attributes == nil || kid.Attributes.Relations["parent"] != "mum@example.com" || !hasChange(kid.Changes, "relation.parent", "", "mum@example.com") {
			t.Fatalf("kid's review: %s", r.Raw)
		}
		r = e.must(201, "POST", initech+"/imports?from_review="+b.ID, nil)
		if importBody(t, r).Status != store.RunApplied {
			t.Fatalf("applied: %s", r.Raw)
		}
		// acme has no default of initech's: Parent is ignored there.
		r = e.must(201, "POST", acme+"/imports", map[string]any{"dry_run": true, "text": "Email,Parent\nkid@example.com,mum@example.com\n"})
		if c := importBody(t, r).column("Parent"); c.Kind != "ignored" {
			t.Fatalf("acme's Parent column: %s", r.Raw)
		}
	})
}

// TestImportReadsCustomHeaderWithoutMapping: a header custom.<name>, as
// the export writes it, is read as that custom attribute with no columns
// given: the review shows it mapped to custom.<name> by default and the
// change it makes, and the import sets it (an empty cell leaves a card's
// value as it was).
func TestImportReadsCustomHeaderWithoutMapping(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com")
		e.runFeed("hr")
		ann, bob := e.cardID("ann@example.com"), e.cardID("bob@example.com")
		e.must(200, "PATCH", acme+"/cards/"+bob, map[string]any{"custom": map[string]string{"cost_center": "CC0"}})
		file := "Email,custom.cost_center,Shoe Size\nann@example.com,CC1,38\nbob@example.com,,44\n"

		r := e.must(201, "POST", acme+"/imports", upload("people.csv", []byte(file), map[string]string{"dry_run": "true"}))
		rev := importBody(t, r)
		if rev.Review == nil {
			t.Fatalf("dry run: %s", r.Raw)
		}
		if c := rev.column("custom.cost_center"); c != (ReviewColumn{Column: 2, Header: "custom.cost_center", Target: "custom.cost_center", Kind: "custom", MappedBy: "default"}) {
			t.Fatalf("the custom.cost_center column: %+v", rev.Review.Columns)
		}
		if !slices.Equal(rev.Review.Ignored, []string{"Shoe Size"}) {
			t.Fatalf("ignored %q", rev.Review.Ignored)
		}
		if ch, ok := rev.change("ann@example.com"); !ok || ch.Attributes == nil || ch.Attributes.Custom["cost_center"] != "CC1" ||
			!hasChange(ch.Changes, "custom.cost_center", "", "CC1") {
			t.Fatalf("ann's review: %+v", ch)
		}
		if c := e.card(ann); c.Attributes.Custom != nil {
			t.Fatalf("the dry run changed ann: %+v", c.Attributes)
		}

		e.importFile("people.csv", file, nil)
		if c := e.card(ann); !reflect.DeepEqual(c.Attributes.Custom, map[string]string{"cost_center": "CC1"}) {
			t.Fatalf("ann after the import: %+v", c.Attributes)
		}
		if c := e.card(bob); !reflect.DeepEqual(c.Attributes.Custom, map[string]string{"cost_center": "CC0"}) {
			t.Fatalf("bob after the import: %+v", c.Attributes)
		}
	})
}
