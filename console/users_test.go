package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// usersEnv is a console over a real directory and store, with a signed-in
// session: the users page and its bulk actions as a browser sees them.
// Tenant acme invites by email and declares its roles; tenant gate makes
// every new card wait for approval.
type usersEnv struct {
	t       *testing.T
	ctx     context.Context
	svc     *directory.Service
	clock   *testenv.Clock
	h       http.Handler
	console *Console
	cookie  string
	csrf    string
}

func newUsersEnv(t *testing.T, st store.Backend) *usersEnv {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	acme := directory.DefaultPolicy()
	acme.Roles = []string{"admin", "editor", "viewer"}
	gate := directory.DefaultPolicy()
	gate.Approval = directory.ApprovalNewCards
	svc := directory.NewService(st, map[string]directory.Policy{"acme": acme, "gate": gate}, directory.WithClock(clock.Now))
	c, err := New(Deps{Keys: noKeys{}, Directory: svc, Audit: st, Tenants: StaticTenants{{ID: "acme", Name: "Acme"}, {ID: "gate", Name: "Gate"}},
		Sessions: st, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	e := &usersEnv{t: t, ctx: t.Context(), svc: svc, clock: clock, h: mux, console: c}
	e.signIn(Identity{Name: "ops"})
	return e
}

// signIn gives the env a new session (after the clock passed the
// session's lifetime, or for another identity).
func (e *usersEnv) signIn(who Identity) {
	e.t.Helper()
	id, ses, err := e.console.sessions.create(e.ctx, who)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cookie, e.csrf = id, ses.csrf()
}

type reply struct {
	Status   int
	Location string
	Body     string
}

func (e *usersEnv) do(method, path string, form url.Values) reply {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.AddCookie(&http.Cookie{Name: cookieName, Value: e.cookie})
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return reply{Status: rec.Code, Location: rec.Header().Get("Location"), Body: rec.Body.String()}
}

func (e *usersEnv) must(r reply, status int, what string) reply {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("%s: status %d, want %d\n%s", what, r.Status, status, r.Body)
	}
	return r
}

// add adds people to a tenant as an admin's invite does, and returns
// their card ids in the same order.
func (e *usersEnv) add(tenant string, people ...directory.AdminInput) []string {
	e.t.Helper()
	var ids []string
	for _, p := range people {
		p.Tenant = tenant
		out, err := e.svc.Invite(e.ctx, directory.Actor{Name: "test"}, p)
		if err != nil {
			e.t.Fatalf("adding %s: %v", p.Email, err)
		}
		ids = append(ids, out.Card.ID)
	}
	return ids
}

func (e *usersEnv) card(tenant, id string) directory.Card {
	e.t.Helper()
	c, err := e.svc.Get(e.ctx, tenant, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

var flashText = regexp.MustCompile(`<p class="flash" role="status">([^<]*)</p>`)

// flash follows a form's redirect and reads the message the page shows.
func (e *usersEnv) flash(r reply) string {
	e.t.Helper()
	if r.Status != http.StatusSeeOther {
		e.t.Fatalf("status %d, want a redirect\n%s", r.Status, r.Body)
	}
	page := e.must(e.do("GET", r.Location, nil), http.StatusOK, "the page after the form")
	m := flashText.FindStringSubmatch(page.Body)
	if m == nil {
		e.t.Fatalf("%s shows no message:\n%s", r.Location, page.Body)
	}
	return html.UnescapeString(m[1])
}

var hiddenID = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)

// bulk asks for the bulk action on the ids from the users page at back,
// checks the confirmation's heading, and confirms it with the form's
// hidden ids and args; it returns the answer to the POST.
func (e *usersEnv) bulk(tenant, action string, ids []string, heading string, args url.Values) reply {
	e.t.Helper()
	back := "/console/t/" + tenant + "/users?sort=email"
	q := url.Values{"action": {action}, "id": ids, "back": {back}}
	page := e.must(e.do("GET", "/console/t/"+tenant+"/users/bulk?"+q.Encode(), nil), http.StatusOK, "the confirmation of "+action)
	if !strings.Contains(page.Body, "<h1>"+html.EscapeString(heading)+"</h1>") {
		e.t.Fatalf("the confirmation of %s does not ask %q:\n%s", action, heading, page.Body)
	}
	form := url.Values{"csrf": {e.csrf}, "back": {back}, "action": {action}}
	for _, m := range hiddenID.FindAllStringSubmatch(page.Body, -1) {
		form.Add("id", m[1])
	}
	if got, want := slices.Sorted(slices.Values(form["id"])), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		e.t.Fatalf("the confirmation of %s carries the ids %v, want %v", action, got, want)
	}
	for k, v := range args {
		form[k] = v
	}
	r := e.do("POST", "/console/t/"+tenant+"/users/bulk", form)
	if r.Status == http.StatusSeeOther && r.Location != back {
		e.t.Fatalf("after %s the console goes to %s, want back to %s", action, r.Location, back)
	}
	return r
}

func person(email, given, family string) directory.AdminInput {
	return directory.AdminInput{Email: email, Attributes: directory.Attributes{GivenName: given, FamilyName: family, Role: "viewer"}}
}

// TestBulkActions: each bulk action of the users page asks to confirm
// with the count and the names, applies to exactly the cards confirmed,
// and says what it did and, for each card refused, who and why.
func TestBulkActions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		ids := e.add("acme", person("ann@acme.example", "Ann", "Ash"), person("bob@acme.example", "Bob", "Birch"),
			person("cy@acme.example", "Cy", "Cedar"), person("dee@acme.example", "Dee", "Dogwood"))
		ann, bob, cy, dee := ids[0], ids[1], ids[2], ids[3]
		if _, err := e.svc.RecordLogin(e.ctx, directory.Login{Tenant: "acme", Email: "ann@acme.example", NameID: "ann"}); err != nil {
			t.Fatal(err)
		}

		// The confirmation names them.
		q := url.Values{"action": {"disable"}, "id": {bob, cy}}
		page := e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusOK, "the confirmation")
		for _, want := range []string{"Bob Birch", "bob@acme.example", "Cy Cedar", `<input id="reason" name="reason" type="text" required`} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("the confirmation of disabling two has no %q", want)
			}
		}
		if strings.Contains(page.Body, "Ann Ash") {
			t.Error("the confirmation names a person not selected")
		}

		r := e.bulk("acme", "disable", []string{bob, cy}, "Disable 2 people?", url.Values{"reason": {"contract ended"}})
		if got := e.flash(r); got != "Disabled 2 people." {
			t.Errorf("after disabling two: %q", got)
		}
		for _, id := range []string{bob, cy} {
			if c := e.card("acme", id); c.Enabled || c.Pin == nil || c.Pin.Reason != "contract ended" || c.Pin.Actor != "console:ops" {
				t.Errorf("card %s after the bulk disable: enabled %v, pin %+v", id, c.Enabled, c.Pin)
			}
		}
		if c := e.card("acme", dee); !c.Enabled {
			t.Error("the bulk disable disabled a card not selected")
		}
		r = e.bulk("acme", "disable", []string{bob, dee}, "Disable 2 people?", url.Values{"reason": {"again"}})
		if got := e.flash(r); got != "Disabled 1 person; 1 unchanged." {
			t.Errorf("disabling one disabled already and one more: %q", got)
		}

		r = e.bulk("acme", "enable", []string{bob, cy, dee}, "Enable 3 people?", nil)
		if got := e.flash(r); got != "Enabled 3 people." {
			t.Errorf("after enabling three: %q", got)
		}
		for _, id := range []string{bob, cy, dee} {
			if c := e.card("acme", id); !c.Enabled || c.Pin != nil {
				t.Errorf("card %s after the bulk enable: enabled %v, pin %+v", id, c.Enabled, c.Pin)
			}
		}

		// The confirmation says, from a dry run, whom it would leave.
		q = url.Values{"action": {"reinvite"}, "id": {ann, bob, cy}}
		page = e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusOK, "the confirmation of re-inviting three")
		if want := "Of these, 2 would change; 1 would not: ann@acme.example — the person has logged in already."; !strings.Contains(html.UnescapeString(page.Body), want) {
			t.Errorf("the confirmation does not say %q:\n%s", want, page.Body)
		}
		before := e.card("acme", bob).Invite.TokenHash
		r = e.bulk("acme", "reinvite", []string{ann, bob, cy}, "Re-invite 3 people?", nil)
		if got := e.flash(r); got != "Re-invited 2 people; 1 not: ann@acme.example — the person has logged in already." {
			t.Errorf("after re-inviting three, one of them signed in: %q", got)
		}
		if after := e.card("acme", bob).Invite; after == nil || after.TokenHash == before {
			t.Error("the re-invite gave no new invite")
		}

		r = e.bulk("acme", "remind", []string{ann, bob}, "Remind 2 people?", nil)
		if got := e.flash(r); got != "Reminded 0 people; 2 not: ann@acme.example — no pending invite to remind of (active); "+
			"bob@acme.example — a reminder went out less than the reminder interval ago." {
			t.Errorf("reminding too soon: %q", got)
		}
		e.clock.Advance(25 * time.Hour)
		e.signIn(Identity{Name: "ops"}) // the session's 12 h are over
		r = e.bulk("acme", "remind", []string{bob, dee}, "Remind 2 people?", nil)
		if got := e.flash(r); got != "Reminded 2 people." {
			t.Errorf("reminding after a day: %q", got)
		}
		if c := e.card("acme", dee); c.Invite == nil || !c.Invite.RemindedAt.Equal(e.clock.Now()) {
			t.Errorf("the reminder is not on the card: %+v", c.Invite)
		}

		r = e.bulk("acme", "set_role", []string{bob, cy}, "Set the role of 2 people?", url.Values{"role": {"Editor"}})
		if got := e.flash(r); got != "Gave 2 people the role editor." {
			t.Errorf("after setting a role: %q", got)
		}
		if c := e.card("acme", bob); c.Attributes.Role != "editor" {
			t.Errorf("bob's role is %q after the bulk set role", c.Attributes.Role)
		}
		if !strings.Contains(e.do("GET", "/console/t/acme/users/bulk?action=set_role&id="+bob, nil).Body, `<option value="editor">editor</option>`) {
			t.Error("the role confirmation does not offer the tenant's roles")
		}
		r = e.bulk("acme", "set_role", []string{bob}, "Set the role of 1 person?", url.Values{"role": {"owner"}})
		e.must(r, http.StatusBadRequest, "a role the tenant does not have")
		if !strings.Contains(r.Body, "no role &#34;owner&#34;") {
			t.Errorf("the refusal of an unknown role does not name it:\n%s", r.Body)
		}

		r = e.bulk("acme", "add_groups", []string{bob, cy}, "Add 2 people to a group?", url.Values{"group": {"navy"}})
		if got := e.flash(r); got != "Added 2 people to the group navy." {
			t.Errorf("after adding to a group: %q", got)
		}
		if c := e.card("acme", cy); !slices.Contains(c.Attributes.Groups, "navy") {
			t.Errorf("cy's groups after the bulk add: %v", c.Attributes.Groups)
		}
		r = e.bulk("acme", "remove_groups", []string{bob, dee}, "Remove 2 people from a group?", url.Values{"group": {"navy"}})
		if got := e.flash(r); got != "Removed 1 person from the group navy; 1 unchanged." {
			t.Errorf("after removing from a group: %q", got)
		}
		if c := e.card("acme", bob); slices.Contains(c.Attributes.Groups, "navy") {
			t.Errorf("bob's groups after the bulk remove: %v", c.Attributes.Groups)
		}

		r = e.bulk("acme", "assign_manager", []string{bob, cy}, "Assign staff to 2 people?", url.Values{"manager": {"dee@acme.example"}})
		if got := e.flash(r); got != "Assigned dee@acme.example as staff to 2 people." {
			t.Errorf("after assigning staff: %q", got)
		}
		if c := e.card("acme", cy); c.Attributes.ManagerEmail != "dee@acme.example" {
			t.Errorf("cy's manager after the bulk assign: %q", c.Attributes.ManagerEmail)
		}
		r = e.bulk("acme", "assign_manager", []string{bob}, "Assign staff to 1 person?", url.Values{"manager": {"not an email"}})
		e.must(r, http.StatusBadRequest, "a staff member without an email")

		// Approval: gate's new cards wait.
		g := e.add("gate", person("eve@gate.example", "Eve", "Elm"), person("fay@gate.example", "Fay", "Fir"), person("gus@gate.example", "Gus", "Gum"))
		if c := e.card("gate", g[0]); directory.StatusOf(c, e.clock.Now()) != directory.PendingApproval {
			t.Fatalf("a new card of gate is %s, want pending approval", directory.StatusOf(c, e.clock.Now()))
		}
		// They have a tab of their own (acme, where nobody waits, has none),
		// and are not counted as enabled.
		page = e.must(e.do("GET", "/console/t/gate/users?status=pending_approval", nil), http.StatusOK, "gate's pending approval")
		if got := idsOnPage(page.Body); len(got) != 3 || !strings.Contains(page.Body, `Pending approval <span class="count">3</span>`) ||
			!strings.Contains(page.Body, `Enabled <span class="count">0</span>`) {
			t.Errorf("gate's pending approval tab shows %d rows, or the tabs count them wrong:\n%s", len(got), page.Body)
		}
		if strings.Contains(e.do("GET", "/console/t/acme/users", nil).Body, "Pending approval") {
			t.Error("acme, where nobody waits for approval, has a pending approval tab")
		}
		r = e.bulk("gate", "approve", g[:2], "Approve 2 people?", nil)
		if got := e.flash(r); got != "Approved 2 people." {
			t.Errorf("after approving two: %q", got)
		}
		if c := e.card("gate", g[0]); directory.StatusOf(c, e.clock.Now()) != directory.InvitePending {
			t.Errorf("an approved card is %s, want invited", directory.StatusOf(c, e.clock.Now()))
		}
		r = e.bulk("gate", "reject", g[1:], "Reject 2 people?", url.Values{"reason": {"not ours"}})
		if got := e.flash(r); got != "Rejected 1 person; 1 not: fay@gate.example — not waiting for approval." {
			t.Errorf("after rejecting one pending and one approved: %q", got)
		}
		if c := e.card("gate", g[2]); c.Enabled || c.Approval == nil || c.Approval.State != store.ApprovalRejected || c.Approval.Reason != "not ours" {
			t.Errorf("the rejected card: enabled %v, approval %+v", c.Enabled, c.Approval)
		}
	})
}

