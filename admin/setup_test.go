package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// browser is a client with its own cookies.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func open(t *testing.T, c *http.Client, url string) (int, map[string]any, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return res.StatusCode, body, string(raw)
}

// TestSetupLinks: a link made by an operator opens once into a browser
// session scoped to its tenant and parts; another browser cannot use it;
// it ends when it expires or is revoked.
func TestSetupLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(400, "POST", "/api/v1/tenants/acme/setup-links", map[string]any{"parts": []string{"saml", "payroll"}, "ttl": "9000h"})
		r := e.op(201, "POST", "/api/v1/tenants/acme/setup-links", map[string]any{"parts": []string{"scim", "saml"}})
		url := r.Body["url"].(string)
		if !strings.HasPrefix(url, e.url+"/setup/rsl_") {
			t.Fatalf("link: %s", r.Raw)
		}
		link := r.Body["link"].(map[string]any)
		if exp, _ := time.Parse(time.RFC3339, link["expires_at"].(string)); !exp.Equal(e.clock.Now().Add(7 * 24 * time.Hour)) {
			t.Fatalf("default expiry %v", link["expires_at"])
		}

		// Opened: a session of acme, for SAML and SCIM.
		admin := e.browser()
		code, body, raw := open(t, admin, url)
		if code != 200 || body["tenant"] != "acme" || strings.Join(anyStrings(body["parts"]), ",") != "saml,scim" {
			t.Fatalf("opening the link: %d %s", code, raw)
		}
		if code, _, _ := open(t, admin, url); code != 200 {
			t.Fatalf("the same browser opening it again: %d", code)
		}
		// Another browser: the link is spent.
		if code, _, raw := open(t, e.browser(), url); code != 410 || !strings.Contains(raw, "opened already") {
			t.Fatalf("another browser: %d %s", code, raw)
		}
		if code, _, _ := open(t, e.browser(), e.url+"/api/v1/setup/session"); code != 401 {
			t.Fatalf("a session without the link: %d", code)
		}
		listed := e.op(200, "GET", "/api/v1/tenants/acme/setup-links", nil)
		if strings.Contains(listed.Raw, strings.TrimPrefix(url, e.url+"/setup/")) || !strings.Contains(listed.Raw, `"redeemed_at"`) {
			t.Fatalf("list: %s", listed.Raw)
		}

		// Expired: the session ends, and an unopened link no longer opens.
		unopened := e.op(201, "POST", "/api/v1/tenants/acme/setup-links", map[string]any{"parts": []string{"feeds"}, "ttl": "1h"}).Body["url"].(string)
		e.clock.Advance(7*24*time.Hour + time.Second)
		if code, _, _ := open(t, admin, e.url+"/api/v1/setup/session"); code != 401 {
			t.Fatalf("an expired session: %d", code)
		}
		if code, _, _ := open(t, e.browser(), unopened); code != 410 {
			t.Fatalf("an expired link: %d", code)
		}

		// Revoked: its open session ends at once.
		r = e.op(201, "POST", "/api/v1/tenants/acme/setup-links", map[string]any{"parts": []string{"saml"}})
		b := e.browser()
		if code, _, _ := open(t, b, r.Body["url"].(string)); code != 200 {
			t.Fatalf("a fresh link: %d", code)
		}
		e.op(204, "DELETE", "/api/v1/tenants/acme/setup-links/"+r.Body["link"].(map[string]any)["id"].(string), nil)
		if code, _, _ := open(t, b, e.url+"/api/v1/setup/session"); code != 401 {
			t.Fatalf("the session of a revoked link: %d", code)
		}
		if code, _, _ := open(t, e.browser(), r.Body["url"].(string)); code != 410 {
			t.Fatalf("a revoked link: %d", code)
		}
		e.op(404, "DELETE", "/api/v1/tenants/acme/setup-links/nope", nil)
	})
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
