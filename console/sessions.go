package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Identity is who a session is signed in as: an admin key by name, or a
// person signed in with SSO by email; the tenant it is bound to ("" for
// every tenant).
type Identity struct {
	Name     string
	Tenant   string
	ReadOnly bool
	// CardID is the card of a person signed in with SSO, whose role and
	// status are checked again on every request; "" for an admin key.
	CardID string
}

// SignedIn reports whether anybody is signed in.
func (i Identity) SignedIn() bool { return i.Name != "" }

// session is one browser's state, as read at the start of its request.
//
// An anonymous session (nobody signed in) is not stored until it has
// something to keep — the SSO sign-in it waits for, a message for the
// next page: a visitor, a crawler or a flood of requests to the sign-in
// page writes nothing. Its CSRF token is derived from its id
// (anonymousCSRF), so that the form a replica renders for it is
// accepted by any replica, with or without a stored row; once stored it
// keeps that token.
type session struct {
	rec store.ConsoleSession
	who Identity
	// unsaved: an anonymous session that has no row yet.
	unsaved bool
}

func (s *session) csrf() string { return s.rec.CSRF }

// anonymousCSRF is the CSRF token of an anonymous session: a hash of its
// id (secret, in an HttpOnly cookie), from which the id cannot be told.
// Whoever can plant an id in a browser knows its token either way — as
// they would a stored session's they started themselves — and signing
// in rotates the id.
func anonymousCSRF(id string) string {
	sum := sha256.Sum256([]byte("rosterd console anonymous csrf\x00" + id))
	return hex.EncodeToString(sum[:])
}

// anonymous is the unsaved anonymous session of id.
func (s *sessions) anonymous(id string) *session {
	now := s.now()
	return &session{rec: store.ConsoleSession{Hash: hashID(id), CSRF: anonymousCSRF(id), CreatedAt: now, SeenAt: now}, unsaved: true}
}

// newSessionID is a fresh session id: 2 × 128 random bits, base32.
func newSessionID() string { return rand.Text() + rand.Text() }

