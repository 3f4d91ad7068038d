package saml

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// TestLoginByEmailDomain: GET /saml/login?email= routes to the tenant of
// the address's domain among three, return_to passed along; an unknown
// domain, and a tenant without SSO, get a page that says so.
func TestLoginByEmailDomain(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	reg := tenanttest.FromYAML(t, st, `
tenants:
  - id: acme
    domains: [acme.test, acme-corp.test]
    app_callback_url: https://app.test/cb
    allowed_return_urls: [https://app.test/]
    saml: {idp_metadata_url: "https://idp.test/acme/metadata"}
  - id: globex
    domains: [globex.test]
    app_callback_url: https://app.test/cb
    saml: {idp_metadata_url: "https://idp.test/globex/metadata"}
  - id: initech
    domains: [initech.test]
`)
	srv, err := New(context.Background(), nil, st, RegistryTenants(reg), Options{PublicURL: publicURL, Secrets: testBox(t, 1),
		HTTPClient: &http.Client{Transport: &hosts{m: map[string]http.Handler{}}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	get := func(q string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/saml/login?"+q, nil))
		return rec
	}
	for q, want := range map[string]string{
		"email=ann@Acme-Corp.test":                      publicURL + "/saml/acme/login",
		"email=bob@globex.test":                         publicURL + "/saml/globex/login",
		"domain=acme.test&return_to=https://app.test/x": publicURL + "/saml/acme/login?return_to=https%3A%2F%2Fapp.test%2Fx",
	} {
		rec := get(q)
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != want {
			t.Errorf("%s: %d %q, want 302 %q", q, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	for q, want := range map[string]string{
		"email=eve@unknown.test":  "No organization has set up single sign-on",
		"email=carl@initech.test": "has not set up single sign-on yet",
		"email=not-an-address":    "not an email address",
		"":                        "Enter your work email",
	} {
		rec := get(q)
		if rec.Code < 400 || !strings.Contains(rec.Body.String(), want) || strings.Contains(rec.Body.String(), "unknown.test") {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
}

// TestLoginByEmailNeedsAVerifiedDomain: a domain an API tenant lists
// routes sign-in by email only once verified (anyone may list a domain);
// the file's domains are verified as declared. On both backends.
func TestLoginByEmailNeedsAVerifiedDomain(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		reg := tenanttest.FromYAML(t, st, `
tenants:
  - id: acme
    domains: [acme.test]
    app_callback_url: https://app.test/cb
    saml: {idp_metadata_url: "https://idp.test/acme/metadata"}
`)
		ctx := context.Background()
		if _, err := reg.CreateTenant(ctx, "ops", []byte(`{"id": "initech", "domains": ["initech.test"], "app_callback_url": "https://app.test/cb",
			"saml": {"idp_metadata_url": "https://idp.test/initech/metadata"}}`)); err != nil {
			t.Fatal(err)
		}
		srv, err := New(ctx, nil, st, RegistryTenants(reg), Options{PublicURL: publicURL, Secrets: testBox(t, 1),
			HTTPClient: &http.Client{Transport: &hosts{m: map[string]http.Handler{}}}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		srv.Mount(mux)
		get := func(q string) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/saml/login?"+q, nil))
			return rec
		}
		if rec := get("email=ann@acme.test"); rec.Code != http.StatusFound {
			t.Fatalf("the file's domain: %d", rec.Code)
		}
		if rec := get("email=bob@initech.test"); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "No organization has set up single sign-on") {
			t.Fatalf("an unverified domain: %d %s", rec.Code, rec.Body.String())
		}
		if _, err := reg.VerifyDomain(ctx, "ops", "initech", "initech.test", true); err != nil {
			t.Fatal(err)
		}
		if rec := get("email=bob@initech.test"); rec.Code != http.StatusFound || rec.Header().Get("Location") != publicURL+"/saml/initech/login" {
			t.Fatalf("the verified domain: %d %q", rec.Code, rec.Header().Get("Location"))
		}
	})
}
