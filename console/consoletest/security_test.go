package consoletest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCSRFRefused: a form POST without the session's CSRF token, with a
// wrong one, or with another session's, changes nothing and is refused.
func TestCSRFRefused(t *testing.T) {
	r := startRosterd(t, false)
	cards := seed(t, r, "acme", emails("csrf", 1)...)
	id := cards[0].ID
	path := "/console/t/acme/cards/" + id + "/disable"

	c := newClient(t, r)
	c.signIn(adminKey)
	good := c.csrf("/console/t/acme/cards/" + id)

	other := newClient(t, r)
	other.signIn(adminKey)
	othersToken := other.csrf("/console/t/acme/users")
	if othersToken == good {
		t.Fatalf("two sessions share the CSRF token %q", good)
	}

	for name, form := range map[string]url.Values{
		"no token":                {"reason": {"forged"}},
		"empty token":             {"reason": {"forged"}, "csrf": {""}},
		"wrong token":             {"reason": {"forged"}, "csrf": {strings.Repeat("A", len(good))}},
		"another session's":       {"reason": {"forged"}, "csrf": {othersToken}},
		"token in the query only": nil,
	} {
		p := path
		if form == nil {
			p += "?csrf=" + url.QueryEscape(good)
			form = url.Values{"reason": {"forged"}}
		}
		a := c.do("POST", p, form)
		must(t, a, http.StatusForbidden, name)
		if !strings.Contains(a.Body, "did not come from this console") {
			t.Errorf("%s: the refusal does not say why:\n%s", name, a.Body)
		}
	}
	if got := getCard(t, r, "acme", id); !got.Enabled {
		t.Fatalf("a refused form disabled the card: %+v", got)
	}
	// The same form with the token works: the refusals were the token's.
	a := c.do("POST", path, url.Values{"reason": {"left"}, "csrf": {good}})
	must(t, a, http.StatusSeeOther, "with the token")
	if got := getCard(t, r, "acme", id); got.Enabled {
		t.Fatalf("the form with the token did not disable the card: %+v", got)
	}
	// Sign-in itself needs the token (no login CSRF).
	anon := newClient(t, r)
	must(t, anon.do("POST", "/console/sign-in", url.Values{"key": {adminKey}}), http.StatusForbidden, "sign-in without a token")
}

// TestSessionRotatesAtSignIn: the id a browser holds before sign-in is
// not the one it holds after, and the old one signs nobody in (session
// fixation); sign-out ends the session.
func TestSessionRotatesAtSignIn(t *testing.T) {
	r := startRosterd(t, false)
	c := newClient(t, r)
	tok := c.csrf("/console/sign-in")
	before := c.sessionID()
	if before == "" {
		t.Fatal("the sign-in page set no session cookie")
	}
	must(t, c.do("POST", "/console/sign-in", url.Values{"csrf": {tok}, "key": {adminKey}}), http.StatusSeeOther, "sign-in")
	after := c.sessionID()
	if after == "" || after == before {
		t.Fatalf("the session id did not change at sign-in: before %q, after %q", before, after)
	}
	must(t, c.do("GET", "/console/t/acme/users", nil), http.StatusOK, "the users page, signed in")

	// An attacker who planted (or kept) the id from before sign-in.
	planted := newClient(t, r)
	u, _ := url.Parse(r.URL + "/console/")
	planted.http.Jar.SetCookies(u, []*http.Cookie{{Name: "rosterd_console", Value: before, Path: "/console"}})
	a := planted.do("GET", "/console/t/acme/users", nil)
	must(t, a, http.StatusSeeOther, "the users page with the id from before sign-in")
	if !strings.HasPrefix(a.Location, "/console/sign-in") {
		t.Fatalf("the pre-sign-in id reached the users page (redirect to %q)", a.Location)
	}

	// Sign-out: the id is worth nothing afterwards.
	tok = c.csrf("/console/t/acme/users")
	must(t, c.do("POST", "/console/sign-out", url.Values{"csrf": {tok}}), http.StatusSeeOther, "sign-out")
	kept := newClient(t, r)
	kept.http.Jar.SetCookies(u, []*http.Cookie{{Name: "rosterd_console", Value: after, Path: "/console"}})
	must(t, kept.do("GET", "/console/t/acme/users", nil), http.StatusSeeOther, "the users page with the signed-out id")

	// A wrong key signs nobody in and says so.
	w := newClient(t, r)
	tok = w.csrf("/console/sign-in")
	a = w.do("POST", "/console/sign-in", url.Values{"csrf": {tok}, "key": {"rsk_not_a_key"}})
	must(t, a, http.StatusUnauthorized, "sign-in with a wrong key")
	if !strings.Contains(a.Body, "not valid") {
		t.Errorf("the refused sign-in does not say why:\n%s", a.Body)
	}
}

