package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store"
)

type noKeys struct{}

func (noKeys) Check(context.Context, string, string) (store.Credential, error) {
	return store.Credential{}, store.ErrNotFound
}

// stubDirectory answers nothing; the tests here never reach it.
type stubDirectory struct{ Directory }

type stubAudit struct{ Audit }

func newTestConsole(t *testing.T, publicURL string) http.Handler {
	t.Helper()
	c, err := New(Deps{Keys: noKeys{}, Directory: stubDirectory{}, Audit: stubAudit{}, Tenants: StaticTenants{{ID: "acme"}},
		PublicURL: publicURL, Now: func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	return mux
}

// TestCookieAndHeaders: the session cookie is HttpOnly and SameSite=Lax,
// Secure exactly when public_url is https; every page has the strict CSP.
func TestCookieAndHeaders(t *testing.T) {
	for _, tc := range []struct {
		publicURL string
		secure    bool
	}{
		{"http://127.0.0.1:8080", false},
		{"https://rosterd.example.com", true},
		{"HTTPS://rosterd.example.com", true},
	} {
		h := newTestConsole(t, tc.publicURL)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/sign-in", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: sign-in page %d", tc.publicURL, rec.Code)
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != cookieName {
			t.Fatalf("%s: cookies %v, want one %s", tc.publicURL, cookies, cookieName)
		}
		ck := cookies[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != tc.secure || ck.Path != "/console" {
			t.Errorf("%s: cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Lax, Secure=%v, /console",
				tc.publicURL, ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path, tc.secure)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q, want %q", tc.publicURL, got, csp)
		}
		body := rec.Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
			t.Errorf("the sign-in page has a script or an inline style:\n%s", body)
		}
	}
}

// TestSignedOutIsSentToSignIn: every page but the public ones needs a
// signed-in session; a GET goes to the sign-in form and back, a POST is
// refused.
func TestSignedOutIsSentToSignIn(t *testing.T) {
	h := newTestConsole(t, "http://127.0.0.1:8080")
	for _, p := range []string{"/console/", "/console/t/acme/users?status=disabled", "/console/t/acme/cards/x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/console/sign-in?next=") {
			t.Errorf("GET %s signed out: %d to %q, want 303 to the sign-in form", p, rec.Code, rec.Header().Get("Location"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/no/such/page", nil))
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("an unknown console page: %d %q, want a 404 page", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/static/console.css", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || len(rec.Result().Cookies()) != 0 {
		t.Errorf("the stylesheet: %d %q, cookies %v", rec.Code, rec.Header().Get("Content-Type"), rec.Result().Cookies())
	}
}

func TestCheckMetadataURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		loopbackHTTP bool
		insecure     bool
		problem      string
	}{
		{"https://idp.example.com/metadata", false, false, ""},
		{"https://idp.example.com/metadata", true, false, ""},
		{"http://127.0.0.1:8080/metadata", true, true, ""},
		{"http://localhost/metadata", true, true, ""},
		{"http://[::1]/metadata", true, true, ""},
		{"http://127.0.0.1:8080/metadata", false, false, "must start with https://"},
		{"http://idp.example.com/metadata", true, false, "must start with https://"},
		{"ftp://idp.example.com/metadata", true, false, "must start with https://"},
		{"https://user:pw@idp.example.com/metadata", false, false, "is not a URL like"},
		{"idp.example.com/metadata", false, false, "is not a URL like"},
		{"", false, false, "Paste the IdP's metadata URL"},
	} {
		insecure, problem := checkMetadataURL(tc.url, tc.loopbackHTTP)
		if insecure != tc.insecure || (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("checkMetadataURL(%q, %v) = %v, %q; want %v, %q", tc.url, tc.loopbackHTTP, insecure, problem, tc.insecure, tc.problem)
		}
	}
}

// TestRefusalAdvice: every refusal a test sign-in can meet that the IT
// admin can fix at the IdP has advice of its own.
func TestRefusalAdvice(t *testing.T) {
	for _, r := range []saml.Reason{saml.ReasonUnsigned, saml.ReasonBadSignature, saml.ReasonWeakSignature, saml.ReasonWrongIssuer,
		saml.ReasonWrongAudience, saml.ReasonWrongDestination, saml.ReasonWrongRecipient, saml.ReasonExpired, saml.ReasonNotYetValid,
		saml.ReasonNoEmail, saml.ReasonIdPStatus} {
		if a := adviceFor(r); strings.HasPrefix(a, "The IdP's answer was refused.") {
			t.Errorf("%s: no advice of its own", r)
		}
	}
	if a := adviceFor("something_new"); !strings.Contains(a, "which check failed") {
		t.Errorf("an unknown reason: %q", a)
	}
}