// TestBulkRefusals: a bulk POST without the CSRF token, with another
// session's, or of a read-only key, changes nothing; no action, no selection, an unknown action and a
// missing reason are each said so.
func TestBulkRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		ids := e.add("acme", person("ann@acme.example", "Ann", "Ash"))
		form := url.Values{"action": {"disable"}, "id": ids, "reason": {"x"}, "back": {"/console/t/acme/users"}}
		r := e.must(e.do("POST", "/console/t/acme/users/bulk", form), http.StatusForbidden, "a bulk POST without the CSRF token")
		if !strings.Contains(r.Body, "did not come from this console") {
			t.Errorf("the refusal does not say why:\n%s", r.Body)
		}
		form.Set("csrf", "not-the-token")
		e.must(e.do("POST", "/console/t/acme/users/bulk", form), http.StatusForbidden, "a bulk POST with another token")
		e.signIn(Identity{Name: "auditor", ReadOnly: true})
		form.Set("csrf", e.csrf)
		r = e.must(e.do("POST", "/console/t/acme/users/bulk", form), http.StatusForbidden, "a bulk POST of a read-only key")
		if !strings.Contains(r.Body, "read-only") {
			t.Errorf("the refusal does not say why:\n%s", r.Body)
		}
		if c := e.card("acme", ids[0]); !c.Enabled {
			t.Fatal("a refused bulk POST disabled the card")
		}
		e.signIn(Identity{Name: "ops"})

		back := "/console/t/acme/users?status=provisioned"
		r = e.do("GET", "/console/t/acme/users/bulk?back="+url.QueryEscape(back)+"&id="+ids[0], nil)
		if r.Location != back || e.flash(r) != "Choose what to do with the selected people." {
			t.Errorf("no action: to %q", r.Location)
		}
		r = e.do("GET", "/console/t/acme/users/bulk?action=disable&back="+url.QueryEscape(back), nil)
		if r.Location != back || e.flash(r) != "Select at least one person to disable." {
			t.Errorf("nobody selected: to %q", r.Location)
		}
		r = e.must(e.do("GET", "/console/t/acme/users/bulk?action=delete&id="+ids[0], nil), http.StatusBadRequest, "an unknown action")
		if !strings.Contains(r.Body, "no bulk action &#34;delete&#34;") {
			t.Errorf("the refusal does not name the action:\n%s", r.Body)
		}
		form = url.Values{"csrf": {e.csrf}, "action": {"enable"}, "id": {strings.Repeat("x", 65)}}
		r = e.must(e.do("POST", "/console/t/acme/users/bulk", form), http.StatusBadRequest, "an id that is no card id")
		if !strings.Contains(r.Body, "is not a card id") {
			t.Errorf("the refusal of a bad id does not say so:\n%s", r.Body)
		}
		many := url.Values{"csrf": {e.csrf}, "action": {"enable"}}
		for i := range maxBulk + 1 {
			many.Add("id", fmt.Sprint(i))
		}
		r = e.must(e.do("POST", "/console/t/acme/users/bulk", many), http.StatusBadRequest, "1,001 ids")
		if !strings.Contains(r.Body, "At most 1000 people at once; 1001 are selected.") {
			t.Errorf("the refusal of 1,001 ids does not say so:\n%s", r.Body)
		}
		form = url.Values{"csrf": {e.csrf}, "action": {"disable"}, "id": ids, "reason": {"  "}}
		r = e.must(e.do("POST", "/console/t/acme/users/bulk", form), http.StatusBadRequest, "a disable without a reason")
		if !strings.Contains(r.Body, "Give a reason") {
			t.Errorf("the refusal does not say what is missing:\n%s", r.Body)
		}
		if c := e.card("acme", ids[0]); !c.Enabled {
			t.Fatal("a disable without a reason disabled the card")
		}
	})
}

