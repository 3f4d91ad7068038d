package consoletest

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
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
	a := c.do("GET", "/console/t/acme/users/disable?back=%2Fconsole%2Ft%2Facme%2Fusers%3Fstatus%3Dprovisioned", nil)
	must(t, a, http.StatusSeeOther, "disable with nobody selected")
	if a.Location != "/console/t/acme/users?status=provisioned" {
		t.Fatalf("disable with nobody selected goes to %q, want back to the list", a.Location)
	}
	page := c.do("GET", a.Location, nil)
	if !strings.Contains(page.Body, "Select at least one person to disable.") {
		t.Errorf("the list does not say why nothing happened:\n%s", page.Body)
	}
	tok := c.csrf("/console/t/acme/users")
	for _, p := range []string{"/console/t/acme/users/disable", "/console/t/acme/cards/" + cards[0].ID + "/disable"} {
		a := c.do("POST", p, url.Values{"csrf": {tok}, "id": {cards[0].ID}, "reason": {"  "}})
		must(t, a, http.StatusBadRequest, p+" without a reason")
		if !strings.Contains(a.Body, "Give a reason") {
			t.Errorf("%s: the refusal does not say what is missing:\n%s", p, a.Body)
		}
	}
	if got := getCard(t, r, "acme", cards[0].ID); !got.Enabled {
		t.Fatalf("a disable without a reason disabled the card: %+v", got)
	}
}
