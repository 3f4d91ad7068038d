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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

const sspWWW = "/usr/share/simplesamlphp/www"

// startSimpleSAMLphp runs SimpleSAMLphp as an IdP on port, trusting the SP
// whose metadata is at spMetadataURL, with one user ann:secret.
func startSimpleSAMLphp(t *testing.T, port int, spMetadataURL string) string {
	t.Helper()
	php := testenv.LookPath(t, "php", "apt-get install simplesamlphp php-cli")
	if _, err := os.Stat(filepath.Join(sspWWW, "saml2/idp/SSOService.php")); err != nil {
		testenv.Unavailable(t, "SimpleSAMLphp not installed (%v): apt-get install simplesamlphp php-cli", err)
	}
	dir := t.TempDir()
	for _, d := range []string{"config", "metadata", "cert", "log", "data", "tmp", "sessions"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	crt, key, err := saml.GenerateKeyPair("SimpleSAMLphp test IdP", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert/idp.crt", crt)
	write("cert/idp.pem", key)
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	write("config/config.php", fmt.Appendf(nil, `<?php
$config = [
    'baseurlpath' => %q,
    'certdir' => %q,
    'loggingdir' => %q,
    'datadir' => %q,
    'tempdir' => %q,
    'secretsalt' => 'rosterd-test-salt-0123456789',
    'auth.adminpassword' => 'admin-test',
    'technicalcontact_email' => 'test@example.com',
    'timezone' => 'UTC',
    'logging.level' => SimpleSAML\Logger::WARNING,
    'logging.handler' => 'file',
    'enable.saml20-idp' => true,
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => %q,
    'session.cookie.secure' => false,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'metadata.sources' => [
        ['type' => 'flatfile', 'directory' => %q],
        ['type' => 'xml', 'url' => %q],
    ],
];
`, base, filepath.Join(dir, "cert"), filepath.Join(dir, "log"), filepath.Join(dir, "data"), filepath.Join(dir, "tmp"),
		filepath.Join(dir, "sessions"), filepath.Join(dir, "metadata"), spMetadataURL))
	write("config/authsources.php", []byte(`<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'ann:secret' => [
            'email' => ['ann@example.com'],
            'givenName' => ['Ann'],
            'sn' => ['Lee'],
            'eduPersonAffiliation' => ['eng', 'staff'],
        ],
    ],
];
`))
	write("metadata/saml20-idp-hosted.php", []byte(`<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.pem',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'validate.authnrequest' => true,
    'authproc' => [
        10 => [
            'class' => 'saml:AttributeNameID',
            'attribute' => 'email',
            'Format' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        ],
    ],
];
`))

	logf, err := os.Create(filepath.Join(dir, "php-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(php, "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", sspWWW)
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "php -S did not start: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			for _, f := range []string{"php-server.log", "log/simplesamlphp.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, tail(b, 4000))
			}
		}
	})
	md := base + "saml2/idp/metadata.php"
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(md)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Contains(body, []byte("IDPSSODescriptor")) {
				return md
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, tail(body, 6000))
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "php-server.log"))
			testenv.Unavailable(t, "SimpleSAMLphp metadata at %s did not answer: %v\n%s", md, err, tail(b, 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var (
	formRE  = regexp.MustCompile(`(?is)<form([^>]*)>(.*?)</form>`)
	attrRE  = regexp.MustCompile(`(?is)\s([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	inputRE = regexp.MustCompile(`(?is)<input[^>]*>`)
)

type htmlForm struct {
	action string
	fields url.Values
}

func attrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3])
	}
	return out
}

// firstForm reads a page's first POST form as a browser would submit it,
// its action resolved against the page's URL.
func firstForm(t *testing.T, page string, at *url.URL) htmlForm {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form at %s: %s", at, tail([]byte(page), 1500))
	}
	action, _ := url.Parse(attrs(m[1])["action"])
	f := htmlForm{action: at.ResolveReference(action).String(), fields: url.Values{}}
	for _, in := range inputRE.FindAllString(m[2], -1) {
		a := attrs(in)
		if a["name"] != "" && a["type"] != "submit" {
			f.fields.Set(a["name"], a["value"])
		}
	}
	return f
}

func TestSimpleSAMLphpEndToEnd(t *testing.T) {
	rosterdPort, idpPort := testenv.FreePort(t), testenv.FreePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", rosterdPort)

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

	mdURL := fmt.Sprintf("http://127.0.0.1:%d/saml2/idp/metadata.php", idpPort)

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
	if got := startSimpleSAMLphp(t, idpPort, public+"/saml/acme/metadata"); got != mdURL {
		t.Fatalf("IdP metadata at %s, want %s", got, mdURL)
	}
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
