package saml

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	publicURL = "https://rosterd.test"
	idpURL    = "https://idp.test"
	callback  = "https://app.test/sso/callback"
)

// hosts is an in-process internet: each host name is served by a handler.
// The browser (an http.Client with a cookie jar) and the metadata fetcher
// go through it.
type hosts struct {
	mu sync.Mutex
	m  map[string]http.Handler
}

func (h *hosts) set(host string, hd http.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[host] = hd
}

func (h *hosts) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	hd := h.m[r.URL.Host]
	h.mu.Unlock()
	if hd == nil {
		return nil, errors.New("no such host " + r.URL.Host)
	}
	r = r.Clone(r.Context())
	r.RemoteAddr = "192.0.2.1:40000"
	r.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	hd.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// testIdP is crewjam's own IdentityProvider, logged in as one person.
type testIdP struct {
	idp    *crewjam.IdentityProvider
	client *http.Client
	mu     sync.Mutex
	email  string
}

func (ti *testIdP) GetSession(w http.ResponseWriter, r *http.Request, req *crewjam.IdpAuthnRequest) *crewjam.Session {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return &crewjam.Session{ID: "s1", CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: "idx-1",
		NameID: ti.email, NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: ti.email,
		UserGivenName: "Ann", UserSurname: "Lee", Groups: []string{"eng"}}
}

// GetServiceProvider fetches the SP's metadata from its entity id, which
// is its metadata URL, as an IdP administrator pastes it.
func (ti *testIdP) GetServiceProvider(r *http.Request, id string) (*crewjam.EntityDescriptor, error) {
	resp, err := ti.client.Get(id)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, os.ErrNotExist
	}
	body, _ := io.ReadAll(resp.Body)
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(body, &ed); err != nil {
		return nil, err
	}
	return &ed, nil
}

type auditLine struct {
	tenant string
	reason Reason
	detail string
}

type recordingAuditor struct {
	mu    sync.Mutex
	lines []auditLine
}

func (a *recordingAuditor) AuditLoginRefusal(_ context.Context, tenant string, reason Reason, detail string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, auditLine{tenant, reason, detail})
	return nil
}

func (a *recordingAuditor) all() []auditLine {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]auditLine(nil), a.lines...)
}

func (a *recordingAuditor) last() Reason {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lines) == 0 {
		return ""
	}
	return a.lines[len(a.lines)-1].reason
}

// env is rosterd's SAML SP (one replica or more) with crewjam's IdP.
type env struct {
	t       *testing.T
	net     *hosts
	browser *http.Client
	idp     *testIdP
	st      store.Backend
	dir     *directory.Service
	srv     *Server
	reg     *prometheus.Registry
	audit   *recordingAuditor
	tenants []TenantConfig
	// dirNow is the directory's clock (login codes expire by it); nil: now.
	dirNow func() time.Time
}

func defaultTenants() []TenantConfig {
	return []TenantConfig{
		{Tenant: "acme", AppCallbackURL: callback, AllowedReturnURLs: []string{"https://app.test/"},
			IdPMetadataURL: idpURL + "/metadata", SignRequests: true, ClockSkew: 3 * time.Minute, RequestLifetime: 5 * time.Minute,
			Attributes: map[string]string{"given_name": "givenName", "family_name": "sn", "groups": "eduPersonAffiliation"}},
		{Tenant: "globex", AppCallbackURL: callback, IdPMetadataURL: idpURL + "/metadata", AllowIDPInitiated: true,
			ClockSkew: 3 * time.Minute, RequestLifetime: 5 * time.Minute},
	}
}

