package consoletest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/internal/browsertest"
	"github.com/rosterd/rosterd/internal/ssptest"
	"github.com/rosterd/rosterd/internal/testenv"
)

// operatorConfig: the admin key is an operator's (it manages tenants and
// makes setup links); the tenant the portal sets up is made through the
// API, as the runtime tenants are.
const operatorConfig = `admin_keys: [{name: ops, key: ` + adminKey + `, scopes: [operator]}]
tenants:
  - id: acme
    name: Acme Inc.
    invite: none
`

// itAdmin is Initech's IT admin at SimpleSAMLphp.
var itAdmin = ssptest.User{Username: "it-admin", Password: "correct horse", Email: "it.admin@initech.example",
	Given: "Ida", Family: "Tran", Groups: []string{"it", "staff"}}

// newSetupTenant makes tenant initech through the API and a setup link
// for it, and returns the link.
func newSetupTenant(t *testing.T, r *browsertest.Rosterd, ttl string, parts ...string) string {
	t.Helper()
	api(t, r, "POST", "/tenants", map[string]any{"id": "initech", "name": "Initech", "invite": "none", "app_callback_url": "https://app.test/sso"}, nil)
	return setupLink(t, r, ttl, parts...)
}

func setupLink(t *testing.T, r *browsertest.Rosterd, ttl string, parts ...string) string {
	t.Helper()
	var link struct {
		URL string `json:"url"`
	}
	body := map[string]any{"parts": parts}
	if ttl != "" {
		body["ttl"] = ttl
	}
	api(t, r, "POST", "/tenants/initech/setup-links", body, &link)
	if !strings.HasPrefix(link.URL, r.URL+"/setup/rsl_") {
		t.Fatalf("setup link %q", link.URL)
	}
	return link.URL
}

