package console

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store"
)

// A login the console starts through rosterd's SP leaves the console (the
// IdP posts to /saml/{tenant}/acs, where the console's cookie, Path
// /console, does not go) and comes back through the SP's Handoff. The
// session that started it waits for it by a random nonce carried in the
// SAML request cookie's purpose; the SP hands the outcome over by that
// nonce (to the session in the store, so any replica may end the login),
// and the browser is sent back into the console, where its own session
// takes it. A nonce is good once, for pendingLife, and only for the
// session that started it.

type pendingKind int

const (
	pendingTest pendingKind = iota + 1
	pendingSignIn
)

// pendingLife bounds the round trip through the IdP (the SP's request
// cookie lives 5 minutes by default).
const pendingLife = 10 * time.Minute

// signInPurpose starts the purpose of a console sign-in.
const signInPurpose = "console:"

// pending is what a session waits for from the SP, and what arrived.
type pending struct {
	Kind   pendingKind `json:"kind"`
	Tenant string      `json:"tenant"`
	Since  time.Time   `json:"since"`
	// Next is the console page a sign-in goes to once it is done, as
	// safeNext passed it when the sign-in started. It waits here, in the
	// session store, not in the SAML RelayState: nothing that went through
	// the IdP and the browser decides where the console sends anybody.
	Next string `json:"next,omitempty"`
	// What arrived: a test's result, or the card signed in.
	Test *saml.TestResult `json:"test,omitempty"`
	Card *directory.Card  `json:"card,omitempty"`
}

// expect makes the session wait for a login of kind, and go to next (a
// sign-in's; "" for a test) once it is done; it returns the nonce to hand
// to the SP. A new one replaces what the session waited for.
func (s *sessions) expect(ctx context.Context, ses *session, kind pendingKind, tenant, next string) (string, error) {
	nonce := rand.Text()
	p := &pending{Kind: kind, Tenant: tenant, Since: s.now(), Next: next}
	err := s.modify(ctx, ses, func(r *store.ConsoleSession) bool {
		r.Nonce, r.Pending = nonce, encodePending(p)
		return true
	})
	return nonce, err
}

// deliver hands an outcome to the session waiting for nonce; false when
// none is (a nonce used, run out, or made up) or fill refuses it.
func (s *sessions) deliver(ctx context.Context, nonce string, kind pendingKind, fill func(*pending) bool) (bool, error) {
	rec, err := s.st.ConsoleSessionByNonce(ctx, nonce)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok := false
	err = s.modify(ctx, sessionOfRecord(rec), func(r *store.ConsoleSession) bool {
		p := decodePending(r.Pending)
		if r.Nonce != nonce || p == nil || p.Kind != kind || s.now().Sub(p.Since) > pendingLife || !fill(p) {
			ok = false
			return false
		}
		r.Nonce, r.Pending, ok = "", encodePending(p), true
		return true
	})
	return ok, err
}

// take returns what arrived for the session, once.
func (s *sessions) take(ctx context.Context, ses *session, kind pendingKind) (pending, bool) {
	if ses == nil {
		return pending{}, false
	}
	var out pending
	ok := false
	err := s.modify(ctx, ses, func(r *store.ConsoleSession) bool {
		p := decodePending(r.Pending)
		if r.Nonce != "" || p == nil || p.Kind != kind || (p.Test == nil && p.Card == nil) {
			ok = false
			return false
		}
		out, ok = *p, true
		r.Pending = nil
		return true
	})
	if err != nil {
		s.logger.Warn("console: taking a finished login failed", "err", err)
		return pending{}, false
	}
	return out, ok
}

func (s *sessions) takeTest(ctx context.Context, ses *session) (saml.TestResult, bool) {
	p, ok := s.take(ctx, ses, pendingTest)
	if !ok {
		return saml.TestResult{}, false
	}
	return *p.Test, true
}

// ConsoleTest receives a test login's outcome from the SP (saml.Handoff)
// and sends the browser to the portal's result page.
func (c *Console) ConsoleTest(w http.ResponseWriter, r *http.Request, purpose string, res saml.TestResult) {
	nonce := strings.TrimPrefix(purpose, saml.TestPurpose)
	ok, err := c.sessions.deliver(r.Context(), nonce, pendingTest, func(p *pending) bool {
		if p.Tenant != res.Tenant {
			return false
		}
		p.Test = &res
		return true
	})
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case err != nil:
			c.fail(w, r, err)
		case !ok:
			c.errorPage(w, r, http.StatusBadRequest, "This test sign-in was not started from this browser's setup portal, or it took too long. Start it again.")
		default:
			http.Redirect(w, r, Prefix+"/setup/saml/result", http.StatusSeeOther)
		}
	})).ServeHTTP(w, r)
}

// ConsoleLogin receives a console sign-in from the SP (saml.Handoff) and
// sends the browser to finish it in its console session.
func (c *Console) ConsoleLogin(w http.ResponseWriter, r *http.Request, purpose string, card directory.Card) {
	nonce, isSignIn := strings.CutPrefix(purpose, signInPurpose)
	var (
		ok  bool
		err error
	)
	if isSignIn {
		ok, err = c.sessions.deliver(r.Context(), nonce, pendingSignIn, func(p *pending) bool {
			if p.Tenant != card.Tenant {
				return false
			}
			p.Card = &card
			return true
		})
	}
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case err != nil:
			c.fail(w, r, err)
		case !ok:
			c.errorPage(w, r, http.StatusBadRequest, "This sign-in was not started from this browser's console, or it took too long. Sign in again.")
		default:
			http.Redirect(w, r, Prefix+"/sso/done", http.StatusSeeOther)
		}
	})).ServeHTTP(w, r)
}
