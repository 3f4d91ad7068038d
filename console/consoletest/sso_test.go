package consoletest

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/rosterd/rosterd/internal/browsertest"
	"github.com/rosterd/rosterd/internal/ssptest"
)

// ssoConfig: Acme signs in with SAML at SimpleSAMLphp and invites by
// email, with invites that run out in two seconds (so that one has by the
// time the admin looks).
func ssoConfig(idpMetadata string) string {
	return `admin_keys: [{name: ops, key: ` + adminKey + `}]
tenants:
  - id: acme
    name: Acme Inc.
    domains: [acme.example]
    invite: email
    invite_ttl: 2s
    app_callback_url: https://app.test/sso
    saml: {idp_metadata_url: "` + idpMetadata + `", allow_insecure_metadata_url: true}
  - id: globex
    name: Globex
    invite: none
`
}

var (
	customerAdmin = ssptest.User{Username: "ann", Password: "ann's secret", Email: "ann.admin@acme.example", Given: "Ann", Family: "Admin"}
	customerStaff = ssptest.User{Username: "sam", Password: "sam's secret", Email: "sam.staff@acme.example", Given: "Sam", Family: "Staff"}
)

// TestJourneyCustomerAdminSSO is journey 2 of issue 17: a customer admin
// signs in to the console through SAML via SimpleSAMLphp (the admin role
// on their card gives a console session for their tenant only), adds a
// person with the form, and re-invites someone whose invite ran out.
// axe-core checks every page; another tenant's pages are refused to the
// session.
func TestJourneyCustomerAdminSSO(t *testing.T) {
	idp := ssptest.Start(t, customerAdmin, customerStaff)
	r := browsertest.StartRosterd(t, browsertest.Options{Config: ssoConfig(idp.MetadataURL)})
	idp.TrustSP(t, r.URL+"/saml/acme/metadata")
	api(t, r, "POST", "/tenants/acme/cards/invite", map[string]any{"emails": []string{customerAdmin.Email}, "role": "admin"}, nil)
	expired := seedPeople(t, r, "acme", []person{{Email: "old.invite@acme.example", Given: "Olga", Family: "Invite", Role: "viewer"}})[0]
	api(t, r, "POST", "/tenants/globex/cards/invite", map[string]any{"emails": []string{"gus@globex.example"}}, nil)

	b := newBrowser(t, idp.Base)
	b.Step("open the console",
		chromedp.Navigate(r.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#sso-email")),
	)
	b.CheckA11y("sign-in with SSO")
	before := consoleCookie(b, r)
	if before == "" {
		b.Fatalf("the sign-in page set no session cookie")
	}
	b.Step("give the work email",
		chromedp.SendKeys(chromedp.CSS("#sso-email"), customerAdmin.Email),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS("#sso-continue")),
	)
	b.CheckA11y("continue to the IdP")
	b.Step("continue to the IdP",
		browsertest.Load(chromedp.Click(chromedp.CSS("#sso-continue"))),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
	)
	b.Step("sign in at the IdP",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), customerAdmin.Username),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), customerAdmin.Password),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	if loc, _ := b.Location(); loc != r.URL+"/console/t/acme/users" {
		b.Fatalf("after SSO the browser is at %s, want Acme's users", loc)
	}
	flash := browsertest.Value(b, "read the message", chromedp.Text(chromedp.CSS("p.flash")))
	who := browsertest.Value(b, "read who is signed in", chromedp.Text(chromedp.CSS(".who")))
	if flash != "Signed in as "+customerAdmin.Email+"." || who != customerAdmin.Email+" (acme)" {
		b.Fatalf("after SSO the page says %q, signed in as %q", flash, who)
	}
	b.CheckA11y("users after SSO")
	if after := consoleCookie(b, r); after == "" || after == before {
		b.Fatalf("the session id did not change at the SSO sign-in (session fixation): %q → %q", before, after)
	}

	// The session is Acme's only.
	var cookies []*network.Cookie
	b.Step("read the session cookie", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{r.URL + "/console/"}})
		cookies = res.Cookies
		return err
	}))
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(r.URL + "/console/")
	for _, ck := range cookies {
		jar.SetCookies(base, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
	}
	same := &client{t: t, base: r.URL, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	must(t, same.do("GET", "/console/t/globex/users", nil), http.StatusForbidden, "another tenant's users, signed in by SSO")
	must(t, same.do("GET", "/console/t/acme/users", nil), http.StatusOK, "the tenant's own users, signed in by SSO")

	b.Step("open Add person",
		browsertest.Load(chromedp.Click(chromedp.CSS("#add-person"))),
		chromedp.WaitVisible(chromedp.CSS("#given_name")),
	)
	b.CheckA11y("add a person")
	b.Step("add a person",
		chromedp.SendKeys(chromedp.CSS("#given_name"), "Linus"),
		chromedp.SendKeys(chromedp.CSS("#family_name"), "Torvalds"),
		chromedp.SendKeys(chromedp.CSS("#email"), "linus.torvalds@acme.example"),
		chromedp.SendKeys(chromedp.CSS("#role"), "editor"),
		browsertest.Load(chromedp.Submit(chromedp.CSS("#email"))),
		chromedp.WaitVisible(chromedp.CSS("#audit")),
	)
	flash = browsertest.Value(b, "read the message", chromedp.Text(chromedp.CSS("p.flash")))
	if flash != "Added Linus Torvalds. An invite is on its way to linus.torvalds@acme.example." {
		b.Fatalf("after adding a person the page says %q", flash)
	}
	var added struct {
		Email      string `json:"email"`
		Attributes struct {
			GivenName  string `json:"given_name"`
			FamilyName string `json:"family_name"`
			Role       string `json:"role"`
		} `json:"attributes"`
		Status string `json:"status"`
	}
	var found struct {
		Cards []struct {
			ID string `json:"id"`
		} `json:"cards"`
	}
	api(t, r, "GET", "/tenants/acme/cards?q=linus.torvalds", nil, &found)
	if len(found.Cards) != 1 {
		t.Fatalf("the API finds %d cards for the added person", len(found.Cards))
	}
	api(t, r, "GET", "/tenants/acme/cards/"+found.Cards[0].ID, nil, &added)
	if a := added.Attributes; a.GivenName != "Linus" || a.FamilyName != "Torvalds" || a.Role != "editor" || added.Status != "invite_pending" {
		t.Fatalf("the added person's card: %+v", added)
	}
	trail := browsertest.Value(b, "read the audit trail", chromedp.Text(chromedp.CSS(`#audit + .scroll tbody`)))
	if !strings.Contains(trail, "console:"+customerAdmin.Email) {
		b.Fatalf("the audit trail does not name the admin who added the person:\n%s", trail)
	}

	// Olga's invite runs out two seconds after it was sent.
	for deadline := time.Now().Add(10 * time.Second); getCard(t, r, "acme", expired.ID).Status != "invite_expired"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Olga's card is %s 10 s after her 2 s invite, want invite_expired", getCard(t, r, "acme", expired.ID).Status)
		}
	}
	b.Step("list the expired invites",
		chromedp.Navigate(r.URL+"/console/t/acme/users?status=invite_expired"),
		chromedp.WaitVisible(chromedp.CSS(`#bulk tbody a[href$="/cards/`+expired.ID+`"]`)),
	)
	b.Step("open the expired invite",
		browsertest.Load(chromedp.Click(chromedp.CSS(`#bulk tbody a[href$="/cards/`+expired.ID+`"]`))),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/reinvite"]`)),
	)
	b.CheckA11y("card with an expired invite")
	b.Step("re-invite",
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[action$="/reinvite"] button`))),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	flash = browsertest.Value(b, "read the message", chromedp.Text(chromedp.CSS("p.flash")))
	status := browsertest.Value(b, "read the status", chromedp.Text(chromedp.CSS("h1 .status")))
	if !strings.HasPrefix(flash, "Invited again: the new invite runs out on ") || status != "Invite pending" {
		b.Fatalf("after re-inviting the page says %q, status %q", flash, status)
	}
	if c := getCard(t, r, "acme", expired.ID); c.Status != "invite_pending" {
		t.Fatalf("after the re-invite Olga's card is %s", c.Status)
	}

	// Ann is disabled: her console session ends at her next request.
	var anns struct {
		Cards []apiCard `json:"cards"`
	}
	api(t, r, "GET", "/tenants/acme/cards?q=ann.admin", nil, &anns)
	if len(anns.Cards) != 1 {
		t.Fatalf("the API finds %d cards for Ann", len(anns.Cards))
	}
	api(t, r, "POST", "/tenants/acme/cards/"+anns.Cards[0].ID+"/disable", map[string]any{"reason": "left"}, nil)
	a := same.do("GET", "/console/t/acme/users", nil)
	must(t, a, http.StatusUnauthorized, "the session of a disabled admin")
	if !strings.Contains(a.Body, "no longer an enabled admin") {
		t.Errorf("the end of the session does not say why:\n%s", a.Body)
	}
	a = same.do("GET", "/console/t/acme/users", nil)
	if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Location, "/console/sign-in") {
		t.Fatalf("after the session ended: %d %s, want the sign-in form", a.Status, a.Location)
	}
}

// TestSSOSignInNeedsAdmin: a person whose card's role is not admin signs
// in at the IdP and is refused a console session.
func TestSSOSignInNeedsAdmin(t *testing.T) {
	idp := ssptest.Start(t, customerAdmin, customerStaff)
	r := browsertest.StartRosterd(t, browsertest.Options{Config: ssoConfig(idp.MetadataURL)})
	idp.TrustSP(t, r.URL+"/saml/acme/metadata")
	api(t, r, "POST", "/tenants/acme/cards/invite", map[string]any{"emails": []string{customerStaff.Email}, "role": "viewer"}, nil)

	b := newBrowser(t, idp.Base)
	b.Step("start SSO",
		chromedp.Navigate(r.URL+"/console/sso/start?tenant=acme"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), customerStaff.Username),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), customerStaff.Password),
	)
	// The refusal is a 403 page, which Chromium logs: read it from the
	// step's failure instead of failing, by waiting for it plainly.
	ctx, cancel := context.WithTimeout(b.Context(), browsertest.StepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Submit(chromedp.CSS(`input[name="password"]`)))
		return err
	})); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.error")))
	if err != nil || !strings.Contains(text, "the console is for your organization's admins") {
		t.Fatalf("a viewer's SSO sign-in: %q, %v", text, err)
	}
	who, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".who").length`))
	if who != 0 {
		t.Fatalf("a viewer got a console session")
	}
}