// TestJourneySetupPortal is journey 5 of issue 17: an IT admin opens a
// setup link, pastes the IdP's metadata URL (SimpleSAMLphp's), runs Test
// sign-in through SimpleSAMLphp and sees what arrived, then makes a SCIM
// token, copies it with the copy button, and the token works with curl;
// last, the HR files step says that Initech has no upload feed yet.
// axe-core checks every page of the portal.
func TestJourneySetupPortal(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: operatorConfig})
	link := newSetupTenant(t, r, "", "saml", "scim", "feeds")
	idp := ssptest.Start(t, itAdmin)

	b := newBrowser(t, idp.Base)
	b.Step("open the setup link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/setup/saml"]`)),
	)
	if loc, _ := b.Location(); loc != r.URL+"/console/setup/" {
		b.Fatalf("the setup link led to %s, want the portal", loc)
	}
	b.CheckA11y("setup portal")
	b.Step("open single sign-on",
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/setup/saml"]`))),
		chromedp.WaitVisible(chromedp.CSS("#metadata_url")),
	)
	b.CheckA11y("SAML setup")
	acs := browsertest.Value(b, "read the ACS URL", chromedp.Evaluate[string](`document.getElementById("sp-acs").value`))
	if acs != r.URL+"/saml/initech/acs" {
		b.Fatalf("the page gives the ACS URL %q, want %s/saml/initech/acs", acs, r.URL)
	}
	b.Step("choose Okta",
		browsertest.Load(chromedp.Click(chromedp.CSS(`nav[aria-label="Identity provider"] a[href$="idp=okta"]`))),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Identity provider"] a[aria-current="page"][href$="idp=okta"]`)),
	)
	b.Step("paste a metadata URL that is not https",
		chromedp.SendKeys(chromedp.CSS("#metadata_url"), "http://idp.initech.example/metadata"),
		browsertest.Load(chromedp.Submit(chromedp.CSS("#metadata_url"))),
		chromedp.WaitVisible(chromedp.CSS("#md-error")),
	)
	problem := browsertest.Value(b, "read the refusal", chromedp.Text(chromedp.CSS("#md-error")))
	if !strings.Contains(problem, "https://") {
		b.Fatalf("a plain-http metadata URL is refused with %q", problem)
	}
	b.CheckA11y("SAML setup with an error")
	b.Step("paste the IdP's metadata URL",
		chromedp.Clear(chromedp.CSS("#metadata_url")),
		chromedp.SendKeys(chromedp.CSS("#metadata_url"), idp.MetadataURL),
		browsertest.Load(chromedp.Submit(chromedp.CSS("#metadata_url"))),
		chromedp.WaitVisible(chromedp.CSS("#test-sign-in")),
	)
	var saml struct {
		Configured bool           `json:"configured"`
		Settings   map[string]any `json:"settings"`
	}
	api(t, r, "GET", "/tenants/initech/saml-connection", nil, &saml)
	if !saml.Configured || saml.Settings["idp_metadata_url"] != idp.MetadataURL {
		t.Fatalf("after saving, the tenant's SAML connection is %+v", saml)
	}
	b.Step("the SAML page at 375 px",
		chromedp.EmulateViewport(375, 800),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#test-sign-in")),
	)
	if w := browsertest.Value(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		b.Fatalf("at 375 px the SAML setup page is %d px wide: it scrolls sideways", w)
	}
	b.CheckA11y("SAML setup at 375 px")
	b.Step("back to a wide window",
		chromedp.EmulateViewport(1280, 900),
	)
	// The IT admin adds rosterd to the IdP, from its SP metadata URL.
	idp.TrustSP(t, r.URL+"/saml/initech/metadata")
	b.Step("run Test sign-in",
		browsertest.Load(chromedp.Click(chromedp.CSS("#test-sign-in"))),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
	)
	b.Step("sign in at the IdP",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), itAdmin.Username),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), itAdmin.Password),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS("#result")),
	)
	if loc, _ := b.Location(); loc != r.URL+"/console/setup/saml/result" {
		b.Fatalf("Test sign-in ended at %s", loc)
	}
	heading := browsertest.Value(b, "read the result", chromedp.Text(chromedp.CSS("#result")))
	nameID := browsertest.Value(b, "read the NameID", chromedp.Text(chromedp.CSS("#nameid")))
	mapped := browsertest.Value(b, "read the mapping", chromedp.Text(chromedp.CSS("#mapping")))
	arrived := browsertest.Value(b, "read the attributes", chromedp.Text(chromedp.CSS("#attributes tbody")))
	if heading != "Test sign-in worked" || nameID != itAdmin.Email || !strings.Contains(mapped, itAdmin.Email) || !strings.Contains(mapped, "Ida Tran") ||
		!strings.Contains(arrived, "eduPersonAffiliation\tit, staff") {
		b.Fatalf("the result page says %q, NameID %q, mapping %q, attributes %q", heading, nameID, mapped, arrived)
	}
	b.CheckA11y("test sign-in result")
	// A test records nothing: no card for the IT admin.
	if cards := listCards(t, r, "initech"); len(cards) != 0 {
		t.Fatalf("a test sign-in made cards: %+v", cards)
	}

	b.Step("open user provisioning",
		chromedp.Navigate(r.URL+"/console/setup/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/setup/scim"]`)),
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/setup/scim"]`))),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/setup/scim/token"]`)),
	)
	b.CheckA11y("SCIM setup")
	b.Step("create a token",
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[action="/console/setup/scim/token"] button`))),
		chromedp.WaitVisible(chromedp.CSS("#scim-token")),
	)
	b.Step("let the page use the clipboard",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
					Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: r.URL}); err != nil {
					return err
				}
			}
			return nil
		}),
	)
	b.Step("copy it",
		chromedp.Click(chromedp.CSS(`button[data-copy="scim-token"]`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("scim-token-status").textContent === "Copied."`))
			return err
		}),
	)
	b.CheckA11y("new SCIM token")
	copied := browsertest.Value(b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	shown := browsertest.Value(b, "read the token", chromedp.Evaluate[string](`document.getElementById("scim-token").value`))
	base := browsertest.Value(b, "read the base URL", chromedp.Evaluate[string](`document.getElementById("scim-base").value`))
	if !strings.HasPrefix(shown, "rst_") || len(shown) < 40 {
		b.Fatalf("the page shows the token %q", shown)
	}
	if copied != shown {
		b.Fatalf("the copy button put %q on the clipboard, the page shows %q", copied, shown)
	}

	// The token works with curl.
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	out, err := exec.Command(curl, "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+copied, base+"/Users").CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s/Users with the copied token: %v\n%s", base, err, out)
	}
	var list struct {
		Schemas      []string `json:"schemas"`
		TotalResults *int     `json:"totalResults"`
	}
	if err := json.Unmarshal(out, &list); err != nil || list.TotalResults == nil || len(list.Schemas) == 0 {
		t.Fatalf("curl got no SCIM list: %v\n%s", err, out)
	}
	out, _ = exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+copied+"x", base+"/Users").CombinedOutput()
	if string(out) != "401" {
		t.Fatalf("curl with a wrong token: %s, want 401", out)
	}

	b.Step("the token is shown once",
		chromedp.Navigate(r.URL+"/console/setup/scim"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/setup/scim/token"]`)),
	)
	if n := browsertest.Value(b, "look for the token", chromedp.Evaluate[int](`document.querySelectorAll("#scim-token").length`)); n != 0 {
		b.Fatalf("the SCIM page shows the token again")
	}

	b.Step("open HR files",
		chromedp.Navigate(r.URL+"/console/setup/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/setup/feeds"]`)),
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/setup/feeds"]`))),
		chromedp.WaitVisible(chromedp.CSS("#no-feeds")),
	)
	b.CheckA11y("HR files without an upload feed")
}

