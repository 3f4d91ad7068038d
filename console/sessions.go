package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Identity is who a session is signed in as: an admin key, by name, and
// the tenant it is bound to ("" for every tenant).
type Identity struct {
	Name     string
	Tenant   string
	ReadOnly bool
}

// SignedIn reports whether anybody is signed in.
func (i Identity) SignedIn() bool { return i.Name != "" }

// session is one browser's state. Anonymous sessions (nobody signed in)
// exist for the sign-in form's CSRF token.
type session struct {
	hash    [32]byte // SHA-256 of the id; the id itself is only in the cookie
	csrf    string
	who     Identity
	created time.Time
	seen    time.Time
	flash   string
	// pending is the SAML login the session started and waits for
	// (handoff.go).
	pending *pending
}

// maxSessions bounds the memory the session table takes: past it, expired
// sessions are swept, then anonymous ones dropped; only a table full of
// signed-in sessions refuses a new one (503).
var maxSessions = 100_000 // a variable for the test

var errTooManySessions = errors.New("console: too many sessions")

// sessions is the session table, in memory in this first step: a restart
// signs everyone out and replicas do not share it.
type sessions struct {
	now       func() time.Time
	idle, max time.Duration

	mu      sync.Mutex
	byHash  map[[32]byte]*session
	byNonce map[string]*session
}

func newSessions(now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{now: now, idle: idle, max: max, byHash: map[[32]byte]*session{}, byNonce: map[string]*session{}}
}

// lookup returns the live session of an id and marks it used; an expired
// one is deleted.
func (s *sessions) lookup(id string) *session {
	h := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, ok := s.byHash[h]
	if !ok {
		return nil
	}
	if s.expired(ses, now) {
		s.drop(ses)
		return nil
	}
	ses.seen = now
	return ses
}

func (s *sessions) expired(ses *session, now time.Time) bool {
	return now.Sub(ses.seen) >= s.idle || now.Sub(ses.created) >= s.max
}

// create starts a session for who and returns its id, for the cookie.
func (s *sessions) create(who Identity) (string, *session, error) {
	id := rand.Text() + rand.Text() // 2 × 128 random bits, base32
	ses := &session{hash: sha256.Sum256([]byte(id)), csrf: rand.Text() + rand.Text(), who: who}
	now := s.now()
	ses.created, ses.seen = now, now
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byHash) >= maxSessions && !s.makeRoom(now) {
		return "", nil, errTooManySessions
	}
	s.byHash[ses.hash] = ses
	return id, ses, nil
}

// makeRoom frees a place in a full table: it sweeps the expired
// sessions, else it drops one anonymous session (nobody signed in, only a
// sign-in form's token), so that a flood of visitors can never lock out
// sign-ins nor push out a signed-in person. It reports whether there is
// room. The caller holds s.mu.
func (s *sessions) makeRoom(now time.Time) bool {
	for _, old := range s.byHash {
		if s.expired(old, now) {
			s.drop(old)
		}
	}
	if len(s.byHash) < maxSessions {
		return true
	}
	for _, old := range s.byHash {
		if !old.who.SignedIn() {
			s.drop(old)
			return true
		}
	}
	return false
}

// rotate ends old (if any) and starts a new session for who: the id
// changes at sign-in, so an id planted before it is worth nothing after.
func (s *sessions) rotate(old *session, who Identity) (string, *session, error) {
	s.end(old)
	return s.create(who)
}

// end deletes a session.
func (s *sessions) end(ses *session) {
	if ses == nil {
		return
	}
	s.mu.Lock()
	s.drop(ses)
	s.mu.Unlock()
}

// drop removes a session from the table. The caller holds s.mu.
func (s *sessions) drop(ses *session) {
	delete(s.byHash, ses.hash)
	if ses.pending != nil {
		delete(s.byNonce, ses.pending.nonce)
	}
}

func (s *sessions) setFlash(ses *session, msg string) {
	s.mu.Lock()
	ses.flash = msg
	s.mu.Unlock()
}

func (s *sessions) takeFlash(ses *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := ses.flash
	ses.flash = ""
	return msg
}

// cookieName is the session cookie's name.
const cookieName = "rosterd_console"

func (c *Console) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(c.deps.SessionMax.Seconds())})
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

func identityOf(r *http.Request) Identity {
	if s := sessionOf(r); s != nil {
		return s.who
	}
	return Identity{}
}

// withSession finds the request's session, or starts an anonymous one.
func (c *Console) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ses *session
		if ck, err := r.Cookie(cookieName); err == nil && ck.Value != "" {
			ses = c.sessions.lookup(ck.Value)
		}
		if ses == nil {
			id, s, err := c.sessions.create(Identity{})
			if err != nil {
				c.deps.Logger.Warn("console session table full", "sessions", maxSessions)
				http.Error(w, "the console is busy; try again later", http.StatusServiceUnavailable)
				return
			}
			ses = s
			c.setCookie(w, id)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, ses)))
	})
}

// requireSignIn sends a visitor nobody signed in for to the sign-in form,
// and back here afterwards.
func (c *Console) requireSignIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identityOf(r).SignedIn() {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.errorPage(w, r, http.StatusUnauthorized, "Your session has ended; sign in again.")
			return
		}
		http.Redirect(w, r, Prefix+"/sign-in?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}
