package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/secretbox"
)

const operatorKey = "operator-key-0123456789abcdefghijklmnopqrstuvwxyz"

// call sends a JSON request and returns the status and the decoded body.
func call(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// within polls check until it reports true, failing the test after d.
func within(t *testing.T, d time.Duration, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestTwoReplicasOnePostgres: a tenant and a SCIM connection created on
// replica A are served by replica B within 2 s; a token revoked on B stops
// working on A within 2 s. Two real daemons, one real PostgreSQL.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	// The replicas share one key-encryption key: a SAML SP key one of
	// them generates, the other unseals.
	_, kek, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`secrets_key: %s
store:
  driver: postgres
  dsn: %q
admin_keys:
  - name: ops
    key: %s
    scopes: [operator]
`, kek, dsn, operatorKey)
	a := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	b := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)

	if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "name": "Initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant on A: %d %v", code, body)
	}
	code, body := call(t, "POST", a.base+"/api/v1/tenants/initech/scim-connections", operatorKey, `{"name": "okta"}`)
	if code != 201 {
		t.Fatalf("create the connection on A: %d %v", code, body)
	}
	token := body["token"].(string)
	conn := body["connection"].(map[string]any)
	connID := conn["id"].(string)
	tokenID := conn["tokens"].([]any)[0].(map[string]any)["id"].(string)

	scim := func(base, method, path, body string) int {
		req, _ := http.NewRequest(method, base+"/scim/initech/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	user := `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@initech.test", "emails": [{"value": "ann@initech.test", "primary": true}]}`
	took := within(t, 2*time.Second, "B serves a SCIM POST with the token made on A", func() bool {
		return scim(b.base, "POST", "/Users", user) == 201
	})
	t.Logf("B took the new connection in %s", took)

	if code, body := call(t, "DELETE", b.base+"/api/v1/tenants/initech/scim-connections/"+connID+"/tokens/"+tokenID, operatorKey, ""); code != 204 {
		t.Fatalf("revoke the token on B: %d %v", code, body)
	}
	took = within(t, 2*time.Second, "A refuses the token revoked on B", func() bool {
		return scim(a.base, "GET", "/Users", "") == 401
	})
	t.Logf("A dropped the revoked token in %s", took)

	// SAML given on B: A serves the tenant's SP metadata, with the same
	// signing certificate as B (one key pair in the store).
	if code, body := call(t, "PATCH", b.base+"/api/v1/tenants/initech", operatorKey, `{"app_callback_url": "https://app.test/cb",
		"saml": {"idp_metadata_url": "https://idp.invalid/metadata"}}`); code != 200 {
		t.Fatalf("SAML on B: %d %v", code, body)
	}
	metadata := func(base string) (int, string) { return get(t, base+"/saml/initech/metadata", "") }
	within(t, 2*time.Second, "A serves the SP metadata of the SAML settings made on B", func() bool {
		code, _ := metadata(a.base)
		return code == 200
	})
	_, mdA := metadata(a.base)
	_, mdB := metadata(b.base)
	if cert := regexp.MustCompile(`<X509Certificate[^>]*>([^<]+)<`).FindStringSubmatch(mdA); cert == nil || !strings.Contains(mdB, cert[1]) {
		t.Fatalf("the replicas' SP metadata differ:\nA: %s\nB: %s", mdA, mdB)
	}

	// Retired on A: B answers for it no more.
	if code, body := call(t, "DELETE", a.base+"/api/v1/tenants/initech", operatorKey, ""); code != 200 {
		t.Fatalf("retire on A: %d %v", code, body)
	}
	within(t, 2*time.Second, "B stops serving the tenant retired on A", func() bool {
		code, _ := metadata(b.base)
		return code == 404
	})
}