// TestSetupLinkRefusals: a setup link used after its expiry is refused,
// and so is a portal session whose link expired; a link covers only its
// parts; the portal needs a setup session (an admin key's is not one).
func TestSetupLinkRefusals(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: operatorConfig})
	short := newSetupTenant(t, r, "2s", "scim")
	late := setupLink(t, r, "1s", "saml")

	browserOf := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}

	it := browserOf()
	if code, body := get(it, short); code != 200 || !strings.Contains(body, "User provisioning (SCIM)") {
		t.Fatalf("opening a fresh link: %d\n%s", code, body)
	}
	if code, body := get(it, r.URL+"/console/setup/saml"); code != http.StatusForbidden || !strings.Contains(body, "does not cover single sign-on") {
		t.Fatalf("a SCIM-only link's session on the SAML page: %d\n%s", code, body)
	}
	if code, _ := get(it, r.URL+"/console/setup/scim"); code != 200 {
		t.Fatalf("the SCIM page of a SCIM link: %d", code)
	}
	// The same link in another browser is spent.
	if code, body := get(browserOf(), short); code != http.StatusGone || !strings.Contains(body, "cannot be used") {
		t.Fatalf("a used link in another browser: %d\n%s", code, body)
	}

	// The cookie, as a browser that kept it past its Max-Age would send it.
	base, _ := url.Parse(r.URL + "/console/setup/")
	var kept []*http.Cookie
	for _, ck := range it.Jar.Cookies(base) {
		kept = append(kept, &http.Cookie{Name: ck.Name, Value: ck.Value})
	}

	time.Sleep(2100 * time.Millisecond)
	if code, body := get(browserOf(), late); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("a link opened after its expiry: %d\n%s", code, body)
	}
	stale := browserOf()
	stale.Jar.SetCookies(base, kept)
	if code, body := get(stale, r.URL+"/console/setup/scim"); code != http.StatusUnauthorized || !strings.Contains(body, "expired or was revoked") {
		t.Fatalf("the portal after the link expired: %d\n%s", code, body)
	}
	// A token cannot be made by a session that ended.
	c := newClient(t, r)
	c.signIn(adminKey)
	tok := c.csrf("/console/")
	if a := c.do("POST", "/console/setup/scim/token", url.Values{"csrf": {tok}}); a.Status != http.StatusUnauthorized || !strings.Contains(a.Body, "Open the setup link") {
		t.Fatalf("an admin key's session at the portal: %d\n%s", a.Status, a.Body)
	}
	var tenant struct {
		SCIM []any `json:"scim_connections"`
	}
	api(t, r, "GET", "/tenants/initech", nil, &tenant)
	if len(tenant.SCIM) != 0 {
		t.Fatalf("refused portal requests made SCIM connections: %+v", tenant.SCIM)
	}
}

