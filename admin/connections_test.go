package admin

import (
	"context"
	"strings"
	"testing"
)

// as sends a request with key and fails unless it answers want.
func (e *env) as(key string, want int, method, path string, body any) response {
	e.t.Helper()
	r := e.do(method, path, key, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// newKey has the operator make an admin key and returns its secret.
func (e *env) newKey(name, tenant string, scopes ...string) string {
	e.t.Helper()
	body := map[string]any{"name": name, "tenant": tenant}
	if len(scopes) > 0 {
		body["scopes"] = scopes
	}
	return e.op(201, "POST", "/api/v1/keys", body).Body["key"].(string)
}

// TestTenantKeyManagesOwnConnections: a tenant's key with the
// connections scope manages that tenant's SCIM connections and tokens,
// SAML connection, domains and setup links over HTTP; it reaches nothing
// of another tenant (which is left unchanged), and neither creates,
// changes nor retires tenants, nor manages keys. A tenant key without
// the scope manages no connection.
func TestTenantKeyManagesOwnConnections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, id := range []string{"initech", "hooli"} {
			e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": id, "app_callback_url": "https://app.test/cb"})
		}
		ikey := e.newKey("initech-platform", "initech", "connections")
		plain := e.newKey("initech-plain", "initech")
		e.op(201, "POST", "/api/v1/tenants/hooli/scim-connections", map[string]any{"name": "okta"})
		hooliConns := e.op(200, "GET", "/api/v1/tenants/hooli/scim-connections", nil).Raw

		// Its own tenant: every kind of connection.
		const it = "/api/v1/tenants/initech"
		c := e.as(ikey, 201, "POST", it+"/scim-connections", map[string]any{"name": "okta"})
		connID, token := c.Body["connection"].(map[string]any)["id"].(string), c.Body["token"].(string)
		if got := e.scimAs("initech", token, "POST", "/Users", scimUser("ann@initech.test")); got != 201 {
			t.Fatalf("SCIM with the token the tenant's key made: %d", got)
		}
		e.as(ikey, 200, "GET", it+"/scim-connections", nil)
		e.as(ikey, 200, "GET", it+"/scim-connections/"+connID, nil)
		tok := e.as(ikey, 201, "POST", it+"/scim-connections/"+connID+"/tokens", nil)
		e.as(ikey, 204, "DELETE", it+"/scim-connections/"+connID+"/tokens/"+tok.Body["token_info"].(map[string]any)["id"].(string), nil)
		e.as(ikey, 200, "PUT", it+"/saml-connection", map[string]any{"idp_metadata_url": "https://idp.test/md"})
		e.as(ikey, 200, "GET", it+"/saml-connection", nil)
		e.as(ikey, 201, "POST", it+"/domains", map[string]any{"domain": "initech.test"})
		e.as(ikey, 200, "GET", it+"/domains", nil)
		link := e.as(ikey, 201, "POST", it+"/setup-links", map[string]any{"parts": []string{"saml"}})
		e.as(ikey, 200, "GET", it+"/setup-links", nil)
		e.as(ikey, 204, "DELETE", it+"/setup-links/"+link.Body["link"].(map[string]any)["id"].(string), nil)

		// Another tenant: nothing, whatever the method.
		const ht = "/api/v1/tenants/hooli"
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"GET", ht + "/scim-connections", nil},
			{"POST", ht + "/scim-connections", map[string]any{"name": "evil"}},
			{"GET", ht + "/saml-connection", nil},
			{"PUT", ht + "/saml-connection", map[string]any{"idp_metadata_url": "https://evil.test/md"}},
			{"DELETE", ht + "/saml-connection", nil},
			{"GET", ht + "/domains", nil},
			{"POST", ht + "/domains", map[string]any{"domain": "hooli.test"}},
			{"POST", ht + "/domains/hooli.test/verify", nil},
			{"POST", ht + "/setup-links", map[string]any{"parts": []string{"scim"}}},
			{"GET", ht + "/setup-links", nil},
			{"GET", "/api/v1/tenants/nobody/scim-connections", nil},
		} {
			r := e.do(rq.method, rq.path, ikey, rq.body)
			if r.Status != 403 || r.errCode() != "wrong_tenant" {
				t.Errorf("%s %s with initech's key: %d %s, want 403 wrong_tenant", rq.method, rq.path, r.Status, r.Raw)
			}
		}
		if got := e.op(200, "GET", "/api/v1/tenants/hooli/scim-connections", nil).Raw; got != hooliConns {
			t.Fatalf("hooli's connections changed: %s, were %s", got, hooliConns)
		}
		if r := e.op(200, "GET", ht+"/saml-connection", nil); r.Body["configured"] != false {
			t.Fatalf("hooli's SAML: %s", r.Raw)
		}

		// The registry's tenants and the keys are the operator's.
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/tenants", map[string]any{"id": "mine"}},
			{"GET", it, nil},
			{"PATCH", it, map[string]any{"name": "Initech 2"}},
			{"DELETE", it, nil},
			{"POST", it + "/restore", nil},
			{"DELETE", ht, nil},
			{"GET", "/api/v1/keys", nil},
			{"POST", "/api/v1/keys", map[string]any{"name": "more", "tenant": "initech", "scopes": []string{"connections"}}},
		} {
			if r := e.do(rq.method, rq.path, ikey, rq.body); r.Status != 403 {
				t.Errorf("%s %s with a tenant's key: %d %s, want 403", rq.method, rq.path, r.Status, r.Raw)
			}
		}
		if r := e.op(200, "GET", ht, nil); r.Body["retired"] != false {
			t.Fatalf("hooli: %s", r.Raw)
		}
		// Only an operator takes a domain's verification on its word.
		if r := e.do("POST", it+"/domains/initech.test/verify", ikey, map[string]any{"method": "operator"}); r.Status != 403 || r.errField() != "method" {
			t.Fatalf("a tenant's key verifying without DNS: %d %s", r.Status, r.Raw)
		}

		// A tenant key without the scope: no connection.
		if r := e.do("POST", it+"/scim-connections", plain, map[string]any{"name": "other"}); r.Status != 403 || r.errCode() != "connections_scope_required" {
			t.Fatalf("a tenant key without the connections scope: %d %s", r.Status, r.Raw)
		}
		// The scope belongs to a tenant's key.
		if r := e.op(400, "POST", "/api/v1/keys", map[string]any{"name": "x", "scopes": []string{"connections"}}); !strings.Contains(r.Raw, `"path":"scopes[0]"`) {
			t.Fatalf("the connections scope without a tenant: %s", r.Raw)
		}

		// Its changes are audited under its name.
		audit, err := e.store.ListTenantAudit(context.Background(), "initech", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range audit {
			found = found || a.Action == "connection.created" && a.Actor == "admin:initech-platform"
		}
		if !found {
			t.Fatalf("no audit line of the tenant key's connection: %+v", audit)
		}
		e.as(ikey, 204, "DELETE", it+"/scim-connections/"+connID, nil)
	})
}
