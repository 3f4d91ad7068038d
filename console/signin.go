package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/rosterd/rosterd/store"
)

type signInView struct {
	Next      string
	Error     string
	SignedOut bool
	// SSO offers sign-in with SSO by work email.
	SSO                bool
	SSOEmail, SSOError string
}

// signInPage: GET /console/sign-in — the admin key form.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if identityOf(r).SignedIn() {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "signin", "Sign in", signInView{Next: safeNext(r.URL.Query().Get("next")),
		SignedOut: r.URL.Query().Get("signed_out") != "", SSO: c.ssoEnabled()})
}

// signIn: POST /console/sign-in — checks the key, and starts a new session
// (a new id) for it.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	secret := strings.TrimSpace(r.PostForm.Get("key"))
	if secret == "" {
		c.render(w, r, http.StatusBadRequest, "signin", "Sign in", signInView{Next: next, Error: "Enter an admin API key.", SSO: c.ssoEnabled()})
		return
	}
	key, err := c.deps.Keys.Check(r.Context(), store.AdminKey, secret)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.deps.Logger.Warn("console sign-in: checking the key failed", "err", err)
		} else {
			c.deps.Logger.Info("console sign-in refused: unknown admin key")
		}
		c.render(w, r, http.StatusUnauthorized, "signin", "Sign in", signInView{Next: next, Error: "That admin API key is not valid.", SSO: c.ssoEnabled()})
		return
	}
	id, ses, err := c.sessions.rotate(r.Context(), sessionOf(r), Identity{Name: key.Name, Tenant: key.Tenant, ReadOnly: key.ReadOnly})
	if err != nil {
		c.deps.Logger.Error("console sign-in: starting the session failed", "err", err)
		http.Error(w, "the console cannot start a session; try again later", http.StatusServiceUnavailable)
		return
	}
	c.setCookie(w, id)
	c.deps.Logger.Info("console sign-in", "key", key.Name, "tenant", key.Tenant)
	c.sessions.setFlash(r.Context(), ses, "Signed in as "+key.Name+".")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut: POST /console/sign-out — ends the session.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if err := c.sessions.end(r.Context(), sessionOf(r)); err != nil {
		c.fail(w, r, err)
		return
	}
	c.clearCookie(w)
	http.Redirect(w, r, Prefix+"/sign-in?signed_out=1", http.StatusSeeOther)
}

// safeNext is where to go after sign-in: a console path, never elsewhere.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return Prefix + "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