// TestSetupTestSignInRefused: a test sign-in whose assertion rosterd
// refuses (the IdP sends an email that is not one) ends on the result
// page with what to fix at the IdP, what arrived, and nothing recorded.
func TestSetupTestSignInRefused(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: operatorConfig})
	link := newSetupTenant(t, r, "", "saml")
	broken := ssptest.User{Username: "broken", Password: "pw", Email: "not-an-email", Given: "Bro", Family: "Ken"}
	idp := ssptest.Start(t, broken)
	b := newBrowser(t, idp.Base)
	b.Step("open the setup link and save the metadata URL",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/setup/saml"]`)),
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/setup/saml"]`))),
		chromedp.WaitVisible(chromedp.CSS("#metadata_url")),
		chromedp.SendKeys(chromedp.CSS("#metadata_url"), idp.MetadataURL),
		browsertest.Load(chromedp.Submit(chromedp.CSS("#metadata_url"))),
		chromedp.WaitVisible(chromedp.CSS("#test-sign-in")),
	)
	idp.TrustSP(t, r.URL+"/saml/initech/metadata")
	b.Step("run Test sign-in",
		browsertest.Load(chromedp.Click(chromedp.CSS("#test-sign-in"))),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), broken.Username),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), broken.Password),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS("#result")),
	)
	heading := browsertest.Value(b, "read the result", chromedp.Text(chromedp.CSS("#result")))
	advice := browsertest.Value(b, "read the advice", chromedp.Text(chromedp.CSS(`p.error[role="alert"]`)))
	nameID := browsertest.Value(b, "read the NameID", chromedp.Text(chromedp.CSS("#nameid")))
	if heading != "Test sign-in failed" || !strings.Contains(advice, "Send the person's email as the NameID") || nameID != "not-an-email" {
		b.Fatalf("a refused test sign-in shows %q, advice %q, NameID %q", heading, advice, nameID)
	}
	b.CheckA11y("refused test sign-in")
	if cards := listCards(t, r, "initech"); len(cards) != 0 {
		t.Fatalf("a refused test sign-in made cards: %+v", cards)
	}
}

// uploadToken is the configuration's upload token of Acme's feed hr.
const uploadToken = "hr-upload-token-0123456789abcdef0123"

