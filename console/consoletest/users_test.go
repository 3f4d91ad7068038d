package consoletest

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/browsertest"
)

var (
	rowBox   = regexp.MustCompile(`type="checkbox" name="id" value="([^"]+)"`)
	nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// TestUsersPaging: the users page shows 50 cards and a cursor link to the
// next 50; following it shows the rest, none twice, and a way back to
// the first page. An unknown parameter is refused by name.
func TestUsersPaging(t *testing.T) {
	r := startRosterd(t, false)
	cards := seed(t, r, "acme", emails("page", 55)...)
	c := newClient(t, r)
	c.signIn(adminKey)

	first := c.do("GET", "/console/t/acme/users", nil)
	must(t, first, http.StatusOK, "the first page")
	ids := idsOf(first.Body)
	if len(ids) != 50 {
		t.Fatalf("the first page shows %d cards, want 50", len(ids))
	}
	m := nextLink.FindStringSubmatch(first.Body)
	if m == nil {
		t.Fatal("the first page of 55 cards has no next-page link")
	}
	second := c.do("GET", html.UnescapeString(m[1]), nil)
	must(t, second, http.StatusOK, "the second page")
	rest := idsOf(second.Body)
	if len(rest) != 5 || nextLink.MatchString(second.Body) || !strings.Contains(second.Body, ">First page</a>") {
		t.Fatalf("the second page shows %d cards (want 5), next link %v, first-page link %v",
			len(rest), nextLink.MatchString(second.Body), strings.Contains(second.Body, ">First page</a>"))
	}
	all := append(ids, rest...)
	var want []string
	for _, c := range cards {
		want = append(want, c.ID)
	}
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("the two pages show %d distinct cards of %d", len(slices.Compact(all)), len(want))
	}

	a := c.do("GET", "/console/t/acme/users?order=name", nil)
	must(t, a, http.StatusBadRequest, "an unknown parameter")
	if !strings.Contains(a.Body, "&#34;order&#34;") {
		t.Errorf("the refusal does not name the parameter:\n%s", a.Body)
	}
	a = c.do("GET", "/console/t/acme/users?status=gone", nil)
	must(t, a, http.StatusBadRequest, "an unknown status")
	if !strings.Contains(a.Body, "&#34;gone&#34;") {
		t.Errorf("the refusal does not name the status:\n%s", a.Body)
	}
}

