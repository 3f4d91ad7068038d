package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/internal/ssptest"
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
// working on A within 2 s; a SAML connection created on A from the
// metadata of a real IdP (SimpleSAMLphp) is served by B within 2 s, and a
// login through that IdP completes on B. Two real daemons, one real
// PostgreSQL.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := replicaConfig(t, dsn)
	// Both replicas behind one public_url: the balancer, which sends the
	// browser to B.
	var lbRoute balancer
	lb := httptest.NewServer(&lbRoute)
	t.Cleanup(lb.Close)
	cfg += "public_url: " + lb.URL + "\n"
	idp := ssptest.Start(t, ssptest.User{Username: "ann", Password: "ann's secret", Email: "ann@initech.test", Given: "Ann", Family: "Lee"})
	a := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	b := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	lbRoute.route(b.base)

	if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "name": "Initech", "invite": "none",
		"app_callback_url": "https://app.test/cb"}`); code != 201 {
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

	// The SAML connection made on A, from the metadata of an IdP that is
	// not ours: within 2 s B starts a login at that IdP, and the login
	// through SimpleSAMLphp, with the response posted to B, lands on the
	// card the SCIM POST to B made.
	put := time.Now()
	if code, body := call(t, "PUT", a.base+"/api/v1/tenants/initech/saml-connection", operatorKey,
		`{"idp_metadata_url": "`+idp.MetadataURL+`", "allow_insecure_metadata_url": true}`); code != 200 {
		t.Fatalf("the SAML connection on A: %d %v", code, body)
	} else if sp, _ := body["sp"].(map[string]any); sp["acs_url"] != lb.URL+"/saml/initech/acs" {
		t.Fatalf("the SAML connection on A gives the SP %v, want the ACS URL under public_url %s", sp, lb.URL)
	}
	metadata := func(base string) (int, string) { return get(t, base+"/saml/initech/metadata", "") }
	within(t, 2*time.Second, "A serves the SP metadata of the SAML connection made on A", func() bool {
		code, _ := metadata(a.base)
		return code == 200
	})
	// The IT admin gives the IdP the SP's metadata, as A serves it.
	idp.TrustSP(t, a.base+"/saml/initech/metadata")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	took = within(t, 2*time.Second, "B sends a login to the IdP of the SAML connection made on A", func() bool {
		resp, err := noFollow.Get(b.base + "/saml/initech/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), idp.Base)
	})
	t.Logf("B took the SAML connection in %s", took)
	resp := samlLogin(t, lb.URL, "initech", "ann", "ann's secret")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), "https://app.test/cb?") || loc.Query().Get("code") == "" {
		t.Fatalf("B's ACS answered %d, Location %q", resp.StatusCode, loc)
	}
	t.Logf("from the SAML connection on A to a login code from B, through SimpleSAMLphp: %s", time.Since(put))
	code, card := call(t, "POST", b.base+"/api/v1/login-codes/redeem", operatorKey, `{"code": "`+loc.Query().Get("code")+`", "tenant": "initech"}`)
	if code != 200 || card["email"] != "ann@initech.test" || card["tenant"] != "initech" || card["status"] != "active" {
		t.Fatalf("redeem the login code on B: %d %v", code, card)
	}
	// One key pair in the store: A and B sign with the same certificate.
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

// replicaConfig is the configuration every replica of a test shares: one
// PostgreSQL, one key-encryption key (a secret one replica seals, the
// other opens), the operator key.
func replicaConfig(t *testing.T, dsn string) string {
	t.Helper()
	_, kek, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`secrets_key: %s
store:
  driver: postgres
  dsn: %q
admin_keys:
  - name: ops
    key: %s
    scopes: [operator]
`, kek, dsn, operatorKey)
}