// TestTenantKeyStaysInItsTenant: a key bound to one tenant opens that
// tenant's pages and no other's, reading or writing.
func TestTenantKeyStaysInItsTenant(t *testing.T) {
	r := startRosterd(t, false)
	acme := seed(t, r, "acme", emails("acme", 1)...)
	seed(t, r, "globex", "g@globex.example")
	key := r.CreateAPIKey(t, "globex-ops", "--tenant", "globex")

	c := newClient(t, r)
	c.signIn(key)
	a := c.do("GET", "/console/", nil)
	must(t, a, http.StatusSeeOther, "the tenant list")
	if a.Location != "/console/t/globex/users" {
		t.Fatalf("a globex key's tenant list goes to %q, want its own tenant", a.Location)
	}
	must(t, c.do("GET", "/console/t/globex/users", nil), http.StatusOK, "its own tenant")
	for _, p := range []string{"/console/t/acme/users", "/console/t/acme/cards/" + acme[0].ID, "/console/t/acme/users/bulk?action=disable&id=" + acme[0].ID} {
		a := c.do("GET", p, nil)
		must(t, a, http.StatusForbidden, p)
		if strings.Contains(a.Body, "acme01@acme.example") {
			t.Fatalf("%s: the refusal shows another tenant's person", p)
		}
	}
	tok := c.csrf("/console/t/globex/users")
	must(t, c.do("POST", "/console/t/acme/cards/"+acme[0].ID+"/disable", url.Values{"csrf": {tok}, "reason": {"x"}}), http.StatusForbidden, "disable in another tenant")
	must(t, c.do("POST", "/console/t/acme/users/bulk", url.Values{"csrf": {tok}, "action": {"disable"}, "reason": {"x"}, "id": {acme[0].ID}}),
		http.StatusForbidden, "bulk disable in another tenant")
	if got := getCard(t, r, "acme", acme[0].ID); !got.Enabled {
		t.Fatalf("a globex key disabled an acme card: %+v", got)
	}
}

// TestReadOnlyKeyOnlyReads: a read-only key opens the pages and changes
// nothing.
func TestReadOnlyKeyOnlyReads(t *testing.T) {
	r := startRosterd(t, false)
	cards := seed(t, r, "acme", emails("ro", 1)...)
	key := r.CreateAPIKey(t, "auditor", "--read-only")
	c := newClient(t, r)
	c.signIn(key)
	tok := c.csrf("/console/t/acme/cards/" + cards[0].ID)
	a := c.do("POST", "/console/t/acme/cards/"+cards[0].ID+"/disable", url.Values{"csrf": {tok}, "reason": {"x"}})
	must(t, a, http.StatusForbidden, "disable with a read-only key")
	if !strings.Contains(a.Body, "read-only") {
		t.Errorf("the refusal does not say why:\n%s", a.Body)
	}
	if got := getCard(t, r, "acme", cards[0].ID); !got.Enabled {
		t.Fatalf("a read-only key disabled a card: %+v", got)
	}
}

// TestSessionSurvivesRestart: the sessions are in the store, so a
// browser signed in before a restart of rosterd is signed in after it,
// with the same CSRF token; signed out, its old cookie opens nothing.
func TestSessionSurvivesRestart(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			r := startRosterd(t, backend == "postgres")
			c := newClient(t, r)
			c.signIn(adminKey)
			tok := c.csrf("/console/t/acme/users")
			id := c.sessionID()

			r.Restart(t)
			a := c.do("GET", "/console/t/acme/users", nil)
			must(t, a, http.StatusOK, "the users page after a restart")
			if c.sessionID() != id || !strings.Contains(a.Body, `name="csrf" value="`+tok+`"`) {
				t.Fatal("after a restart the browser has another session")
			}
			must(t, c.do("POST", "/console/sign-out", url.Values{"csrf": {tok}}), http.StatusSeeOther, "signing out")

			r.Restart(t)
			stale := newClient(t, r)
			u, _ := url.Parse(r.URL + "/console/")
			stale.http.Jar.SetCookies(u, []*http.Cookie{{Name: "rosterd_console", Value: id}})
			a = stale.do("GET", "/console/t/acme/users", nil)
			if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Location, "/console/sign-in") {
				t.Fatalf("the cookie of a session signed out before a restart: %d %s", a.Status, a.Location)
			}
		})
	}
}