// validSessionID reports whether id has the form newSessionID gives, so
// that a cookie of any other shape starts a fresh session.
func validSessionID(id string) bool {
	if len(id) != 2*len(rand.Text()) {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// touchEvery bounds the writes a busy session makes: its last-seen time
// moves at most this often, which is the idle timeout's precision.
const touchEvery = time.Minute

// pruneEvery is how often a new session sweeps the ended ones away.
const pruneEvery = 10 * time.Minute

// sessions is the session table, in the store (Deps.Sessions): a restart
// or another replica keeps every session. Each request reads its session
// once; changes (a flash, the SAML login it waits for, the last-seen
// time) are written compare-and-swap on the session's version.
type sessions struct {
	st        store.ConsoleSessions
	now       func() time.Time
	idle, max time.Duration
	logger    *slog.Logger

	mu        sync.Mutex
	lastPrune time.Time
}

func newSessions(st store.ConsoleSessions, now func() time.Time, idle, max time.Duration, logger *slog.Logger) *sessions {
	return &sessions{st: st, now: now, idle: idle, max: max, logger: logger}
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func sessionOfRecord(rec store.ConsoleSession) *session {
	return &session{rec: rec, who: Identity{Name: rec.Name, Tenant: rec.Tenant, ReadOnly: rec.ReadOnly, CardID: rec.CardID}}
}

func (s *sessions) expired(rec store.ConsoleSession, now time.Time) bool {
	return now.Sub(rec.SeenAt) >= s.idle || now.Sub(rec.CreatedAt) >= s.max
}

// lookup returns the live session of an id and marks it used; nil when
// there is none (an expired one is deleted).
func (s *sessions) lookup(ctx context.Context, id string) (*session, error) {
	rec, err := s.st.GetConsoleSession(ctx, hashID(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if s.expired(rec, now) {
		return nil, s.st.DeleteConsoleSession(ctx, rec.Hash)
	}
	ses := sessionOfRecord(rec)
	if now.Sub(rec.SeenAt) >= touchEvery {
		// Another request of the session may write first; then it has
		// marked it used.
		_ = s.modify(ctx, ses, func(r *store.ConsoleSession) bool { r.SeenAt = now; return true })
	}
	return ses, nil
}

// create starts a session for who and returns its id, for the cookie.
func (s *sessions) create(ctx context.Context, who Identity) (string, *session, error) {
	id := newSessionID()
	now := s.now()
	rec := store.ConsoleSession{Hash: hashID(id), Version: 1, CSRF: rand.Text() + rand.Text(), Name: who.Name, Tenant: who.Tenant,
		ReadOnly: who.ReadOnly, CardID: who.CardID, CreatedAt: now, SeenAt: now}
	if err := s.st.CreateConsoleSession(ctx, rec); err != nil {
		return "", nil, err
	}
	s.prune(ctx, now)
	return id, sessionOfRecord(rec), nil
}

// prune deletes the ended sessions, every pruneEvery at most.
func (s *sessions) prune(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastPrune) >= pruneEvery
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	n, err := s.st.PruneConsoleSessions(ctx, now.Add(-s.idle), now.Add(-s.max))
	if err != nil {
		s.logger.Warn("console: pruning ended sessions failed", "err", err)
	} else if n > 0 {
		s.logger.Debug("console: ended sessions pruned", "sessions", n)
	}
}

// rotate ends old (if any) and starts a new session for who: the id
// changes at sign-in, so an id planted before it is worth nothing after.
func (s *sessions) rotate(ctx context.Context, old *session, who Identity) (string, *session, error) {
	if err := s.end(ctx, old); err != nil {
		return "", nil, err
	}
	return s.create(ctx, who)
}

// end deletes a session.
func (s *sessions) end(ctx context.Context, ses *session) error {
	if ses == nil || ses.unsaved {
		return nil
	}
	return s.st.DeleteConsoleSession(ctx, ses.rec.Hash)
}

// modify changes the session with fn and writes it; when another request
// of the session wrote first, it reads the session again and applies fn
// to that. fn returns false to write nothing.
func (s *sessions) modify(ctx context.Context, ses *session, fn func(*store.ConsoleSession) bool) error {
	rec := ses.rec
	if ses.unsaved {
		// The anonymous session has something to keep: it is stored now,
		// with it. Another request of the same browser may have stored it
		// first; then fn applies to that one.
		next := rec
		if !fn(&next) {
			return nil
		}
		next.Version = 1
		err := s.st.CreateConsoleSession(ctx, next)
		if err == nil {
			ses.rec, ses.unsaved = next, false
			s.prune(ctx, s.now())
			return nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrConflict) {
			return err
		}
		if rec, err = s.st.GetConsoleSession(ctx, rec.Hash); err != nil {
			return err
		}
		ses.unsaved = false
	}
	for range 5 {
		next := rec
		if !fn(&next) {
			return nil
		}
		got, err := s.st.UpdateConsoleSession(ctx, next)
		if err == nil {
			ses.rec = got
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if rec, err = s.st.GetConsoleSession(ctx, ses.rec.Hash); err != nil {
			return err
		}
	}
	return store.ErrConflict
}

// setFlash leaves a message for the session's next page. A flash that
// cannot be written is logged, not an error: the change it reports is
// made.
func (s *sessions) setFlash(ctx context.Context, ses *session, msg string) {
	if ses == nil {
		return
	}
	if err := s.modify(ctx, ses, func(r *store.ConsoleSession) bool { r.Flash = msg; return true }); err != nil {
		s.logger.Warn("console: keeping a message for the next page failed", "err", err)
	}
}

// takeFlash returns the session's message, once.
func (s *sessions) takeFlash(ctx context.Context, ses *session) string {
	msg := ses.rec.Flash
	if msg == "" {
		return ""
	}
	if err := s.modify(ctx, ses, func(r *store.ConsoleSession) bool {
		if r.Flash == "" {
			return false
		}
		r.Flash = ""
		return true
	}); err != nil {
		s.logger.Warn("console: clearing the message of a page failed", "err", err)
	}
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

// withSession finds the request's session, or starts an anonymous one
// (stored only once it has something to keep).
func (c *Console) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ses *session
		if ck, err := r.Cookie(cookieName); err == nil && validSessionID(ck.Value) {
			s, err := c.sessions.lookup(r.Context(), ck.Value)
			if err != nil {
				c.deps.Logger.Error("console: reading the session failed", "err", err)
				http.Error(w, "the console cannot read its sessions; try again later", http.StatusServiceUnavailable)
				return
			}
			if ses = s; ses == nil {
				// Not stored (anonymous, never written; or ended): the
				// browser's id goes on as an anonymous session, so that the
				// form it was shown is still its own.
				ses = c.sessions.anonymous(ck.Value)
			}
		}
		if ses == nil {
			id := newSessionID()
			ses = c.sessions.anonymous(id)
			c.setCookie(w, id)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, ses)))
	})
}

// requireSignIn sends a visitor nobody signed in for to the sign-in form,
// and back here afterwards.
func (c *Console) requireSignIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who := identityOf(r); who.SignedIn() {
			if who.CardID != "" && !c.stillAdmin(w, r, who) {
				return
			}
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

// pendingJSON is how a session keeps what it waits for.
func encodePending(p *pending) []byte {
	if p == nil {
		return nil
	}
	b, _ := json.Marshal(p)
	return b
}

func decodePending(b []byte) *pending {
	if len(b) == 0 {
		return nil
	}
	var p pending
	if json.Unmarshal(b, &p) != nil {
		return nil
	}
	return &p
}
