package admin

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/config"
)

// badFeeds is the file's table of feeds it refuses (config's
// TestDecodeFeedIsTheFile holds the file to it).
func badFeeds(t *testing.T) []badDoc { return badDocs(t, "bad_feeds.json") }

// badDoc is a document the file refuses and the paths of its problems.
type badDoc struct {
	Name string          `json:"name"`
	Doc  json.RawMessage `json:"doc"`
	// DropBox is the file's drop_box section the case holds under.
	DropBox json.RawMessage `json:"drop_box"`
	Paths   []string        `json:"paths"`
}

// apiDropBox is the daemon's drop box under a file with that drop_box
// section (none: nil, not enabled).
func apiDropBox(t *testing.T, section json.RawMessage) *config.DropBox {
	t.Helper()
	if len(section) == 0 {
		return nil
	}
	c, err := config.Parse([]byte("drop_box: "+string(section)+"\n"), "rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.APIDropBox()
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
		// A case under a drop_box section holds for a daemon whose file
		// has it.
		withDropBox := map[string]*env{}
		for _, tc := range badFeeds(t) {
			de := e
			if len(tc.DropBox) > 0 {
				if de = withDropBox[string(tc.DropBox)]; de == nil {
					de = newEnvWith(t, e.store, apiDropBox(t, tc.DropBox))
					withDropBox[string(tc.DropBox)] = de
				}
			}
			r := de.op(400, "POST", "/api/v1/tenants/initech/feeds", string(tc.Doc))
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

// TestUploadFeedNeedsTheDropBox: POST …/feeds with source: upload on a
// daemon whose file has no drop_box is a 400 at source telling the
// operator to enable it, and nothing is stored; with the drop box it is
// created, its upload secrets never shown.
func TestUploadFeedNeedsTheDropBox(t *testing.T) {
	const doc = `{"name": "hr", "kind": "file", "source": "upload", "run_on_upload": true,
		"upload": {"token": "hr-upload-token-0123456789abcdef0123", "password": "hr-sftp-password-0123"}}`
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech"})
		r := e.op(400, "POST", "/api/v1/tenants/initech/feeds", doc)
		if got := problemPathsOf(r); r.errCode() != "invalid_document" || !reflect.DeepEqual(got, []string{"source"}) || !strings.Contains(r.Raw, "enable drop_box in the configuration") {
			t.Fatalf("without the drop box: %s", r.Raw)
		}
		if r := e.op(200, "GET", "/api/v1/tenants/initech/feeds", nil); len(r.Body["feeds"].([]any)) != 0 {
			t.Fatalf("a refused feed was stored: %s", r.Raw)
		}
		// A tenant document's feeds are held to the same rule.
		r = e.op(400, "POST", "/api/v1/tenants", `{"id": "hooli", "feeds": [`+doc+`]}`)
		if got := problemPathsOf(r); !reflect.DeepEqual(got, []string{"feeds[0].source"}) {
			t.Fatalf("a tenant's upload feed without the drop box: %s", r.Raw)
		}

		on := newEnvWith(t, e.store, &config.DropBox{SFTPListen: "127.0.0.1:2222"})
		r = on.op(201, "POST", "/api/v1/tenants/initech/feeds", doc)
		if strings.Contains(r.Raw, "hr-upload-token") || strings.Contains(r.Raw, "hr-sftp-password") || !strings.Contains(r.Raw, `"source":"upload"`) {
			t.Fatalf("created: %s", r.Raw)
		}
		if r := on.op(200, "GET", "/api/v1/tenants/initech/feeds/hr", nil); strings.Contains(r.Raw, "hr-sftp-password") || !strings.Contains(r.Raw, `"password":"(redacted)"`) {
			t.Fatalf("shown: %s", r.Raw)
		}
	})
}
