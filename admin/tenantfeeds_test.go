package admin

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// badFeeds is the file's table of feeds it refuses (config's
// TestDecodeFeedIsTheFile holds the file to it).
func badFeeds(t *testing.T) []badDoc { return badDocs(t, "bad_feeds.json") }

// badDoc is a document the file refuses and the paths of its problems.
type badDoc struct {
	Name  string          `json:"name"`
	Doc   json.RawMessage `json:"doc"`
	Paths []string        `json:"paths"`
}

func badDocs(t *testing.T, name string) []badDoc {
	b, err := os.ReadFile("../config/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []badDoc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func problemPathsOf(r response) []string {
	var out []string
	ps, _ := r.Body["problems"].([]any)
	for _, p := range ps {
		out = append(out, p.(map[string]any)["path"].(string))
	}
	return out
}

// TestFeedValidationIsTheFile: every feed (and webhook endpoint) the
// configuration file refuses, POST …/feeds (…/webhooks) refuses with 400
// and the same problems at the same JSON paths; nothing is stored.
func TestFeedValidationIsTheFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech"})
		for _, tc := range badFeeds(t) {
			r := e.op(400, "POST", "/api/v1/tenants/initech/feeds", string(tc.Doc))
			if got := problemPathsOf(r); r.errCode() != "invalid_document" || !reflect.DeepEqual(got, tc.Paths) {
				t.Errorf("%s: %v (%s), the file says %v", tc.Name, got, r.Raw, tc.Paths)
			}
		}
		if r := e.op(200, "GET", "/api/v1/tenants/initech/feeds", nil); len(r.Body["feeds"].([]any)) != 0 {
			t.Fatalf("a refused feed was stored: %s", r.Raw)
		}
		for _, tc := range badDocs(t, "bad_webhooks.json") {
			r := e.op(400, "POST", "/api/v1/tenants/initech/webhooks", string(tc.Doc))
			if got := problemPathsOf(r); r.errCode() != "invalid_document" || !reflect.DeepEqual(got, tc.Paths) {
				t.Errorf("webhook %s: %v (%s), the file says %v", tc.Name, got, r.Raw, tc.Paths)
			}
		}
		if r := e.op(200, "GET", "/api/v1/tenants/initech/webhooks", nil); len(r.Body["webhooks"].([]any)) != 0 {
			t.Fatalf("a refused endpoint was stored: %s", r.Raw)
		}
		// The API reads no files.
		r := e.op(400, "POST", "/api/v1/tenants/initech/feeds", `{"name": "hr", "kind": "file", "source": "sftp://hr@sftp.test/out/*.csv",
			"sftp": {"known_hosts_file": "/etc/ssh/known_hosts", "password_file": "/etc/pw"}}`)
		if got := problemPathsOf(r); !reflect.DeepEqual(got, []string{"sftp.known_hosts_file", "sftp.password_file"}) &&
			!reflect.DeepEqual(got, []string{"sftp.password_file", "sftp.known_hosts_file"}) {
			t.Fatalf("*_file keys: %s", r.Raw)
		}
		// Every problem at once.
		r = e.op(400, "POST", "/api/v1/tenants/initech/feeds", `{"name": "HR", "kind": "file", "schedule": "often", "source": "ftp://x/y"}`)
		if got := problemPathsOf(r); len(got) != 3 {
			t.Fatalf("three problems: %s", r.Raw)
		}
	})
}

