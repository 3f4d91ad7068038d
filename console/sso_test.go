package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/tenant"
)

// TestSSONext: an SSO sign-in goes to the page it started for when that
// is a console page of the signed-in tenant (or of no tenant), and to the
// tenant's users otherwise.
func TestSSONext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"", "/console/t/acme/users"},
		{"/console/", "/console/t/acme/users"},
		{"/console/t/acme/users?status=disabled", "/console/t/acme/users?status=disabled"},
		{"/console/t/acme/cards/c1", "/console/t/acme/cards/c1"},
		{"/console/t/acme", "/console/t/acme"},
		{"/console/t/globex/users", "/console/t/acme/users"},
		{"/console/t/acmex/users", "/console/t/acme/users"},
		{"https://evil.example/", "/console/t/acme/users"},
		{"https://evil.example/console/t/acme/users", "/console/t/acme/users"},
		{"//evil.example/console/", "/console/t/acme/users"},
		{"/console/\\evil.example", "/console/t/acme/users"},
		{"/elsewhere", "/console/t/acme/users"},
	} {
		if got := ssoNext(tc.next, "acme"); got != tc.want {
			t.Errorf("ssoNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

// ssoConnections is one tenant, acme, that signs in with SAML.
type ssoConnections struct{ Connections }

func (ssoConnections) Get(_ context.Context, id string) (*tenant.Tenant, error) {
	if id != "acme" {
		return nil, tenant.ErrNotFound
	}
	return tenant.FromConfig(&config.Tenant{ID: "acme", SAML: &config.SAML{IDPMetadataFile: "idp.xml"}}), nil
}

// redirectingSAML sends every login to the IdP.
type redirectingSAML struct{}

func (redirectingSAML) StartLogin(w http.ResponseWriter, r *http.Request, tenant, purpose string) {
	http.Redirect(w, r, "https://idp.example/sso", http.StatusFound)
}

type noDomains struct{}

func (noDomains) ByDomain(string) (*tenant.Tenant, bool) { return nil, false }

// TestSSOStartIsRateLimited: each SSO start from a browser with no stored
// session stores one, so a source may start 30 at once, then one every
// 2 s; past that it is asked to wait (429, Retry-After) and nothing is
// stored. Another source, and a browser whose session is stored, go on.
func TestSSOStartIsRateLimited(t *testing.T) {
	sessions := NewMemorySessions()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c, err := New(Deps{Keys: oneKey{}, Directory: stubDirectory{}, Audit: stubAudit{}, Tenants: StaticTenants{{ID: "acme"}},
		Sessions: sessions, Connections: ssoConnections{}, SAML: redirectingSAML{}, Domains: noDomains{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	start := func(addr, cookie string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest("GET", "/console/sso/start?tenant=acme", nil)
		req.RemoteAddr = addr
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	stored := func() int {
		far := now.Add(100 * 365 * 24 * time.Hour)
		n, err := sessions.PruneConsoleSessions(context.Background(), far, far)
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	var kept string
	for i := range ssoStartBurst {
		rec := start("192.0.2.1:4000", "")
		if rec.Code != http.StatusFound {
			t.Fatalf("start %d: %d, want a redirect to the IdP", i, rec.Code)
		}
		for _, ck := range rec.Result().Cookies() {
			if ck.Name == cookieName {
				kept = ck.Value
			}
		}
	}
	rec := start("192.0.2.1:4001", "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" || !strings.Contains(rec.Body.String(), "Too many sign-ins") {
		t.Fatalf("start past the burst: %d, Retry-After %q\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if rec := start("198.51.100.7:4000", ""); rec.Code != http.StatusFound {
		t.Fatalf("another source: %d, want a redirect", rec.Code)
	}
	if rec := start("192.0.2.1:4002", kept); rec.Code != http.StatusFound {
		t.Fatalf("a browser whose session is stored, from the limited source: %d, want a redirect", rec.Code)
	}
	now = now.Add(ssoStartEvery)
	if rec := start("192.0.2.1:4003", ""); rec.Code != http.StatusFound {
		t.Fatalf("2 s later: %d, want a redirect", rec.Code)
	}
	// The burst, the other source and the one 2 s later; none for the
	// refused start, none more for the stored session.
	if n := stored(); n != ssoStartBurst+2 {
		t.Fatalf("%d sessions stored, want %d", n, ssoStartBurst+2)
	}
}