// TestSetupHRFiles: the portal's HR files page gives the IT admin the drop
// box's upload URL, a curl line, the SFTP user, address and host key, and
// the feed's last run after HR's file was uploaded with the URL and read;
// a tenant without an upload feed is told so. axe-core checks both pages.
func TestSetupHRFiles(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sftpPort := testenv.FreePort(t)
	r := browsertest.StartRosterd(t, browsertest.Options{Config: `admin_keys: [{name: ops, key: ` + adminKey + `, scopes: [operator]}]
drop_box: {sftp_listen: "127.0.0.1:` + strconv.Itoa(sftpPort) + `"}
tenants:
  - id: acme
    name: Acme Inc.
    invite: none
    feeds:
      - name: hr
        kind: file
        source: upload
        columns: {"Work Email": email, "First Name": given_name}
        upload:
          token: ` + uploadToken + `
          authorized_keys: ["` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + `"]
  - id: globex
    name: Globex
    invite: none
`})
	link := func(tenant string) string {
		var l struct {
			URL string `json:"url"`
		}
		api(t, r, "POST", "/tenants/"+tenant+"/setup-links", map[string]any{"parts": []string{"feeds"}}, &l)
		return l.URL
	}
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	jar, _ := cookiejar.New(nil)
	it := &http.Client{Jar: jar}
	if code, body := get(it, link("acme")); code != 200 || !strings.Contains(body, `<a href="/console/setup/feeds">HR files</a>`) {
		t.Fatalf("the portal of a feeds link: %d, no HR files step\n%s", code, body)
	}
	code, body := get(it, r.URL+"/console/setup/feeds")
	upload := r.URL + "/drop/acme/hr"
	if code != 200 || !strings.Contains(body, `value="`+upload+`"`) {
		t.Fatalf("the HR files page: %d, no upload URL %s\n%s", code, upload, body)
	}
	if !strings.Contains(body, "No run yet") {
		t.Errorf("the HR files page before any file does not say there is no run yet:\n%s", body)
	}
	// The curl line, as the page gives it, uploads HR's file.
	curlLine := regexp.MustCompile(`<code id="feed-hr-curl">([^<]+)</code>`).FindStringSubmatch(body)
	if curlLine == nil {
		t.Fatalf("the HR files page has no curl line:\n%s", body)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "employees.csv"), []byte("Work Email,First Name\nann@acme.example,Ann\nbob@acme.example,Bob\n"), 0o600)
	sh := exec.Command("sh", "-c", html.UnescapeString(curlLine[1]))
	sh.Dir, sh.Env = dir, append(os.Environ(), "UPLOAD_TOKEN="+uploadToken)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the page's curl line: %v\n%s", err, out)
	}
	var run struct {
		ID     string         `json:"id"`
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
	}
	api(t, r, "POST", "/tenants/acme/feeds/hr/runs", nil, &run)
	if run.Status != "applied" || run.Counts["create"] != 2 {
		t.Fatalf("the run of the uploaded file: %+v", run)
	}
	_, body = get(it, r.URL+"/console/setup/feeds")
	for _, want := range []string{
		`<dd id="feed-hr-sftp-host">127.0.0.1</dd>`,
		`<dd id="feed-hr-sftp-port">` + strconv.Itoa(sftpPort) + `</dd>`,
		`<dd id="feed-hr-sftp-user">acme.hr</dd>`,
		`<dd id="feed-hr-sftp-hostkey"><code>SHA256:`,
		`sftp -P ` + strconv.Itoa(sftpPort) + ` acme.hr@127.0.0.1`,
		`<span class="status status-run-applied">applied</span>`,
		`<dd id="feed-hr-counts">2 rows read, 0 rows skipped, 2 people added, 2 cards enabled, 2 changes applied</dd>`,
		`-employees.csv</dd>`, // the inbox names it "<UTC time>-<name>"
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the HR files page after a run lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("the page:\n%s", body)
	}

	other := &http.Client{}
	other.Jar, _ = cookiejar.New(nil)
	get(other, link("globex"))
	if code, body := get(other, r.URL+"/console/setup/feeds"); code != 200 || !strings.Contains(body, `id="no-feeds"`) ||
		!strings.Contains(body, "source: upload") {
		t.Fatalf("the HR files page of a tenant without an upload feed: %d\n%s", code, body)
	}

	b := newBrowser(t)
	b.Step("open the setup link",
		chromedp.Navigate(link("acme")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/setup/feeds"]`)),
	)
	b.Step("open HR files",
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/setup/feeds"]`))),
		chromedp.WaitVisible(chromedp.CSS("#feed-hr-url")),
	)
	b.CheckA11y("HR files")
	b.Step("the HR files page at 375 px",
		chromedp.EmulateViewport(375, 800),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#feed-hr-url")),
	)
	if w := browsertest.Value(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		b.Fatalf("at 375 px the HR files page is %d px wide: it scrolls sideways", w)
	}
	b.CheckA11y("HR files at 375 px")
}