// TestFeedsAndWebhooksOverHTTP: an operator adds an SFTP feed, an LDAP
// feed and a webhook endpoint to a tenant; no answer ever holds their
// secrets; a patch keeps what it leaves out; the file's feeds and tenants
// answer 409; a tenant key cannot manage them; delete removes them.
func TestFeedsAndWebhooksOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const (
			sftpPassword = "sftp-password-not-to-be-shown"
			bindPassword = "bind-password-not-to-be-shown"
			hookSecret   = "hook-secret-0123456789abcdefghijklmnopqrstuvwxyz"
			hostKey      = "sftp.initech.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
		)
		var answers []string
		keep := func(r response) response { answers = append(answers, r.Raw); return r }
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech"})
		r := keep(e.op(201, "POST", "/api/v1/tenants/initech/feeds", map[string]any{"name": "hr", "kind": "file", "schedule": "0 6 * * 1",
			"timezone": "Europe/Berlin", "source": "sftp://hr@sftp.initech.test:22/outbox/*.csv",
			"sftp":    map[string]any{"password": sftpPassword, "known_hosts": hostKey},
			"columns": map[string]any{"Work Email": "email"}, "max_file_size": "10MiB"}))
		settings := r.Body["settings"].(map[string]any)
		if r.Header.Get("Location") != "/api/v1/tenants/initech/feeds/hr" || r.Body["managed_by"] != "api" ||
			settings["sftp"].(map[string]any)["password"] != "(redacted)" || settings["max_file_size"] != "10MiB" || settings["key"] != "email" {
			t.Fatalf("created: %s", r.Raw)
		}
		keep(e.op(201, "POST", "/api/v1/tenants/initech/feeds", map[string]any{"name": "corp", "kind": "ldap", "url": "ldaps://dc.initech.test",
			"bind_dn": "cn=rosterd,dc=initech,dc=test", "bind_password": bindPassword, "base_dn": "dc=initech,dc=test"}))
		if r := e.op(409, "POST", "/api/v1/tenants/initech/feeds", map[string]any{"name": "corp", "kind": "ldap", "url": "ldaps://dc.initech.test",
			"base_dn": "dc=initech,dc=test"}); r.errCode() != "already_exists" {
			t.Fatalf("the same name: %s", r.Raw)
		}

		// A patch: a new schedule; the secret stays (the feed still has
		// one), the name cannot change.
		r = keep(e.op(200, "PATCH", "/api/v1/tenants/initech/feeds/hr", map[string]any{"schedule": "@every 1h"}))
		if s := r.Body["settings"].(map[string]any); s["schedule"] != "@every 1h" || s["sftp"].(map[string]any)["password"] != "(redacted)" || r.Body["version"] != 2.0 {
			t.Fatalf("patched: %s", r.Raw)
		}
		r = e.op(400, "PATCH", "/api/v1/tenants/initech/feeds/hr", map[string]any{"name": "payroll", "timezone": "Nowhere/Land"})
		if got := problemPathsOf(r); !reflect.DeepEqual(got, []string{"name", "timezone"}) {
			t.Fatalf("rename and a bad zone: %s", r.Raw)
		}
		keep(e.op(200, "GET", "/api/v1/tenants/initech/feeds/hr", nil))
		e.op(404, "GET", "/api/v1/tenants/initech/feeds/nope", nil)
		keep(e.op(200, "GET", "/api/v1/tenants/initech/feeds", nil))

		// The file's tenants: acme has no api_may_extend.
		if r := e.op(409, "POST", "/api/v1/tenants/acme/feeds", map[string]any{"name": "x", "kind": "file", "source": "dir:///srv/x/*.csv"}); r.errCode() != "managed_by_config" {
			t.Fatalf("a feed for the file's tenant: %s", r.Raw)
		}
		// A tenant's own key manages no feeds.
		if r := e.do("POST", "/api/v1/tenants/initech/feeds", rwKey, map[string]any{"name": "x", "kind": "file", "source": "dir:///srv/x/*.csv"}); r.Status != 403 {
			t.Fatalf("a non-operator key: %d %s", r.Status, r.Raw)
		}

		// Webhooks.
		r = e.op(400, "POST", "/api/v1/tenants/initech/webhooks", map[string]any{"url": "http://app.initech.test/hooks", "secret": "short"})
		if got := problemPathsOf(r); !reflect.DeepEqual(got, []string{"url", "secret"}) {
			t.Fatalf("a bad endpoint: %s", r.Raw)
		}
		r = keep(e.op(201, "POST", "/api/v1/tenants/initech/webhooks", map[string]any{"url": "https://app.initech.test/hooks", "secret": hookSecret}))
		id, _ := r.Body["id"].(string)
		if !strings.HasPrefix(id, "wh_") || r.Body["signed"] != true || r.Header.Get("Location") != "/api/v1/tenants/initech/webhooks/"+id {
			t.Fatalf("endpoint: %s", r.Raw)
		}
		r = keep(e.op(200, "PATCH", "/api/v1/tenants/initech/webhooks/"+id, map[string]any{"url": "https://app.initech.test/hooks/v2"}))
		if r.Body["url"] != "https://app.initech.test/hooks/v2" || r.Body["signed"] != true {
			t.Fatalf("patched endpoint: %s", r.Raw)
		}
		r = keep(e.op(200, "GET", "/api/v1/tenants/initech/webhooks", nil))
		if hooks := r.Body["webhooks"].([]any); len(hooks) != 1 {
			t.Fatalf("endpoints: %s", r.Raw)
		}
		keep(e.op(200, "GET", "/api/v1/tenants/initech/webhooks/"+id, nil))
		// The audit trail and the event feed say what changed, without
		// the secrets.
		keep(e.op(200, "GET", "/api/v1/tenants/initech/audit", nil))
		ev := keep(e.op(200, "GET", "/api/v1/tenants/initech/events", nil))
		for _, want := range []string{"feed.created", "feed.updated", "webhook.created", "webhook.updated"} {
			if !strings.Contains(ev.Raw, want) {
				t.Errorf("no %s event: %s", want, ev.Raw)
			}
		}
		for _, a := range answers {
			for _, secret := range []string{sftpPassword, bindPassword, hookSecret} {
				if strings.Contains(a, secret) {
					t.Fatalf("an answer holds a secret: %s", a)
				}
			}
		}

		e.op(204, "DELETE", "/api/v1/tenants/initech/webhooks/"+id, nil)
		e.op(404, "GET", "/api/v1/tenants/initech/webhooks/"+id, nil)
		e.op(204, "DELETE", "/api/v1/tenants/initech/feeds/hr", nil)
		e.op(404, "DELETE", "/api/v1/tenants/initech/feeds/hr", nil)
		e.op(404, "GET", "/api/v1/tenants/initech/feeds/hr", nil)
		// Retired, its feeds are managed no more.
		e.op(200, "DELETE", "/api/v1/tenants/initech", nil)
		e.op(404, "POST", "/api/v1/tenants/initech/feeds", map[string]any{"name": "x", "kind": "file", "source": "dir:///srv/x/*.csv"})
	})
}
