package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store/storetest"
)

// op sends a request with the operator key and fails unless it answers want.
func (e *env) op(want int, method, path string, body any) response {
	e.t.Helper()
	r := e.do(method, path, opKey, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// scimAs sends a SCIM request to tenant with token.
func (e *env) scimAs(tenant, token, method, path string, body any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+"/scim/"+tenant+"/v2"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func scimUser(email string) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": email,
		"emails": []map[string]any{{"value": email, "primary": true}}, "active": true}
}

// TestOnboardTenantOverHTTP: an operator creates a tenant and a SCIM
// connection through the API; the connection's token (shown once) works
// at once; rotation keeps the old token for the overlap; a revoked token
// and a retired tenant stop working; every change is audited and on the
// event feed.
func TestOnboardTenantOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech", "name": "Initech", "invite": "none",
			"safety": map[string]any{"max_disable_count": 0}})
		if r.Body["managed_by"] != "api" || r.Header.Get("Location") != "/api/v1/tenants/initech" {
			t.Fatalf("created: %s", r.Raw)
		}
		settings := r.Body["settings"].(map[string]any)
		if settings["invite"] != "none" || settings["safety"].(map[string]any)["max_disable_count"] != 0.0 {
			t.Fatalf("settings: %v", settings)
		}
		e.op(409, "POST", "/api/v1/tenants", map[string]any{"id": "initech"})

		c := e.op(201, "POST", "/api/v1/tenants/initech/scim-connections", map[string]any{"name": "okta"})
		token, _ := c.Body["token"].(string)
		conn := c.Body["connection"].(map[string]any)
		connID := conn["id"].(string)
		if !strings.HasPrefix(token, "rst_") || c.Body["scim_base_url"] != e.url+"/scim/initech/v2" || conn["authoritative"] != true {
			t.Fatalf("connection: %s", c.Raw)
		}
		if got := e.scimAs("initech", token, "POST", "/Users", scimUser("ann@initech.test")); got != 201 {
			t.Fatalf("SCIM POST with the new token: %d", got)
		}
		if got := e.scimAs("acme", token, "GET", "/Users", nil); got != 401 {
			t.Fatalf("initech's token at acme: %d", got)
		}
		if strings.Contains(e.op(200, "GET", "/api/v1/tenants/initech/scim-connections", nil).Raw, token) {
			t.Fatal("the token is shown again")
		}

		// Rotation: a new token; the old one works for the overlap only.
		rot := e.op(201, "POST", "/api/v1/tenants/initech/scim-connections/"+connID+"/tokens", map[string]any{"rotate_overlap": "1h"})
		newToken := rot.Body["token"].(string)
		if got := e.scimAs("initech", token, "GET", "/Users", nil); got != 200 {
			t.Fatalf("the old token within the overlap: %d", got)
		}
		if got := e.scimAs("initech", newToken, "GET", "/Users", nil); got != 200 {
			t.Fatalf("the new token: %d", got)
		}
		got := e.op(200, "GET", "/api/v1/tenants/initech/scim-connections/"+connID, nil)
		toks := got.Body["tokens"].([]any)
		if len(toks) != 2 || toks[0].(map[string]any)["expires_at"] == nil || toks[1].(map[string]any)["expires_at"] != nil {
			t.Fatalf("tokens after rotation: %s", got.Raw)
		}
		oldID := toks[0].(map[string]any)["id"].(string)
		e.op(204, "DELETE", "/api/v1/tenants/initech/scim-connections/"+connID+"/tokens/"+oldID, nil)
		if got := e.scimAs("initech", token, "GET", "/Users", nil); got != 401 {
			t.Fatalf("a revoked token: %d", got)
		}

		// Retired: SCIM stops answering for it; restored, it comes back.
		e.op(200, "DELETE", "/api/v1/tenants/initech", nil)
		if got := e.scimAs("initech", newToken, "GET", "/Users", nil); got != 404 {
			t.Fatalf("a retired tenant's token: %d, want 404", got)
		}
		if r := e.op(200, "GET", "/api/v1/tenants/initech", nil); r.Body["retired"] != true {
			t.Fatalf("retired tenant: %s", r.Raw)
		}
		e.op(200, "POST", "/api/v1/tenants/initech/restore", nil)
		if got := e.scimAs("initech", newToken, "GET", "/Users", nil); got != 200 {
			t.Fatalf("the restored tenant's token: %d", got)
		}
		e.op(204, "DELETE", "/api/v1/tenants/initech/scim-connections/"+connID, nil)
		if got := e.scimAs("initech", newToken, "GET", "/Users", nil); got != 401 {
			t.Fatalf("a deleted connection's token: %d", got)
		}

		// Every change: an audit line by the operator (no token in it) and
		// an event.
		audit, _ := e.store.ListTenantAudit(context.Background(), "initech", 0, 100)
		var actions []string
		for _, a := range audit {
			if a.CardID != "" {
				continue // the card SCIM made
			}
			actions = append(actions, a.Action)
			if a.Actor != "admin:operator" || strings.Contains(string(a.After)+string(a.Before)+a.Detail, token) {
				t.Errorf("audit line %+v", a)
			}
		}
		want := "tenant.created connection.created connection.token_rotated connection.token_revoked tenant.retired tenant.restored connection.deleted"
		if strings.Join(actions, " ") != want {
			t.Fatalf("audit actions %q, want %q", strings.Join(actions, " "), want)
		}
		events := e.op(200, "GET", "/api/v1/tenants/initech/events", nil).Raw
		for _, typ := range strings.Fields(want) {
			if !strings.Contains(events, `"type":"`+typ+`"`) {
				t.Errorf("no %s event in %s", typ, events)
			}
		}
	})
}

