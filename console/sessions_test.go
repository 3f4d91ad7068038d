package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// forEachTable runs fn with the session table in memory and in each
// store backend.
func forEachTable(t *testing.T, fn func(t *testing.T, st store.ConsoleSessions)) {
	t.Run("memory", func(t *testing.T) { fn(t, NewMemorySessions()) })
	storetest.ForEachBackend(t, func(t *testing.T, s store.Backend) { fn(t, s) })
}

// TestSessionTimeouts: a session ends after the idle timeout without use,
// and after the absolute timeout however much it is used.
func TestSessionTimeouts(t *testing.T) {
	forEachTable(t, func(t *testing.T, st store.ConsoleSessions) {
		ctx := context.Background()
		clock := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
		s := newSessions(st, clock.Now, 30*time.Minute, 2*time.Hour, slog.New(slog.DiscardHandler))
		who := Identity{Name: "ops"}
		alive := func(id string) bool {
			t.Helper()
			ses, err := s.lookup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return ses != nil
		}
		idle, _, err := s.create(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		busy, _, err := s.create(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		// Used every 20 minutes: the busy one lives on, the idle one is
		// gone after 30 minutes without use.
		for range 5 { // 09:20 … 10:40
			clock.Advance(20 * time.Minute)
			if !alive(busy) {
				t.Fatalf("at %s the session used every 20 min has ended", clock.Now().Format("15:04"))
			}
		}
		if alive(idle) {
			t.Fatal("a session unused for 100 min is still alive (idle timeout 30 min)")
		}
		clock.Advance(19 * time.Minute) // 10:59
		if !alive(busy) {
			t.Fatal("the busy session ended before its absolute timeout")
		}
		clock.Advance(time.Minute) // 11:00, two hours after sign-in
		if alive(busy) {
			t.Fatal("a session is alive past its absolute timeout of 2 h")
		}
	})
}

// TestSessionIDStoredHashed: the table holds the id's SHA-256, never the
// id; rotate kills the old id.
func TestSessionIDStoredHashed(t *testing.T) {
	forEachTable(t, func(t *testing.T, st store.ConsoleSessions) {
		ctx := context.Background()
		s := newSessions(st, time.Now, time.Hour, time.Hour, slog.New(slog.DiscardHandler))
		id, ses, err := s.create(ctx, Identity{Name: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		if len(id) < 40 {
			t.Fatalf("session id %q is short", id)
		}
		if ses.rec.Hash != hashID(id) || strings.Contains(ses.rec.Hash, id) {
			t.Fatal("the session is not keyed by the SHA-256 of its id")
		}
		if _, err := st.GetConsoleSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the table finds the session by its id itself: %v", err)
		}
		id2, _, err := s.rotate(ctx, ses, Identity{Name: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		old, _ := s.lookup(ctx, id)
		now, _ := s.lookup(ctx, id2)
		if id2 == id || old != nil || now == nil {
			t.Fatal("rotate kept the old id alive or gave the same id")
		}
	})
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "/console/",
		"/console/t/acme/users":   "/console/t/acme/users",
		"https://evil.example/":   "/console/",
		"//evil.example/console/": "/console/",
		"/console/\\evil":         "/console/",
		"/api/v1/tenants":         "/console/",
		"/consolefoo":             "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

type oneKey struct{}

func (oneKey) Check(_ context.Context, _, secret string) (store.Credential, error) {
	if secret == "good-key" {
		return store.Credential{Name: "ops"}, nil
	}
	return store.Credential{}, store.ErrNotFound
}

// TestSessionsSharedByReplicas: two consoles over one store (a restart,
// or two replicas behind a load balancer) share the sessions: signed in
// on one, the browser is signed in on the other, its CSRF token and its
// flash message too; signed out on one, it is signed out on both.
func TestSessionsSharedByReplicas(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		a, b := replica(t, st), replica(t, st)
		var cookie *http.Cookie
		do := func(h http.Handler, method, path string, form url.Values) *httptest.ResponseRecorder {
			t.Helper()
			var req *http.Request
			if form != nil {
				req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req = httptest.NewRequest(method, path, nil)
			}
			if cookie != nil {
				req.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == cookieName {
					cookie = ck
				}
			}
			return rec
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
		page := do(a, "GET", "/console/sign-in", nil)
		tok := csrf.FindStringSubmatch(page.Body.String())
		if tok == nil {
			t.Fatalf("no CSRF token on the sign-in page:\n%s", page.Body)
		}
		// The form of replica a, posted to replica b.
		if rec := do(b, "POST", "/console/sign-in", url.Values{"csrf": {tok[1]}, "key": {"good-key"}, "next": {"/console/"}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-in on the other replica: %d\n%s", rec.Code, rec.Body)
		}
		rec := do(a, "GET", "/console/", nil)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Signed in as ops.") || !strings.Contains(rec.Body.String(), `class="who">ops<`) {
			t.Fatalf("replica a after signing in on b: %d\n%s", rec.Code, rec.Body)
		}
		if rec := do(b, "GET", "/console/", nil); strings.Contains(rec.Body.String(), "Signed in as ops.") {
			t.Fatal("the flash message was shown twice")
		}
		tok = csrf.FindStringSubmatch(rec.Body.String())
		kept := cookie // as a browser that did not drop it sends it
		if rec := do(b, "POST", "/console/sign-out", url.Values{"csrf": {tok[1]}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-out: %d\n%s", rec.Code, rec.Body)
		}
		cookie = kept
		if rec := do(a, "GET", "/console/", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/console/sign-in") {
			t.Fatalf("replica a after signing out on b: %d %s", rec.Code, rec.Header().Get("Location"))
		}
	})
}

// TestAnonymousVisitorsStoreNothing: visitors who are not signed in —
// with no cookie, with a cookie of another shape, with the id of a
// session that ended — get a sign-in form whose CSRF token holds on any
// replica, and no session row until there is something to keep; the
// token of one browser's form is refused with another browser's id.
func TestAnonymousVisitorsStoreNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		a, b := replica(t, st), replica(t, st)
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
		visit := func(h http.Handler, cookie string) (id, token string) {
			t.Helper()
			req := httptest.NewRequest("GET", "/console/sign-in", nil)
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			id = cookie
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == cookieName {
					id = ck.Value
				}
			}
			m := csrf.FindStringSubmatch(rec.Body.String())
			if rec.Code != http.StatusOK || m == nil {
				t.Fatalf("sign-in page: %d\n%s", rec.Code, rec.Body)
			}
			return id, m[1]
		}
		signIn := func(h http.Handler, id, token string) int {
			t.Helper()
			form := url.Values{"csrf": {token}, "key": {"good-key"}, "next": {"/console/"}}
			req := httptest.NewRequest("POST", "/console/sign-in", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: cookieName, Value: id})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		for range 20 {
			visit(a, "")
		}
		if id, _ := visit(a, "not-a-session-id"); id == "not-a-session-id" || !validSessionID(id) {
			t.Fatalf("a malformed cookie was kept as the session id: %q", id)
		}
		first, token := visit(a, "")
		if again, same := visit(b, first); again != first || same != token {
			t.Fatalf("the other replica gave the same browser id %q token %q, want %q %q", again, same, first, token)
		}
		// Twenty visitors and a malformed cookie later, nothing is stored.
		far := time.Now().Add(100 * 365 * 24 * time.Hour)
		if n, err := st.PruneConsoleSessions(context.Background(), far, far); err != nil || n != 0 {
			t.Fatalf("%d sessions stored for anonymous visitors (%v), want 0", n, err)
		}
		other, _ := visit(a, "")
		if code := signIn(b, other, token); code != http.StatusForbidden {
			t.Fatalf("another browser's form token with this id: %d, want 403", code)
		}
		if code := signIn(b, first, token); code != http.StatusSeeOther {
			t.Fatalf("signing in with the form of replica a on b: %d, want 303", code)
		}
		if n, err := st.PruneConsoleSessions(context.Background(), far, far); err != nil || n != 1 {
			t.Fatalf("%d sessions stored after one sign-in (%v), want 1", n, err)
		}
	})
}

// replica is a console over the session table st, as one replica of
// several serves it.
func replica(t *testing.T, st store.ConsoleSessions) http.Handler {
	t.Helper()
	c, err := New(Deps{Keys: oneKey{}, Directory: stubDirectory{}, Audit: stubAudit{}, Tenants: StaticTenants{{ID: "acme"}}, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	return mux
}