func newEnv(t *testing.T, st store.Backend, tenants []TenantConfig) *env {
	t.Helper()
	idpKeys, _ := testKeys(t)
	e := &env{t: t, net: &hosts{m: map[string]http.Handler{}}, st: st, audit: &recordingAuditor{}, tenants: tenants}
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{Transport: e.net, Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "app.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	fetcher := &http.Client{Transport: e.net}
	mdURL, _ := url.Parse(idpURL + "/metadata")
	ssoURL, _ := url.Parse(idpURL + "/sso")
	e.idp = &testIdP{client: fetcher, email: "ann@example.com"}
	e.idp.idp = &crewjam.IdentityProvider{Key: idpKeys.Key, Certificate: idpKeys.Cert, MetadataURL: *mdURL, SSOURL: *ssoURL,
		SignatureMethod: dsig.RSASHA256SignatureMethod, ServiceProviderProvider: e.idp, SessionProvider: e.idp,
		Logger: slog.NewLogLogger(slog.DiscardHandler, slog.LevelInfo)}
	idpMux := http.NewServeMux()
	idpMux.Handle("/metadata", http.HandlerFunc(e.idp.idp.ServeMetadata))
	idpMux.Handle("/sso", http.HandlerFunc(e.idp.idp.ServeSSO))
	idpMux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		e.idp.idp.ServeIDPInitiated(w, r, r.URL.Query().Get("sp"), r.URL.Query().Get("relay"))
	})
	e.net.set("idp.test", idpMux)

	pols := map[string]directory.Policy{}
	for _, tc := range tenants {
		p := directory.DefaultPolicy()
		p.Invite, p.JIT = "none", true
		pols[tc.Tenant] = p
	}
	e.dir = directory.NewService(st, pols, directory.WithClock(func() time.Time {
		if e.dirNow != nil {
			return e.dirNow()
		}
		return time.Now()
	}))
	e.srv, e.reg = e.replica(st, fetcher)
	mux := http.NewServeMux()
	e.srv.Mount(mux)
	e.net.set("rosterd.test", mux)
	return e
}

// replica builds another SP over st, as a second rosterd would.
func (e *env) replica(st store.Backend, fetcher *http.Client) (*Server, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	srv, err := New(context.Background(), e.dir, st, FixedTenants(e.tenants...), Options{PublicURL: publicURL, Registerer: reg,
		HTTPClient: fetcher, Auditor: e.audit, Secrets: testBox(e.t, 1)})
	if err != nil {
		e.t.Fatal(err)
	}
	return srv, reg
}

// submit posts a form as a browser does.
func (e *env) submit(f form) *http.Response {
	e.t.Helper()
	vals := url.Values{}
	for k, v := range f.fields {
		vals.Set(k, v)
	}
	resp, err := e.browser.PostForm(f.action, vals)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// idpForm follows a GET to the IdP's auto-submitting page and returns its form.
func (e *env) idpForm(u string) form {
	e.t.Helper()
	resp, err := e.browser.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f, ok := parseForm(string(body))
	if !ok {
		e.t.Fatalf("GET %s: %d, no form in %q", u, resp.StatusCode, body)
	}
	return f
}

// spLogin runs an SP-initiated login up to the IdP's form.
func (e *env) spLogin(tenant, returnTo string) form {
	u := publicURL + "/saml/" + tenant + "/login"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	return e.idpForm(u)
}

// code reads the login code from a redirect to the platform.
func (e *env) code(resp *http.Response) (string, url.Values) {
	e.t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("ACS answered %d, want 303 to the platform: %s (last refusal %s)", resp.StatusCode, body, e.audit.last())
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callback+"?") {
		e.t.Fatalf("redirect to %q, want %s?code=…", resp.Header.Get("Location"), callback)
	}
	return loc.Query().Get("code"), loc.Query()
}

func (e *env) refusals(tenant string, r Reason) float64 {
	return testutil.ToFloat64(e.srv.refusals.WithLabelValues(tenant, string(r)))
}