// consoleCookie is the browser's console session cookie.
func consoleCookie(b *browsertest.Browser, r *browsertest.Rosterd) string {
	var id string
	b.Step("read the session cookie", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{r.URL + "/console/"}})
		for _, ck := range res.Cookies {
			if ck.Name == "rosterd_console" {
				id = ck.Value
			}
		}
		return err
	}))
	return id
}

var continueA = regexp.MustCompile(`<a class="button" id="sso-continue" href="([^"]+)"`)

// TestSSOSignInGoesToNext: a customer admin who opened a console page
// signed out signs in with SSO and lands on that page; a next that is off
// the console (an open redirect's), or another tenant's page, lands on
// the tenant's users instead. The SAML round trip is driven over HTTP as
// a browser makes it, through SimpleSAMLphp.
func TestSSOSignInGoesToNext(t *testing.T) {
	idp := ssptest.Start(t, customerAdmin)
	r := browsertest.StartRosterd(t, browsertest.Options{Config: ssoConfig(idp.MetadataURL)})
	idp.TrustSP(t, r.URL+"/saml/acme/metadata")
	api(t, r, "POST", "/tenants/acme/cards/invite", map[string]any{"emails": []string{customerAdmin.Email}, "role": "admin"}, nil)

	read := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	// signIn opens page signed out, signs in with SSO from the sign-in
	// form it is sent to (or, for a /console/sso/start URL, as a link
	// made elsewhere would start it), and returns where the browser ends.
	signIn := func(open string) string {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		start := r.URL + open
		if !strings.HasPrefix(open, "/console/sso/start") {
			resp, page := read(browser.Get(r.URL + open))
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/sign-in" {
				t.Fatalf("opening %s signed out: %d at %s", open, resp.StatusCode, resp.Request.URL)
			}
			action, fields := ssptest.Form(t, page, "/console/sso", resp.Request.URL)
			fields.Set("email", customerAdmin.Email)
			resp, page = read(browser.PostForm(action, fields))
			m := continueA.FindStringSubmatch(page)
			if resp.StatusCode != http.StatusOK || m == nil {
				t.Fatalf("the SSO form answered %d with no way on: %.1500s", resp.StatusCode, page)
			}
			u, _ := url.Parse(html.UnescapeString(m[1]))
			start = resp.Request.URL.ResolveReference(u).String()
		}
		resp, page := read(browser.Get(start))
		action, fields := ssptest.Form(t, page, "", resp.Request.URL)
		if _, ok := fields["password"]; !ok {
			t.Fatalf("the IdP's page at %s has no password field: %.1500s", resp.Request.URL, page)
		}
		fields.Set("username", customerAdmin.Username)
		fields.Set("password", customerAdmin.Password)
		resp, page = read(browser.PostForm(action, fields))
		action, fields = ssptest.Form(t, page, "", resp.Request.URL)
		if action != r.URL+"/saml/acme/acs" || fields.Get("SAMLResponse") == "" {
			t.Fatalf("the IdP answered %d with a form to %s: %.1500s", resp.StatusCode, action, page)
		}
		resp, page = read(browser.PostForm(action, fields))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as "+customerAdmin.Email+".") {
			t.Fatalf("after SSO: %d at %s: %.1500s", resp.StatusCode, resp.Request.URL, page)
		}
		return strings.TrimPrefix(resp.Request.URL.String(), r.URL)
	}

	for _, tc := range []struct{ open, land string }{
		{"/console/t/acme/users?status=disabled", "/console/t/acme/users?status=disabled"},
		{"/console/sign-in?next=" + url.QueryEscape("https://evil.example/"), "/console/t/acme/users"},
		{"/console/sign-in?next=" + url.QueryEscape("//evil.example/console/"), "/console/t/acme/users"},
		{"/console/t/globex/users", "/console/t/acme/users"},
		// A start link made by someone else: its next is checked too.
		{"/console/sso/start?tenant=acme&next=" + url.QueryEscape("/console/t/acme/runs"), "/console/t/acme/runs"},
		{"/console/sso/start?tenant=acme&next=" + url.QueryEscape("https://evil.example/"), "/console/t/acme/users"},
		{"/console/sso/start?tenant=acme&next=" + url.QueryEscape("/console/\\evil.example"), "/console/t/acme/users"},
	} {
		if got := signIn(tc.open); got != tc.land {
			t.Errorf("signed in with SSO from %s: at %s, want %s", tc.open, got, tc.land)
		}
	}
}
