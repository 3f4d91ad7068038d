package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Sign-in with SSO: a customer's admin gives their work email; the tenant
// that holds its domain and has SAML signs them in through rosterd's own
// SP (Deps.SAML), and the SP hands the login back (ConsoleLogin). A card
// whose role is admin gets a console session for that tenant only; any
// other role is refused. Operators sign in with an admin key: there is no
// operators' tenant yet whose admins would reach every tenant.

// Domains finds the live tenant that holds an email domain
// (*tenant.Registry).
type Domains interface {
	ByDomain(domain string) (*tenant.Tenant, bool)
}

// consoleRole is the role a card needs to sign in to the console.
const consoleRole = "admin"

func (c *Console) ssoEnabled() bool {
	return c.deps.SAML != nil && c.deps.Domains != nil && c.deps.Connections != nil
}

type ssoView struct {
	TenantName string
	StartURL   string
}

// ssoFind: POST /console/sso (email) — finds the organization of a work
// email, and offers to continue to its IdP. (A link, not the form's own
// redirect: the CSP's form-action 'self' stops a form's way to the IdP.
// A POST: the email stays out of the address bar and the history.)
func (c *Console) ssoFind(w http.ResponseWriter, r *http.Request) {
	if !c.ssoEnabled() {
		c.errorPage(w, r, http.StatusNotFound, "Sign-in with SSO is not available in this rosterd.")
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	next := safeNext(r.PostForm.Get("next"))
	refuse := func(msg string) {
		c.render(w, r, http.StatusOK, "signin", "Sign in", signInView{Next: next, SSO: true, SSOEmail: email, SSOError: msg})
	}
	_, norm, err := directory.NormalizeEmail(email)
	if err != nil {
		refuse("Enter your work email, like ann@example.com.")
		return
	}
	domain := norm[strings.LastIndexByte(norm, '@')+1:]
	t, ok := c.deps.Domains.ByDomain(domain)
	if ok {
		_, ok = t.SAML()
	}
	if !ok || t.Retired() {
		refuse(fmt.Sprintf("No organization signs in with SSO for @%s here. Sign in with an admin key, or ask your platform's operators.", domain))
		return
	}
	name := t.Name()
	if name == "" {
		name = t.ID()
	}
	start := Prefix + "/sso/start?tenant=" + url.QueryEscape(t.ID())
	if next != Prefix+"/" {
		start += "&next=" + url.QueryEscape(next)
	}
	c.render(w, r, http.StatusOK, "sso", "Sign in with SSO", ssoView{TenantName: name, StartURL: start})
}

// The sign-ins with SSO one source (an address, an IPv6 /64) may start
// from browsers with no stored session: a burst of 30, then one every
// 2 s; at most 10,000 sources remembered. Behind a reverse proxy the
// source is the proxy, shared by everyone, which is why the burst is
// generous: a console is for a few admins of each organization.
const (
	ssoStartBurst   = 30
	ssoStartEvery   = 2 * time.Second
	ssoStartSources = 10_000
)

// ssoStart: GET /console/sso/start?tenant=&next= — sends the browser to
// the tenant's IdP, the session waiting for the login and keeping next
// (checked by safeNext here and again at the end) for after it.
func (c *Console) ssoStart(w http.ResponseWriter, r *http.Request) {
	if !c.ssoEnabled() {
		c.errorPage(w, r, http.StatusNotFound, "Sign-in with SSO is not available in this rosterd.")
		return
	}
	// Each start stores a session for a browser that has none yet; a
	// source that starts too many is asked to wait.
	if ses := sessionOf(r); (ses == nil || ses.unsaved) && !c.ssoStarts.Allow("", r.RemoteAddr) {
		w.Header().Set("Retry-After", strconv.Itoa(int(ssoStartEvery/time.Second)))
		c.errorPage(w, r, http.StatusTooManyRequests, "Too many sign-ins were started from your network just now. Wait a moment, then sign in again.")
		return
	}
	id := r.URL.Query().Get("tenant")
	t, err := c.deps.Connections.Get(r.Context(), id)
	if err == nil {
		if _, ok := t.SAML(); !ok {
			err = tenant.ErrNotFound
		}
	}
	if err != nil {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no organization %q that signs in with SSO.", id))
		return
	}
	nonce, err := c.sessions.expect(r.Context(), sessionOf(r), pendingSignIn, t.ID(), safeNext(r.URL.Query().Get("next")))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.deps.SAML.StartLogin(w, r, t.ID(), signInPurpose+nonce)
}

// ssoDone: GET /console/sso/done — the login the SP handed back: a new
// session (a new id) for an admin of the tenant, sent to the page the
// sign-in started for (ssoNext).
func (c *Console) ssoDone(w http.ResponseWriter, r *http.Request) {
	ses := sessionOf(r)
	p, ok := c.sessions.take(r.Context(), ses, pendingSignIn)
	if !ok || p.Card == nil {
		c.errorPage(w, r, http.StatusBadRequest, "There is no sign-in to finish in this browser: sign in again.")
		return
	}
	card := *p.Card
	if !strings.EqualFold(card.Attributes.Role, consoleRole) {
		c.deps.Logger.Info("console sso sign-in refused: not an admin", "tenant", card.Tenant, "card", card.ID)
		c.errorPage(w, r, http.StatusForbidden, "You signed in, but the console is for your organization's admins, and your role is not admin. Ask an admin if you need to be one.")
		return
	}
	id, ns, err := c.sessions.rotate(r.Context(), ses, Identity{Name: card.Email, Tenant: card.Tenant, CardID: card.ID})
	if err != nil {
		c.deps.Logger.Error("console sso sign-in: starting the session failed", "err", err)
		http.Error(w, "the console cannot start a session; try again later", http.StatusServiceUnavailable)
		return
	}
	c.setCookie(w, id)
	c.deps.Logger.Info("console sso sign-in", "tenant", card.Tenant, "card", card.ID)
	c.sessions.setFlash(r.Context(), ns, "Signed in as "+card.Email+".")
	http.Redirect(w, r, ssoNext(p.Next, card.Tenant), http.StatusSeeOther)
}

// ssoNext is where an SSO sign-in for tenant ends: next, when safeNext
// lets it through and it is not a page of another tenant (which the new
// session may not open); else the tenant's users, the page an admin of
// one tenant starts from.
func ssoNext(next, tenant string) string {
	n := safeNext(next)
	home := tenantURL(tenant) + "/users"
	if n == Prefix+"/" {
		return home
	}
	u, err := url.Parse(n)
	if err != nil {
		return home
	}
	if rest, ok := strings.CutPrefix(u.Path, Prefix+"/t/"); ok {
		if id, _, _ := strings.Cut(rest, "/"); id != tenant {
			return home
		}
	}
	return n
}

// stillAdmin checks, on every request of a person signed in with SSO,
// that their card is still enabled and still an admin's: a person
// disabled or given another role loses the console at once, not at the
// session's end. Otherwise the session ends and stillAdmin answers.
func (c *Console) stillAdmin(w http.ResponseWriter, r *http.Request, who Identity) bool {
	card, err := c.deps.Directory.Get(r.Context(), who.Tenant, who.CardID)
	if err == nil && card.Enabled && strings.EqualFold(card.Attributes.Role, consoleRole) {
		return true
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, err)
		return false
	}
	c.deps.Logger.Info("console: an SSO session ended, the card is no longer an enabled admin", "tenant", who.Tenant, "card", who.CardID)
	if err := c.sessions.end(r.Context(), sessionOf(r)); err != nil {
		c.fail(w, r, err)
		return false
	}
	c.clearCookie(w)
	c.errorPage(w, r, http.StatusUnauthorized, "Your session has ended: your account is no longer an enabled admin of this organization.")
	return false
}