func TestSPInitiatedRoundTrip(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	f := e.spLogin("acme", "https://app.test/reports?id=7")
	if f.action != publicURL+"/saml/acme/acs" || f.fields["SAMLResponse"] == "" {
		t.Fatalf("IdP form %+v", f)
	}
	resp := e.submit(f)
	code, q := e.code(resp)
	if len(code) < len(LoginCodePrefix)+22 || q.Get("return_to") != "https://app.test/reports?id=7" {
		t.Fatalf("callback query %v", q)
	}
	card, err := e.srv.Redeem(context.Background(), code, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if card.Email != "ann@example.com" || card.Tenant != "acme" || !card.Enabled || card.FirstLoginAt.IsZero() ||
		card.Attributes.GivenName != "Ann" || card.Attributes.FamilyName != "Lee" {
		t.Fatalf("card %+v", card)
	}
	if _, err := e.srv.Redeem(context.Background(), code, "acme"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("second redeem: %v, want ErrInvalidCode", err)
	}
	if n := testutil.ToFloat64(e.srv.logins.WithLabelValues("acme", "success")); n != 1 {
		t.Fatalf("success logins %v, want 1", n)
	}
	// The same person again: the same card.
	code2, _ := e.code(e.submit(e.spLogin("acme", "")))
	card2, err := e.srv.Redeem(context.Background(), code2, "")
	if err != nil || card2.ID != card.ID {
		t.Fatalf("second login: card %s, %v; want %s", card2.ID, err, card.ID)
	}
}

func TestAuthnRequestAndCookie(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	e.browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := e.browser.Get(publicURL + "/saml/acme/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login answered %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Host != "idp.test" || loc.Query().Get("SigAlg") != dsig.RSASHA256SignatureMethod || loc.Query().Get("Signature") == "" {
		t.Fatalf("redirect %s: want a signed (RSA-SHA256) HTTP-Redirect request", loc)
	}
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if strings.HasPrefix(x.Name, cookiePrefix) {
			c = x
		}
	}
	if c == nil || !c.Secure || c.SameSite != http.SameSiteNoneMode || !c.HttpOnly || c.MaxAge != 300 || c.Path != "/saml/acme/" {
		t.Fatalf("request cookie %+v: want Secure, SameSite=None, HttpOnly, 5 minutes, path /saml/acme/", c)
	}
	// return_to must be allowed.
	resp, _ = e.browser.Get(publicURL + "/saml/acme/login?return_to=" + url.QueryEscape("https://evil.test/"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("login with a foreign return_to: %d, want 400", resp.StatusCode)
	}
	// The metadata names the ACS and the signing certificate.
	resp, _ = e.browser.Get(publicURL + "/saml/acme/metadata")
	body, _ := io.ReadAll(resp.Body)
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(body, &ed); err != nil {
		t.Fatal(err)
	}
	sp := ed.SPSSODescriptors[0]
	if ed.EntityID != publicURL+"/saml/acme/metadata" || sp.AssertionConsumerServices[0].Location != publicURL+"/saml/acme/acs" ||
		len(sp.KeyDescriptors) != 1 || sp.KeyDescriptors[0].Use != "signing" {
		t.Fatalf("metadata %s", body)
	}
}

func TestReturnURLAllowList(t *testing.T) {
	p := &provider{cfg: TenantConfig{AllowedReturnURLs: []string{"https://app.test/", "https://exact.test/only", "https://app.example.com/app/"}}}
	for raw, want := range map[string]bool{
		// Paths are compared as the browser will resolve them: decoded,
		// dot segments removed.
		"https://app.example.com/app/":                true,
		"https://app.example.com/app/x/../y?z=1#f":    true,
		"https://app.example.com/app/%41bc":           true,
		"https://app.example.com/app/./x":             true,
		"https://app.example.com/../evil":             false,
		"https://app.example.com/app/..":              false,
		"https://app.example.com/app/../evil":         false,
		"https://app.example.com/app/x/../../evil":    false,
		"https://app.example.com/app/%2e%2e/evil":     false,
		"https://app.example.com/app/%2E%2E/evil":     false,
		"https://app.example.com/app/.%2e/evil":       false,
		"https://app.example.com/app/%2e./evil":       false,
		"https://app.example.com/app/%2e%2e":          false,
		"https://app.example.com/app/x%2f..%2f..%2fy": false,
		"https://app.example.com/app/x%5c..%5c..%5cy": false,
		"https://app.example.com/app%2fx":             false,
		"https://app.example.com/app%2fx/é":           false,
		"https://app.example.com/app/é":               true,
		"https://app.example.com/app/\\..\\evil":      false,
		"https://app.example.com\\@evil.test/app/":    false,
		"https://app.example.com.evil.com/app/":       false,
		"https://app.example.com:8443/app/":           false,
		"https://app.example.com/app//evil.test/":     false,
		"https://app.example.com/app/%00":             false,
		"//evil.test/":                                false,
		"//app.example.com/app/":                      false,
		"/app/":                                       false,
		"https:/\\evil.test/":                         false,
		"https:app.example.com/app/":                  false,
		"https://exact.test/only/.":                   false,
		"https://exact.test/only/..":                  false,
		"https://exact.test/x/../only":                true,
		"https://exact.test/%6fnly":                   true,
		"https://app.test/":                           true,
		"https://app.test/a/b?c=d":                    true,
		"https://APP.test/x":                          true,
		"https://exact.test/only":                     true,
		"https://exact.test/only/more":                false,
		"http://app.test/":                            false,
		"https://app.test.evil.test/":                 false,
		"https://user@app.test/":                      false,
		"//app.test/":                                 false,
		"https://app.test/../../etc":                  false,
		"https://app.test\\@evil.test/":               false,
		"javascript:alert(1)":                         false,
		"https://evil.test/?https://app.test/":        false,
	} {
		if got := p.allowedReturn(raw); got != want {
			t.Errorf("allowedReturn(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestIdPInitiated(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	// globex allows IdP-initiated logins; the RelayState is passed on only
	// when it is an allowed URL (globex allows none).
	f := e.idpForm(idpURL + "/start?sp=" + url.QueryEscape(publicURL+"/saml/globex/metadata") + "&relay=" + url.QueryEscape("https://evil.test/"))
	code, q := e.code(e.submit(f))
	if q.Has("return_to") {
		t.Fatalf("a RelayState that is not allowed was passed on: %v", q)
	}
	if card, err := e.srv.Redeem(context.Background(), code, "globex"); err != nil || card.Tenant != "globex" {
		t.Fatalf("redeem: %+v, %v", card, err)
	}
	// acme does not allow them.
	f = e.idpForm(idpURL + "/start?sp=" + url.QueryEscape(publicURL+"/saml/acme/metadata"))
	resp := e.submit(f)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonIdPInitiated || e.refusals("acme", ReasonIdPInitiated) != 1 {
		t.Fatalf("IdP-initiated at acme: %d, audited %s: %s", resp.StatusCode, e.audit.last(), body)
	}
	if strings.Contains(string(body), string(ReasonIdPInitiated)) {
		t.Fatal("the page shows the internal reason")
	}
}

func TestReplayAndWrongTenantAtACS(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	f := e.idpForm(idpURL + "/start?sp=" + url.QueryEscape(publicURL+"/saml/globex/metadata"))
	e.code(e.submit(f))
	resp := e.submit(f)
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonReplay {
		t.Fatalf("replay: %d, audited %s", resp.StatusCode, e.audit.last())
	}
	// globex's assertion posted to acme's ACS.
	f.action = publicURL + "/saml/acme/acs"
	resp = e.submit(f)
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonWrongTenant {
		t.Fatalf("another tenant's assertion: %d, audited %s", resp.StatusCode, e.audit.last())
	}
	// An SP-initiated response without the browser's cookie.
	f = e.spLogin("acme", "")
	e.browser.Jar, _ = cookiejar.New(nil)
	resp = e.submit(f)
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonUnknownRequest {
		t.Fatalf("response without its request cookie: %d, audited %s", resp.StatusCode, e.audit.last())
	}
}

// TestPanicIsARefusal: a panic in validation (crewjam v0.5.1's on an
// assertion without Issuer is one) becomes a refusal with its own reason.
func TestPanicIsARefusal(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	e.srv.cache["acme"].validate = func(*Validator, []byte, string) (*Assertion, error) {
		var a *crewjam.Assertion
		_ = a.Issuer.Value // the nil dereference of crewjam's parser
		return nil, nil
	}
	resp := e.submit(e.spLogin("acme", ""))
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonPanic || e.refusals("acme", ReasonPanic) != 1 {
		t.Fatalf("panicking validation: %d, audited %s", resp.StatusCode, e.audit.last())
	}
	// And the fixture itself: no Issuer is refused by name, before anything
	// could panic on it.
	resp = e.postRaw("globex", buildResponse(t, respOpts{issuer: "-", inResponseTo: "-", audience: publicURL + "/saml/globex/metadata",
		recipient: publicURL + "/saml/globex/acs", destination: publicURL + "/saml/globex/acs", respIssuer: idpURL + "/metadata"}, time.Now()))
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonMissingIssuer {
		t.Fatalf("no Issuer at the ACS: %d, audited %s", resp.StatusCode, e.audit.last())
	}
}

func (e *env) postRaw(tenant string, raw []byte) *http.Response {
	return e.submit(form{action: publicURL + "/saml/" + tenant + "/acs", fields: map[string]string{"SAMLResponse": base64.StdEncoding.EncodeToString(raw)}})
}

// TestDisabledCardEndToEnd: a disabled card's login is refused (403, plain
// page, audited, no code); re-enabled, the same person gets in with the
// same card.
func TestDisabledCardEndToEnd(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newEnv(t, st, defaultTenants())
	ctx := context.Background()
	out, err := e.dir.ApplyClaim(ctx, directory.Actor{Name: "file:hr"}, directory.ClaimInput{Tenant: "acme", Source: "file:hr",
		Email: "Ann@Example.com", State: store.Present, Authoritative: true})
	if err != nil {
		t.Fatal(err)
	}
	id := out.Card.ID
	if _, err := e.dir.Pin(ctx, directory.Actor{Name: "admin:ops"}, "acme", id, "left the company"); err != nil {
		t.Fatal(err)
	}
	resp := e.submit(e.spLogin("acme", ""))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "contact your administrator") ||
		strings.Contains(string(body), "left the company") || resp.Header.Get("Location") != "" {
		t.Fatalf("disabled card's login: %d %q", resp.StatusCode, body)
	}
	if n := testutil.ToFloat64(e.srv.logins.WithLabelValues("acme", "disabled")); n != 1 {
		t.Fatalf("disabled logins counted %v", n)
	}
	audit, err := st.ListAudit(ctx, "acme", id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := audit[len(audit)-1]; last.Action != "login.refused" {
		t.Fatalf("last audit line %+v, want login.refused", last)
	}
	if _, err := e.dir.Unpin(ctx, directory.Actor{Name: "admin:ops"}, "acme", id); err != nil {
		t.Fatal(err)
	}
	code, _ := e.code(e.submit(e.spLogin("acme", "")))
	card, err := e.srv.Redeem(ctx, code, "acme")
	if err != nil || card.ID != id || !card.Enabled {
		t.Fatalf("after re-enabling: %+v, %v; want card %s", card, err, id)
	}
}

func TestUnknownPersonWithoutJIT(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newEnv(t, st, defaultTenants())
	e.dir = directory.NewService(st, map[string]directory.Policy{"acme": {Invite: "none"}, "globex": {Invite: "none"}})
	e.srv.dir = e.dir
	resp := e.submit(e.spLogin("acme", ""))
	if resp.StatusCode != http.StatusForbidden || testutil.ToFloat64(e.srv.logins.WithLabelValues("acme", "unknown_person")) != 1 {
		t.Fatalf("unknown person, JIT off: %d", resp.StatusCode)
	}
}

func TestEncryptedAssertion(t *testing.T) {
	dir := t.TempDir()
	c, k, err := GenerateKeyPair("enc", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "enc.crt"), c, 0o600)
	os.WriteFile(filepath.Join(dir, "enc.key"), k, 0o600)
	tenants := defaultTenants()
	tenants[0].EncryptionCertFile, tenants[0].EncryptionKeyFile = filepath.Join(dir, "enc.crt"), filepath.Join(dir, "enc.key")
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), tenants)
	f := e.spLogin("acme", "")
	raw, _ := base64.StdEncoding.DecodeString(f.fields["SAMLResponse"])
	if !strings.Contains(string(raw), "EncryptedAssertion") {
		t.Fatal("the IdP did not encrypt: the metadata offers no encryption key?")
	}
	code, _ := e.code(e.submit(f))
	if _, err := e.srv.Redeem(context.Background(), code, "acme"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginCodes(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	clk := time.Now()
	e.srv.now = func() time.Time { return clk }
	e.dirNow = func() time.Time { return clk }
	code, _ := e.code(e.submit(e.spLogin("acme", "")))
	if _, err := e.srv.Redeem(context.Background(), code, "globex"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("redeemed for another tenant: %v", err)
	}
	code, _ = e.code(e.submit(e.spLogin("acme", "")))
	clk = clk.Add(61 * time.Second)
	if _, err := e.srv.Redeem(context.Background(), code, ""); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("redeemed after 61 s: %v", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(code, LoginCodePrefix))
	if len(raw)*8 < 128 {
		t.Fatalf("code of %d bits", len(raw)*8)
	}
	for _, bad := range []string{"", "rlc_", "nope", code + "x"} {
		if _, err := e.srv.Redeem(context.Background(), bad, ""); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("Redeem(%q) = %v", bad, err)
		}
	}
}

// TestTwoReplicasOnePostgres: two SPs over one PostgreSQL share the key
// pair (generated by whichever started first), and an assertion used at
// one is refused as a replay at the other.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() store.Backend {
		s, err := postgres.Open(dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st1, st2 := open(), open()
	if _, err := st1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st1, defaultTenants())
	b, _ := e.replica(st2, &http.Client{Transport: e.net})
	if !pubEqual(e.srv.cache["acme"].keys.Cert, b.cache["acme"].keys.Cert) {
		t.Fatal("the replicas sign with different keys")
	}
	muxB := http.NewServeMux()
	b.Mount(muxB)

	f := e.idpForm(idpURL + "/start?sp=" + url.QueryEscape(publicURL+"/saml/globex/metadata"))
	code, _ := e.code(e.submit(f)) // replica A
	e.net.set("rosterd.test", muxB)
	resp := e.submit(f) // the same response at replica B
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonReplay {
		t.Fatalf("replay at the other replica: %d, audited %s", resp.StatusCode, e.audit.last())
	}
	// The code minted by A is redeemed through B, once.
	if _, err := b.Redeem(context.Background(), code, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Redeem(context.Background(), code, ""); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("second redeem at the other replica: %v", err)
	}
	// A login begun at B ends at A: the request cookie is readable there.
	f = e.spLogin("acme", "")
	mux := http.NewServeMux()
	e.srv.Mount(mux)
	e.net.set("rosterd.test", mux)
	e.code(e.submit(f))
}

func TestMetadataRefreshKeepsLastGood(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	if err := e.srv.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.net.set("idp.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }))
	e.srv.Refresh(context.Background())
	err := e.srv.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refresh failed") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("Ready after a failed refresh: %v", err)
	}
	if testutil.ToFloat64(e.srv.mdStale.WithLabelValues("acme")) != 1 || testutil.ToFloat64(e.srv.mdFailures.WithLabelValues("acme")) != 1 {
		t.Fatal("metrics do not show the failed refresh")
	}
	if e.srv.cache["acme"].idp.IdP() == nil {
		t.Fatal("the last good metadata was dropped")
	}
	// A new SP that never got metadata is not ready and says so.
	srv, _ := e.replica(e.st, &http.Client{Transport: e.net})
	if err := srv.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "no IdP metadata") {
		t.Fatalf("Ready without metadata: %v", err)
	}
}