// TestRegistryNeedsAnOperatorAndSparesTheFile: only an operator key
// manages tenants, and the API refuses to change what the file manages,
// naming the file.
func TestRegistryNeedsAnOperatorAndSparesTheFile(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	if r := e.do("POST", "/api/v1/tenants", rwKey, map[string]any{"id": "x"}); r.Status != 403 || !strings.Contains(r.Raw, "operator_required") {
		t.Fatalf("a key without the operator scope: %d %s", r.Status, r.Raw)
	}
	if r := e.do("GET", "/api/v1/tenants/acme", rwKey, nil); r.Status != 403 {
		t.Fatalf("a key without the operator scope reads the registry: %d %s", r.Status, r.Raw)
	}
	r := e.op(409, "PATCH", "/api/v1/tenants/acme", map[string]any{"name": "Acme 2"})
	if !strings.Contains(r.Raw, "managed_by_config") || !strings.Contains(r.Raw, "rosterd.yaml") {
		t.Fatalf("changing a tenant of the file: %s", r.Raw)
	}
	e.op(409, "POST", "/api/v1/tenants/acme/scim-connections", map[string]any{"name": "extra"})
	e.op(409, "DELETE", "/api/v1/tenants/acme", nil)
	e.op(404, "GET", "/api/v1/tenants/nobody", nil)
}

// TestTenantDocumentProblems: every problem of a document at once, each
// with its JSON path, by the file's rules; nothing is created.
func TestTenantDocumentProblems(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	r := e.op(400, "POST", "/api/v1/tenants", map[string]any{"id": "Bad!", "invite": "sms", "colour": "red",
		"safety": map[string]any{"max_disable_percent": 200}, "saml": map[string]any{"idp_metadata_file": "/etc/passwd"},
		"feeds": []any{map[string]any{"name": "hr", "kind": "file", "source": "dir:///tmp/*.csv"}}})
	paths := map[string]bool{}
	for _, p := range r.Body["problems"].([]any) {
		paths[p.(map[string]any)["path"].(string)] = true
	}
	for _, want := range []string{"id", "invite", "safety.max_disable_percent", "saml.idp_metadata_file", "app_callback_url"} {
		if !paths[want] {
			t.Errorf("no problem at %s: %s", want, r.Raw)
		}
	}
	if !strings.Contains(r.Raw, `unknown key \"colour\"`) {
		t.Errorf("the unknown key is not named: %s", r.Raw)
	}
	e.op(404, "GET", "/api/v1/tenants/Bad!", nil)
	r = e.op(400, "POST", "/api/v1/tenants", map[string]any{"id": "ok", "feeds": []any{map[string]any{"name": "hr", "kind": "file",
		"source": "dir:///tmp/*.csv"}}})
	if !strings.Contains(r.Raw, `"path":"feeds"`) {
		t.Errorf("feeds through the API: %s", r.Raw)
	}
	e.op(400, "POST", "/api/v1/tenants", "id: yaml")
	r = e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "ok", "domains": []string{"ok.test"}})
	// A domain belongs to one tenant.
	r = e.op(400, "POST", "/api/v1/tenants", map[string]any{"id": "other", "domains": []string{"other.test", "ok.test"}})
	if !strings.Contains(r.Raw, `"path":"domains[1]"`) || !strings.Contains(r.Raw, `belongs to tenant \"ok\"`) {
		t.Errorf("another tenant's domain: %s", r.Raw)
	}
	r = e.op(400, "PATCH", "/api/v1/tenants/ok", map[string]any{"id": "other", "reminder_interval": "-1h"})
	if !strings.Contains(r.Raw, `"path":"id"`) || !strings.Contains(r.Raw, `"path":"reminder_interval"`) {
		t.Errorf("PATCH problems: %s", r.Raw)
	}
}

