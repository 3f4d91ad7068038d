package console

import (
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/saml"
)

// A login the console starts through rosterd's SP leaves the console (the
// IdP posts to /saml/{tenant}/acs, where the console's cookie, Path
// /console, does not go) and comes back through the SP's Handoff. The
// session that started it expects it by a random nonce carried in the
// SAML request cookie's purpose; the SP hands the outcome over by that
// nonce, and the browser is sent back into the console, where its own
// session takes it. A nonce is good once, for pendingLife, and only
// for the session that started it.

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

// pending is what a session waits for from the SP.
type pending struct {
	nonce  string
	kind   pendingKind
	tenant string
	since  time.Time
	// What arrived: a test's result, or the card signed in.
	test *saml.TestResult
	card *directory.Card
}

// expect makes the session wait for a login of kind; it returns the
// nonce to hand to the SP. A new one replaces what the session waited for.
func (s *sessions) expect(ses *session, kind pendingKind, tenant string) string {
	nonce := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ses.pending != nil {
		delete(s.byNonce, ses.pending.nonce)
	}
	ses.pending = &pending{nonce: nonce, kind: kind, tenant: tenant, since: s.now()}
	s.byNonce[nonce] = ses
	return nonce
}

// deliver hands an outcome to the session waiting for nonce; false when
// none is (a nonce used, run out, or made up).
func (s *sessions) deliver(nonce string, kind pendingKind, fill func(*pending) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, ok := s.byNonce[nonce]
	if !ok || ses.pending == nil || ses.pending.kind != kind || s.now().Sub(ses.pending.since) > pendingLife {
		return false
	}
	delete(s.byNonce, nonce)
	return fill(ses.pending)
}

// take returns what arrived for the session, once.
func (s *sessions) take(ses *session, kind pendingKind) (pending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := ses.pending
	if p == nil || p.kind != kind || (p.test == nil && p.card == nil) {
		return pending{}, false
	}
	ses.pending = nil
	return *p, true
}

func (s *sessions) takeTest(ses *session) (saml.TestResult, bool) {
	if ses == nil {
		return saml.TestResult{}, false
	}
	p, ok := s.take(ses, pendingTest)
	if !ok {
		return saml.TestResult{}, false
	}
	return *p.test, true
}

// ConsoleTest receives a test login's outcome from the SP (saml.Handoff)
// and sends the browser to the portal's result page.
func (c *Console) ConsoleTest(w http.ResponseWriter, r *http.Request, purpose string, res saml.TestResult) {
	nonce := strings.TrimPrefix(purpose, saml.TestPurpose)
	ok := c.sessions.deliver(nonce, pendingTest, func(p *pending) bool {
		if p.tenant != res.Tenant {
			return false
		}
		p.test = &res
		return true
	})
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			c.errorPage(w, r, http.StatusBadRequest, "This test sign-in was not started from this browser's setup portal, or it took too long. Start it again.")
			return
		}
		http.Redirect(w, r, Prefix+"/setup/saml/result", http.StatusSeeOther)
	})).ServeHTTP(w, r)
}

// ConsoleLogin receives a console sign-in from the SP (saml.Handoff) and
// sends the browser to finish it in its console session.
func (c *Console) ConsoleLogin(w http.ResponseWriter, r *http.Request, purpose string, card directory.Card) {
	nonce, isSignIn := strings.CutPrefix(purpose, signInPurpose)
	ok := isSignIn && c.sessions.deliver(nonce, pendingSignIn, func(p *pending) bool {
		if p.tenant != card.Tenant {
			return false
		}
		p.card = &card
		return true
	})
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			c.errorPage(w, r, http.StatusBadRequest, "This sign-in was not started from this browser's console, or it took too long. Sign in again.")
			return
		}
		http.Redirect(w, r, Prefix+"/sso/done", http.StatusSeeOther)
	})).ServeHTTP(w, r)
}
