package saml_test

// The end-to-end test against an IdP that is not our code: Debian's
// SimpleSAMLphp, served by php's built-in web server on this machine. The
// test drives the HTTP flow a browser would: rosterd's /login redirects to
// the IdP, the IdP's login form is filled in and posted, the IdP's
// auto-submitting form posts the response to rosterd's ACS, rosterd
// redirects to the platform with a login code, and the platform redeems it
// through the admin API. The metadata goes both ways over HTTP: rosterd
// fetches the IdP's, SimpleSAMLphp fetches rosterd's.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/internal/ssptest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

type htmlForm struct {
	action string
	fields url.Values
}

// firstForm reads a page's first form as a browser would submit it.
func firstForm(t *testing.T, page string, at *url.URL) htmlForm {
	t.Helper()
	action, fields := ssptest.Form(t, page, "", at)
	return htmlForm{action: action, fields: fields}
}

func TestSimpleSAMLphpEndToEnd(t *testing.T) {
	rosterdPort := testenv.FreePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", rosterdPort)
	// SimpleSAMLphp, with one user ann:secret; it trusts rosterd's SP
	// once that serves its metadata, below.
	idp := ssptest.Start(t, ssptest.User{Username: "ann", Password: "secret", Email: "ann@example.com", Given: "Ann", Family: "Lee",
		Groups: []string{"eng", "staff"}})

	// rosterd: the directory, the SAML SP and the admin API on one daemon.
	st := storetest.Migrated(t, storetest.OpenSQLite)
	pol := directory.DefaultPolicy()
	pol.Invite, pol.JIT = "none", true
	dir := directory.NewService(st, map[string]directory.Policy{"acme": pol})
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(slog.New(slog.DiscardHandler), reg)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", rosterdPort))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	mdURL := idp.MetadataURL

	tenant := saml.TenantConfig{Tenant: "acme", AppCallbackURL: "https://app.test/sso/callback",
		AllowedReturnURLs: []string{"https://app.test/"}, IdPMetadataURL: mdURL, AllowInsecureMetadataURL: true,
		SignRequests: true, ClockSkew: 3 * time.Minute, RequestLifetime: 5 * time.Minute,
		Attributes: map[string]string{"groups": "eduPersonAffiliation"}}
	kek, _, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := saml.New(context.Background(), dir, st, saml.FixedTenants(tenant), saml.Options{PublicURL: public, Registerer: reg,
		Secrets: secretbox.New(kek)})
	if err != nil {
		t.Fatal(err)
	}
	// The SP is up first (its metadata load fails: no IdP yet), so that
	// SimpleSAMLphp can fetch its metadata; then rosterd fetches the IdP's.
	sp.Mount(srv)
	idp.TrustSP(t, public+"/saml/acme/metadata")
	sp.Refresh(context.Background())
	if err := sp.Ready(context.Background()); err != nil {
		t.Fatalf("rosterd did not load SimpleSAMLphp's metadata: %v", err)
	}
	keys := credential.NewKeyring(st, []credential.Static{{Kind: store.AdminKey, Name: "platform", Secret: "platform-key"}})
	admin.New(keys, nil, slog.New(slog.DiscardHandler), reg).WithLoginCodes(sp).Mount(srv)

	// The browser.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "app.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	read := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	login := func(returnTo string) *http.Response {
		// rosterd → the IdP's login page, or, once the IdP has a session,
		// straight to its auto-submitting form.
		resp, page := read(browser.Get(public + "/saml/acme/login?return_to=" + url.QueryEscape(returnTo)))
		if resp.StatusCode != 200 {
			t.Fatalf("login page: %d %s", resp.StatusCode, tail([]byte(page), 1500))
		}
		f := firstForm(t, page, resp.Request.URL)
		if _, ok := f.fields["password"]; ok {
			f.fields.Set("username", "ann")
			f.fields.Set("password", "secret")
			// The IdP's answer: an auto-submitting form to rosterd's ACS.
			resp, page = read(browser.PostForm(f.action, f.fields))
			f = firstForm(t, page, resp.Request.URL)
		}
		if f.action != public+"/saml/acme/acs" || f.fields.Get("SAMLResponse") == "" {
			t.Fatalf("IdP answered %d with form %+v: %s", resp.StatusCode, f, tail([]byte(page), 1500))
		}
		resp, err := browser.PostForm(f.action, f.fields)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	redeem := func(code string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", public+"/api/v1/login-codes/redeem", strings.NewReader(`{"code":"`+code+`"}`))
		req.Header.Set("Authorization", "Bearer platform-key")
		req.Header.Set("Content-Type", "application/json")
		resp, body := read(http.DefaultClient.Do(req))
		var out map[string]any
		_ = json.Unmarshal([]byte(body), &out)
		return resp.StatusCode, out
	}

	resp := login("https://app.test/inbox")
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("ACS answered %d: %s", resp.StatusCode, b)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if !strings.HasPrefix(loc.String(), "https://app.test/sso/callback?") || code == "" || loc.Query().Get("return_to") != "https://app.test/inbox" {
		t.Fatalf("redirect to %s", loc)
	}
	status, card := redeem(code)
	if status != 200 || card["email"] != "ann@example.com" || card["tenant"] != "acme" || card["given_name"] != "Ann" ||
		card["family_name"] != "Lee" || card["status"] != "active" || fmt.Sprint(card["groups"]) != "[eng staff]" {
		t.Fatalf("redeem: %d %v", status, card)
	}
	if status, body := redeem(code); status != 400 {
		t.Fatalf("second redeem: %d %v", status, body)
	}

	// Disabled: refused end to end, with no code; re-enabled: the same card.
	id := card["id"].(string)
	ctx := context.Background()
	if _, err := dir.Pin(ctx, directory.Actor{Name: "admin:ops"}, "acme", id, "left"); err != nil {
		t.Fatal(err)
	}
	resp = login("")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "contact your administrator") {
		t.Fatalf("disabled card: %d %s", resp.StatusCode, body)
	}
	if _, err := dir.Unpin(ctx, directory.Actor{Name: "admin:ops"}, "acme", id); err != nil {
		t.Fatal(err)
	}
	resp = login("")
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if status, again := redeem(loc.Query().Get("code")); status != 200 || again["id"] != id {
		t.Fatalf("re-enabled: %d %v, want card %s", status, again, id)
	}
}