// addMany adds n people of a role to a tenant (emails prefix001@…), in
// calls of at most directory.MaxPeople.
func (e *usersEnv) addMany(tenant, prefix, role string, n int) {
	e.t.Helper()
	for start := 0; start < n; start += directory.MaxPeople {
		var batch []directory.Person
		for i := start; i < min(n, start+directory.MaxPeople); i++ {
			batch = append(batch, directory.Person{Email: fmt.Sprintf("%s%04d@%s.example", prefix, i, tenant),
				Attributes: directory.Attributes{GivenName: prefix, FamilyName: fmt.Sprint(i), Role: role}})
		}
		out, err := e.svc.InvitePeople(e.ctx, directory.Actor{Name: "test"}, tenant, batch)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				e.t.Fatal(o.Err)
			}
		}
	}
}

// TestBulkAllMatching: when the filter matches more than the page shows,
// the page offers "Select all N matching" with the filter's count; the
// confirmation resolves the filter to its cards then and shows their
// count, and the action applies to exactly them. Above 1,000 the page
// and the confirmation say to narrow the filter or use the admin API.
func TestBulkAllMatching(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		e.addMany("acme", "v", "viewer", 55)
		e.addMany("acme", "a", "admin", 3)

		page := e.must(e.do("GET", "/console/t/acme/users?role=viewer&sort=email", nil), http.StatusOK, "the viewers")
		if !strings.Contains(page.Body, "Select all 55 matching") || !strings.Contains(page.Body, `name="filter" value="role=viewer&amp;sort=email"`) {
			t.Fatalf("a filter of 55 over a page of 50 offers no \"Select all 55 matching\" with the filter:\n%s", page.Body)
		}
		if !strings.Contains(page.Body, "58 in this tab, 55 matching the filters") {
			t.Error("the page does not say how many match the filters")
		}
		if all := e.must(e.do("GET", "/console/t/acme/users?role=admin", nil), http.StatusOK, "the admins"); strings.Contains(all.Body, "Select all") {
			t.Error("a filter that fits on the page offers to select all matching")
		}

		// The page's form: the action, the rows checked, all=matching and
		// the filter; the rows are ignored for the filter.
		q := url.Values{"action": {"set_role"}, "all": {"matching"}, "filter": {"role=viewer&sort=email"}, "id": idsOnPage(page.Body)[:2],
			"back": {"/console/t/acme/users?role=viewer&sort=email"}}
		conf := e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusOK, "the confirmation of all matching")
		if !strings.Contains(conf.Body, "<h1>Set the role of 55 people?</h1>") || !strings.Contains(conf.Body, "All 55 matching the filter: role viewer.") {
			t.Fatalf("the confirmation of all matching:\n%s", conf.Body)
		}
		form := url.Values{"csrf": {e.csrf}, "action": {"set_role"}, "role": {"editor"}, "back": {"/console/t/acme/users"}}
		for _, m := range hiddenID.FindAllStringSubmatch(conf.Body, -1) {
			form.Add("id", m[1])
		}
		if len(form["id"]) != 55 {
			t.Fatalf("the confirmation carries %d ids, want 55", len(form["id"]))
		}
		r := e.do("POST", "/console/t/acme/users/bulk", form)
		if got := e.flash(r); got != "Gave 55 people the role editor." {
			t.Errorf("after setting the role of all matching: %q", got)
		}
		got, err := e.svc.Count(e.ctx, directory.ListQuery{Tenant: "acme", Role: "editor"})
		if err != nil {
			t.Fatal(err)
		}
		if n := sum(got); n != 55 {
			t.Errorf("%d editors after the bulk, want the 55 viewers", n)
		}
		if got, _ := e.svc.Count(e.ctx, directory.ListQuery{Tenant: "acme", Role: "admin"}); sum(got) != 3 {
			t.Errorf("the admins changed too: %d left", sum(got))
		}

		// More than 1,000.
		e.addMany("acme", "m", "viewer", 1000)
		page = e.must(e.do("GET", "/console/t/acme/users?status=invite_pending", nil), http.StatusOK, "1,058 pending")
		if !strings.Contains(page.Body, "All 1058 matching: more than the 1000 the console changes at once") ||
			!strings.Contains(page.Body, "POST /api/v1/tenants/acme/cards/bulk") || strings.Contains(page.Body, `id="all-matching"`) {
			t.Errorf("a filter of 1,058 does not say to narrow it or use the admin API:\n%s", page.Body)
		}
		// Narrowed by another filter, the count stops past 1,000 (a page
		// over a million cards counts no further).
		page = e.must(e.do("GET", "/console/t/acme/users?status=invite_pending&q=example", nil), http.StatusOK, "1,058 pending, searched")
		if !strings.Contains(page.Body, "more than 1000 matching the filters") ||
			!strings.Contains(page.Body, "More than 1000 matching: more than the 1000 the console changes at once") {
			t.Errorf("a narrowed filter of 1,058 does not say more than 1,000:\n%s", page.Body)
		}
		q = url.Values{"action": {"enable"}, "all": {"matching"}, "filter": {"status=invite_pending"}}
		r = e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusBadRequest, "all 1,058 matching")
		if !strings.Contains(r.Body, "more than 1000 people") || !strings.Contains(r.Body, "/api/v1/tenants/acme/cards/bulk") {
			t.Errorf("the refusal of 1,058 does not point to the admin API:\n%s", r.Body)
		}
		q.Set("filter", "colour=red")
		r = e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusBadRequest, "a filter with an unknown parameter")
		if !strings.Contains(r.Body, "&#34;colour&#34;") {
			t.Errorf("the refusal does not name the parameter:\n%s", r.Body)
		}
	})
}

