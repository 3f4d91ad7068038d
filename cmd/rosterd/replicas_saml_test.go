package main

// The browser of the two-replicas test: it follows rosterd's redirect to
// SimpleSAMLphp, fills in the IdP's login form, and posts the IdP's
// auto-submitting form back to rosterd's ACS, as saml/peer_test.go does.

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/ssptest"
)

// samlLogin signs username in at public's /saml/{tenant}/login through the
// IdP, and returns rosterd's answer to the ACS post: a redirect to the
// platform's callback with a login code, when it worked.
func samlLogin(t *testing.T, public, tenant, username, password string) *http.Response {
	t.Helper()
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
	resp, page := read(browser.Get(public + "/saml/" + tenant + "/login"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the login page at %s: %d %.1500s", resp.Request.URL, resp.StatusCode, page)
	}
	action, fields := ssptest.Form(t, page, "", resp.Request.URL)
	if _, ok := fields["password"]; !ok {
		t.Fatalf("the IdP's page at %s has no password field: %.1500s", resp.Request.URL, page)
	}
	fields.Set("username", username)
	fields.Set("password", password)
	resp, page = read(browser.PostForm(action, fields))
	action, fields = ssptest.Form(t, page, "", resp.Request.URL)
	if action != public+"/saml/"+tenant+"/acs" || fields.Get("SAMLResponse") == "" {
		t.Fatalf("the IdP answered %d with a form to %s (%v): %.1500s", resp.StatusCode, action, fields, page)
	}
	resp, err := browser.PostForm(action, fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// balancer is the load balancer in front of the replicas: rosterd's
// public_url, forwarding to the replica set last.
type balancer struct {
	to atomic.Pointer[httputil.ReverseProxy]
}

func (b *balancer) route(base string) {
	u, _ := url.Parse(base)
	b.to.Store(httputil.NewSingleHostReverseProxy(u))
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := b.to.Load()
	if p == nil {
		http.Error(w, "no replica behind the balancer yet", http.StatusBadGateway)
		return
	}
	p.ServeHTTP(w, r)
}
