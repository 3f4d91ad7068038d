package notify_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/notify"
	"github.com/rosterd/rosterd/store"
)

// mailedLink invites a person and returns the link of the mail that
// reached the capture server.
func (e *env) mailedLink(smtp *smtpCapture, email string) (directory.Card, string) {
	e.t.Helper()
	card := e.invite(email)
	if res := e.runOnce(e.mailer(smtp.url(), notify.Options{})); res.Sent != 1 {
		e.t.Fatalf("RunOnce = %+v, want the invite sent", res)
	}
	msgs := smtp.messages()
	link := linkRE.FindString(msgs[len(msgs)-1].Text)
	if link == "" {
		e.t.Fatalf("no link in the mail:\n%s", msgs[len(msgs)-1].Text)
	}
	return card, link
}

// unchanged fails the test when the card was accepted, a login code was
// minted, or an audit line was added since auditLines.
func (e *env) unchanged(what string, cardID string, auditLines int) {
	e.t.Helper()
	card, err := e.st.GetCard(e.ctx, "acme", cardID)
	if err != nil {
		e.t.Fatal(err)
	}
	if s := directory.StatusOf(card, e.clock.Now()); s != directory.InvitePending || !card.FirstLoginAt.IsZero() {
		e.t.Errorf("after %s the card is %s (first login %v); want invite_pending", what, s, card.FirstLoginAt)
	}
	if n := e.minted.Load(); n != 0 {
		e.t.Errorf("after %s %d login codes were minted", what, n)
	}
	if got := e.auditLines(cardID); got != auditLines {
		e.t.Errorf("after %s the card has %d audit lines, want %d", what, got, auditLines)
	}
}

func (e *env) auditLines(cardID string) int {
	e.t.Helper()
	audit, err := e.st.ListAudit(e.ctx, "acme", cardID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(audit)
}

// TestOpeningInviteLinkChangesNothing: what a mail scanner or a chat
// preview does — HEAD and GET of the link, either form, several times —
// accepts nothing: the card stays invite_pending, no login code is
// minted, no audit line written. The GET shows a page naming the tenant
// and the person, with one form and one button, and no script. Pressing
// the button accepts, once.
func TestOpeningInviteLinkChangesNothing(t *testing.T) {
	for name, open := range map[string]func(*testing.T) store.Backend{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			smtp := newCapture(t)
			smtp.start()
			e := newEnv(t, open(t))
			card, link := e.mailedLink(smtp, "Ann.Lee@Example.com")
			lines := e.auditLines(card.ID)
			short := strings.Replace(link, "/invite/acme/", "/invite/", 1)
			for _, u := range []string{link, short} {
				for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodGet} {
					req, _ := http.NewRequest(method, u, nil)
					resp, err := http.DefaultTransport.RoundTrip(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%s %s = %d, want 200 (the confirmation page)", method, u, resp.StatusCode)
					}
					h := resp.Header
					csp := h.Get("Content-Security-Policy")
					if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" ||
						!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
						strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
						t.Errorf("%s %s headers: %v", method, u, h)
					}
					var cookie *http.Cookie
					for _, c := range resp.Cookies() {
						if c.Name == "rosterd_invite_csrf" {
							cookie = c
						}
					}
					if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
						t.Errorf("%s %s: CSRF cookie %+v, want HttpOnly SameSite=Strict", method, u, cookie)
					}
					if method == http.MethodHead {
						continue
					}
					page := string(body)
					for _, want := range []string{`<html lang="en">`, "<h1>", "Acme Inc.", "Ann.Lee@Example.com", `<form method="post">`,
						`<button type="submit">Accept the invitation</button>`, `name="csrf" value="` + cookie.Value + `"`} {
						if !strings.Contains(page, want) {
							t.Errorf("GET %s: page lacks %q:\n%s", u, want, page)
						}
					}
					if strings.Contains(page, "<script") || strings.Contains(page, " style=") || strings.Count(page, "<button") != 1 {
						t.Errorf("GET %s: page has a script, an inline style attribute, or not one button:\n%s", u, page)
					}
					// The one style sheet is the one the CSP allows by hash.
					if _, rest, ok := strings.Cut(page, "<style>"); ok {
						css, _, _ := strings.Cut(rest, "</style>")
						sum := sha256.Sum256([]byte(css))
						if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
							t.Errorf("CSP %q does not allow the page's style sheet (%s)", csp, want)
						}
					}
				}
			}
			e.unchanged("HEAD and GET of the link", card.ID, lines)

			// A week later, still pending, the button works.
			e.clock.Advance(6 * 24 * time.Hour)
			resp := accept(t, link)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), callback+"?code=rlc_") {
				t.Fatalf("accepting = %d %q, want 303 to the callback with a code", resp.StatusCode, resp.Header.Get("Location"))
			}
			after, _ := e.st.GetCard(e.ctx, "acme", card.ID)
			if directory.StatusOf(after, e.clock.Now()) != directory.Active || e.minted.Load() != 1 || e.auditLines(card.ID) != lines+1 {
				t.Errorf("after accepting: %s, %d codes, %d audit lines (was %d)", directory.StatusOf(after, e.clock.Now()), e.minted.Load(), e.auditLines(card.ID), lines)
			}
			// Spent: the page now says so, and offers no button.
			if resp := get(t, link); resp.StatusCode != http.StatusGone || strings.Contains(bodyOf(resp), "<form") {
				t.Errorf("GET of the spent link = %d, want 410 without a form", resp.StatusCode)
			}
		})
	}
}