var rowID = regexp.MustCompile(`type="checkbox" name="id" value="([^"]+)"`)

func idsOnPage(body string) []string {
	var out []string
	for _, m := range rowID.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func sum(m map[directory.Status]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestUsersFilters: the users page filters by group, assigned staff,
// assigned or not, and source, each in the filter form; the table shows
// each card's assigned staff; a bad value or an unknown parameter is the
// error page naming it; a bulk action on all matching says the filter.
func TestUsersFilters(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		add := func(email, given, manager string, groups ...string) string {
			p := person(email, given, "Test")
			p.Attributes.ManagerEmail, p.Attributes.Groups = manager, groups
			return e.add("acme", p)[0]
		}
		boss := add("boss@acme.example", "Boss", "", "leads")
		ann := add("ann@acme.example", "Ann", "boss@acme.example", "navy", "research")
		bob := add("bob@acme.example", "Bob", "boss@acme.example", "research")
		cy := add("cy@acme.example", "Cy", "", "navy")
		out, err := e.svc.ApplyClaim(e.ctx, directory.Actor{Name: "file:hr"}, directory.ClaimInput{Tenant: "acme", Source: "file:hr",
			Email: "hr@acme.example", State: store.Present, Authoritative: true, Attributes: directory.Attributes{GivenName: "Hal"}})
		if err != nil {
			t.Fatal(err)
		}
		hal := out.Card.ID

		rows := func(query string) []string {
			t.Helper()
			page := e.must(e.do("GET", "/console/t/acme/users?"+query, nil), http.StatusOK, query)
			got := idsOnPage(page.Body)
			slices.Sort(got)
			return got
		}
		sorted := func(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"group=navy", sorted(ann, cy)},
			{"group=NAVY&manager=boss%40acme.example", sorted(ann)},
			{"manager=Boss%40Acme.example", sorted(ann, bob)},
			{"assigned=yes", sorted(ann, bob)},
			{"assigned=no", sorted(boss, cy, hal)},
			{"source=file%3Ahr", sorted(hal)},
			{"source=admin&assigned=no", sorted(boss, cy)},
			{"group=&manager=&assigned=&source=", sorted(boss, ann, bob, cy, hal)},
		} {
			if got := rows(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("%s shows %v, want %v", tc.query, got, tc.want)
			}
		}

		page := e.must(e.do("GET", "/console/t/acme/users?group=navy&manager=boss%40acme.example&assigned=yes&source=admin", nil), http.StatusOK, "four filters")
		for _, want := range []string{`id="group" name="group" type="text" value="navy"`, `id="manager" name="manager" type="email" value="boss@acme.example"`,
			`<option value="yes" selected>Assigned</option>`, `id="source" name="source" type="text" value="admin"`,
			`<th scope="col">Assigned staff</th>`, `<td>boss@acme.example</td>`} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("the filtered page has no %s", want)
			}
		}

		for query, name := range map[string]string{"assigned=maybe": "maybe", "manager=boss": "boss", "team=navy": "team", "group=a&group=b": "group"} {
			r := e.must(e.do("GET", "/console/t/acme/users?"+query, nil), http.StatusBadRequest, query)
			if !strings.Contains(r.Body, "&#34;"+name+"&#34;") && !strings.Contains(r.Body, name+" is given 2 times") {
				t.Errorf("%s: the refusal does not name %q:\n%s", query, name, r.Body)
			}
		}

		q := url.Values{"action": {"add_groups"}, "all": {"matching"}, "filter": {"group=navy&assigned=no"}}
		conf := e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusOK, "all matching two filters")
		if !strings.Contains(conf.Body, "All 1 matching the filter: group navy, no assigned staff.") || !strings.Contains(conf.Body, cy) {
			t.Errorf("the confirmation does not say the filter, or not Cy:\n%s", conf.Body)
		}
	})
}