// TestKeysAPI: an operator lists, makes and revokes admin keys; a revoked
// key stops working at once; a key of the file cannot be revoked here.
func TestKeysAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if r := e.do("GET", "/api/v1/keys", rwKey, nil); r.Status != 403 {
			t.Fatalf("keys with a key that is no operator's: %d", r.Status)
		}
		r := e.op(201, "POST", "/api/v1/keys", map[string]any{"name": "acme-bot", "tenant": "acme", "read_only": true})
		secret := r.Body["key"].(string)
		if r := e.do("GET", "/api/v1/tenants/acme/cards", secret, nil); r.Status != 200 {
			t.Fatalf("the new key: %d %s", r.Status, r.Raw)
		}
		e.op(400, "POST", "/api/v1/keys", map[string]any{"name": "bad name", "tenant": "acme", "scopes": []string{"root"}})
		list := e.op(200, "GET", "/api/v1/keys", nil)
		if strings.Contains(list.Raw, secret) || strings.Contains(list.Raw, "hash") {
			t.Fatalf("the list shows a secret: %s", list.Raw)
		}
		var id string
		for _, k := range list.Body["keys"].([]any) {
			k := k.(map[string]any)
			if k["name"] == "acme-bot" {
				id = k["id"].(string)
			}
		}
		if id == "" || !strings.Contains(list.Raw, `"id":"config:ops"`) {
			t.Fatalf("keys: %s", list.Raw)
		}
		e.op(409, "DELETE", "/api/v1/keys/config:ops", nil)
		e.op(204, "DELETE", "/api/v1/keys/"+id, nil)
		if r := e.do("GET", "/api/v1/tenants/acme/cards", secret, nil); r.Status != 401 {
			t.Fatalf("the revoked key: %d", r.Status)
		}
		e.op(404, "DELETE", "/api/v1/keys/"+id, nil)
	})
}

// TestSAMLConnectionOverHTTP: an operator sets a tenant's SAML through its
// connection endpoint, gets the SP's URLs for the IdP, and removes it;
// bad settings name their path; the file's tenants are refused.
func TestSAMLConnectionOverHTTP(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech", "app_callback_url": "https://app.test/cb"})
	r := e.op(400, "PUT", "/api/v1/tenants/initech/saml-connection", map[string]any{"idp_metadata_url": "http://idp.test/md", "clock_skew": "-1s"})
	if !strings.Contains(r.Raw, `"path":"saml.idp_metadata_url"`) || !strings.Contains(r.Raw, `"path":"saml.clock_skew"`) {
		t.Fatalf("bad SAML settings: %s", r.Raw)
	}
	r = e.op(200, "PUT", "/api/v1/tenants/initech/saml-connection", map[string]any{"idp_metadata_url": "https://idp.test/md",
		"attributes": map[string]string{"given_name": "firstName"}})
	sp := r.Body["sp"].(map[string]any)
	if r.Body["configured"] != true || sp["acs_url"] != e.url+"/saml/initech/acs" || sp["entity_id"] != e.url+"/saml/initech/metadata" ||
		r.Body["settings"].(map[string]any)["idp_metadata_url"] != "https://idp.test/md" {
		t.Fatalf("SAML connection: %s", r.Raw)
	}
	e.op(204, "DELETE", "/api/v1/tenants/initech/saml-connection", nil)
	if r := e.op(200, "GET", "/api/v1/tenants/initech/saml-connection", nil); r.Body["configured"] != false {
		t.Fatalf("after DELETE: %s", r.Raw)
	}
	e.op(409, "PUT", "/api/v1/tenants/acme/saml-connection", map[string]any{"idp_metadata_url": "https://idp.test/md"})
}