// TestAcceptingNeedsTheCSRFToken: a POST of the link without the form's
// token, without the cookie, or with one that differs is refused with 403
// and changes nothing; an unknown form field is a 400.
func TestAcceptingNeedsTheCSRFToken(t *testing.T) {
	smtp := newCapture(t)
	smtp.start()
	e := newEnv(t, openSQLite(t))
	card, link := e.mailedLink(smtp, "bo@example.com")
	lines := e.auditLines(card.ID)

	// A browser that opened the page: it holds the cookie.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	good := string(m[1])
	wrong := strings.Repeat("A", len(good))
	noCookie := &http.Client{CheckRedirect: browser.CheckRedirect}
	short := strings.Replace(link, "/invite/acme/", "/invite/", 1)

	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		form   url.Values
		status int
	}{
		{"no token", browser, link, url.Values{}, http.StatusForbidden},
		{"empty token", browser, link, url.Values{"csrf": {""}}, http.StatusForbidden},
		{"wrong token", browser, link, url.Values{"csrf": {wrong}}, http.StatusForbidden},
		{"wrong token, tenant-less link", browser, short, url.Values{"csrf": {wrong}}, http.StatusForbidden},
		{"the token without the cookie (another site's form)", noCookie, link, url.Values{"csrf": {good}}, http.StatusForbidden},
		{"an unknown field", browser, link, url.Values{"csrf": {good}, "accept": {"yes"}}, http.StatusBadRequest},
	} {
		resp, err := tc.client.PostForm(tc.url, tc.form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: POST = %d, want %d\n%s", tc.name, resp.StatusCode, tc.status, b)
		}
		if tc.status == http.StatusForbidden && !strings.Contains(string(b), "Open the invitation link from your email again") {
			t.Errorf("%s: the 403 page does not say what to do:\n%s", tc.name, b)
		}
	}
	e.unchanged("refused POSTs", card.ID, lines)

	// A cookie set by another page (a second GET) still pairs with its
	// own form: the browser's one cookie is kept, not replaced.
	again, _ := browser.Get(link)
	b, _ := io.ReadAll(again.Body)
	again.Body.Close()
	if m := csrfRE.FindSubmatch(b); m == nil || string(m[1]) != good {
		t.Errorf("a second GET changed the CSRF token the first page holds")
	}
	resp, err = browser.PostForm(link, url.Values{"csrf": {good}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), callback+"?code=rlc_") {
		t.Fatalf("POST with the right token = %d %q, want 303 to the callback", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e.auditLines(card.ID) != lines+1 {
		t.Errorf("accepted: %d audit lines, want %d", e.auditLines(card.ID), lines+1)
	}
	// Pressed twice (a double click, the back button): the invite is spent.
	resp, _ = browser.PostForm(link, url.Values{"csrf": {good}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("second POST = %d, want 410", resp.StatusCode)
	}
}