func TestInsecureMetadataURLRefused(t *testing.T) {
	tenants := defaultTenants()[:1]
	tenants[0].IdPMetadataURL = "http://idp.test/metadata"
	_, err := New(context.Background(), nil, storetest.Migrated(t, storetest.OpenSQLite), FixedTenants(tenants...), Options{PublicURL: publicURL, Secrets: testBox(t, 1)})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http metadata URL: %v", err)
	}
	tenants[0].AllowInsecureMetadataURL = true
	if _, err := New(context.Background(), nil, storetest.Migrated(t, storetest.OpenSQLite), FixedTenants(tenants...), Options{PublicURL: publicURL, Secrets: testBox(t, 1)}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPairFromFiles(t *testing.T) {
	dir := t.TempDir()
	c, k, _ := GenerateKeyPair("files", time.Now())
	os.WriteFile(filepath.Join(dir, "sp.crt"), c, 0o600)
	os.WriteFile(filepath.Join(dir, "sp.key"), k, 0o600)
	kp, err := LoadKeyPair(filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key"))
	if err != nil {
		t.Fatal(err)
	}
	if kp.Cert.Subject.CommonName != "files" || kp.Key.N.BitLen() != 2048 {
		t.Fatalf("key pair %v, %d bits", kp.Cert.Subject, kp.Key.N.BitLen())
	}
	other, _, _ := GenerateKeyPair("other", time.Now())
	if _, err := ParseKeyPair(other, k); err == nil {
		t.Fatal("a certificate of another key accepted")
	}
}

// TestSHA1AtTheACS: an RSA-SHA1 response is refused as weak_signature,
// unless the tenant's allow_sha1 is on.
func TestSHA1AtTheACS(t *testing.T) {
	sha1Response := func() []byte {
		return buildResponse(t, respOpts{id: "id-sha1-" + randomToken(6), inResponseTo: "-", sigMethod: dsig.RSASHA1SignatureMethod,
			issuer: idpURL + "/metadata", respIssuer: idpURL + "/metadata", audience: publicURL + "/saml/globex/metadata",
			recipient: publicURL + "/saml/globex/acs", destination: publicURL + "/saml/globex/acs"}, time.Now())
	}
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	resp := e.postRaw("globex", sha1Response())
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || e.audit.last() != ReasonWeakSignature {
		t.Fatalf("RSA-SHA1 without allow_sha1: %d, audited %s", resp.StatusCode, e.audit.last())
	}
	tenants := defaultTenants()
	tenants[1].AllowSHA1 = true
	e = newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), tenants)
	e.code(e.postRaw("globex", sha1Response()))
}