func idsOf(body string) []string {
	var out []string
	for _, m := range rowBox.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDisableNeedsSelectionAndReason: asking to disable nobody goes back
// with a message; a disable without a reason is refused and changes
// nothing.
func TestDisableNeedsSelectionAndReason(t *testing.T) {
	r := startRosterd(t, false)
	cards := seed(t, r, "acme", emails("reason", 1)...)
	c := newClient(t, r)
	c.signIn(adminKey)
	a := c.do("GET", "/console/t/acme/users/bulk?action=disable&back=%2Fconsole%2Ft%2Facme%2Fusers%3Fstatus%3Dprovisioned", nil)
	must(t, a, http.StatusSeeOther, "disable with nobody selected")
	if a.Location != "/console/t/acme/users?status=provisioned" {
		t.Fatalf("disable with nobody selected goes to %q, want back to the list", a.Location)
	}
	page := c.do("GET", a.Location, nil)
	if !strings.Contains(page.Body, "Select at least one person to disable.") {
		t.Errorf("the list does not say why nothing happened:\n%s", page.Body)
	}
	tok := c.csrf("/console/t/acme/users")
	for _, p := range []string{"/console/t/acme/users/bulk", "/console/t/acme/cards/" + cards[0].ID + "/disable"} {
		a := c.do("POST", p, url.Values{"csrf": {tok}, "action": {"disable"}, "id": {cards[0].ID}, "reason": {"  "}})
		must(t, a, http.StatusBadRequest, p+" without a reason")
		if !strings.Contains(a.Body, "Give a reason") {
			t.Errorf("%s: the refusal does not say what is missing:\n%s", p, a.Body)
		}
	}
	if got := getCard(t, r, "acme", cards[0].ID); !got.Enabled {
		t.Fatalf("a disable without a reason disabled the card: %+v", got)
	}
}

// TestUsersRoleFilterAndSort: the role filter keeps the cards of that
// role; the sort orders the rows, and paging keeps both; an unknown sort
// is refused by name.
func TestUsersRoleFilterAndSort(t *testing.T) {
	r := startRosterd(t, false)
	cards := seedPeople(t, r, "acme", staff)
	c := newClient(t, r)
	c.signIn(adminKey)

	byID := map[string]person{}
	for i, card := range cards {
		byID[card.ID] = staff[i]
	}
	a := c.do("GET", "/console/t/acme/users?role=editor", nil)
	must(t, a, http.StatusOK, "the role filter")
	var roles []string
	for _, id := range idsOf(a.Body) {
		roles = append(roles, byID[id].Role)
	}
	if strings.Join(roles, ",") != "editor,editor" {
		t.Fatalf("role=editor shows the roles %v, want the two editors", roles)
	}
	if !strings.Contains(a.Body, `id="role" name="role" type="text" value="editor"`) {
		t.Error("the role field does not show the filter")
	}

	a = c.do("GET", "/console/t/acme/users?sort=name", nil)
	must(t, a, http.StatusOK, "sorted by name")
	var families []string
	for _, id := range idsOf(a.Body) {
		families = append(families, byID[id].Family)
	}
	want := slices.Clone(families)
	slices.Sort(want)
	if len(families) != len(staff) || !slices.Equal(families, want) {
		t.Fatalf("sort=name shows %v, want them by family name", families)
	}
	a = c.do("GET", "/console/t/acme/users?sort=-name&role=viewer", nil)
	must(t, a, http.StatusOK, "sorted by name, descending, of a role")
	families = nil
	for _, id := range idsOf(a.Body) {
		families = append(families, byID[id].Family)
	}
	if strings.Join(families, ",") != "Turing,Liskov,Knuth,Johnson" {
		t.Fatalf("sort=-name&role=viewer shows %v", families)
	}
	if !strings.Contains(a.Body, `<option value="-name" selected>`) {
		t.Error("the sort menu does not show the order")
	}
	a = c.do("GET", "/console/t/acme/users?sort=shoe_size", nil)
	must(t, a, http.StatusBadRequest, "an unknown sort")
	if !strings.Contains(a.Body, "&#34;shoe_size&#34;") {
		t.Errorf("the refusal does not name the sort:\n%s", a.Body)
	}
}

// TestAddPersonRefusals: the Add person form refuses a bad email with the
// form again and the problem, and adds nobody; a form without the CSRF
// token and a read-only key's form are refused.
func TestAddPersonRefusals(t *testing.T) {
	r := startRosterd(t, false)
	c := newClient(t, r)
	c.signIn(adminKey)
	tok := c.csrf("/console/t/acme/users/new")
	a := c.do("POST", "/console/t/acme/users/new", url.Values{"csrf": {tok}, "given_name": {"Bad"}, "email": {"not-an-email"}})
	must(t, a, http.StatusOK, "a bad email")
	if !strings.Contains(a.Body, "The email &#34;not-an-email&#34; is not valid") || !strings.Contains(a.Body, `value="Bad"`) {
		t.Errorf("the refusal does not say what is wrong, or drops what was typed:\n%s", a.Body)
	}
	must(t, c.do("POST", "/console/t/acme/users/new", url.Values{"email": {"eve@acme.example"}}), http.StatusForbidden, "no CSRF token")

	ro := newClient(t, r)
	ro.signIn(r.CreateAPIKey(t, "auditor", "--read-only"))
	rtok := ro.csrf("/console/t/acme/users/new")
	must(t, ro.do("POST", "/console/t/acme/users/new", url.Values{"csrf": {rtok}, "email": {"eve@acme.example"}}), http.StatusForbidden, "a read-only key")
	if cards := listCards(t, r, "acme"); len(cards) != 0 {
		t.Fatalf("refused forms added %d people", len(cards))
	}
	a = c.do("POST", "/console/t/acme/users/new", url.Values{"csrf": {tok}, "given_name": {"Eve"}, "family_name": {"Ok"}, "email": {"eve@acme.example"}, "role": {"viewer"}})
	must(t, a, http.StatusSeeOther, "a good form")
	if cards := listCards(t, r, "acme"); len(cards) != 1 || cards[0].Email != "eve@acme.example" || !strings.HasSuffix(a.Location, "/cards/"+cards[0].ID) {
		t.Fatalf("after the good form: %+v, sent to %s", cards, a.Location)
	}
}

// TestRemindEvery24Hours: a pending invite's card says when its reminder
// is available (the tenant's 24 h), and a reminder asked for too soon
// says when the next is; where the interval has passed, the card offers
// the reminder and sends it.
func TestRemindEvery24Hours(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: `admin_keys: [{name: ops, key: ` + adminKey + `}]
tenants:
  - id: acme
    name: Acme Inc.
  - id: quick
    name: Quick
    reminder_interval: 1s
`})
	c := newClient(t, r)
	c.signIn(adminKey)
	for _, tc := range []struct{ tenant, email string }{{"acme", "pat@acme.example"}, {"quick", "quin@quick.example"}} {
		tok := c.csrf("/console/t/" + tc.tenant + "/users/new")
		a := c.do("POST", "/console/t/"+tc.tenant+"/users/new", url.Values{"csrf": {tok}, "email": {tc.email}})
		must(t, a, http.StatusSeeOther, "adding "+tc.email)
		card := c.do("GET", a.Location, nil)
		switch tc.tenant {
		case "acme":
			if !strings.Contains(card.Body, "A reminder is available in 24 h.") || strings.Contains(card.Body, `action="`+a.Location+`/remind"`) {
				t.Fatalf("a fresh invite's card does not say the reminder waits 24 h:\n%s", card.Body)
			}
			b := c.do("POST", a.Location+"/remind", url.Values{"csrf": {tok}})
			must(t, b, http.StatusSeeOther, "a reminder too soon")
			if page := c.do("GET", b.Location, nil); !strings.Contains(page.Body, "No reminder sent: one went out less than the reminder interval ago. The next is available in 24 h.") {
				t.Fatalf("a reminder too soon does not say when the next is:\n%s", page.Body)
			}
		case "quick":
			time.Sleep(1100 * time.Millisecond)
			card = c.do("GET", a.Location, nil)
			if !strings.Contains(card.Body, `action="`+a.Location+`/remind"`) {
				t.Fatalf("past the interval the card offers no reminder:\n%s", card.Body)
			}
			b := c.do("POST", a.Location+"/remind", url.Values{"csrf": {tok}})
			must(t, b, http.StatusSeeOther, "a reminder")
			if page := c.do("GET", b.Location, nil); !strings.Contains(page.Body, "Reminder sent.") {
				t.Fatalf("the reminder does not say it was sent:\n%s", page.Body)
			}
		}
	}
}
