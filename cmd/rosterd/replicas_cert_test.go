package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/ssptest"
)

// TestIdPCertRotationAcrossReplicas: the IdP (SimpleSAMLphp) rolls its
// signing certificate over and the tenant's SAML connection is put again
// on replica A; within 2 s replica B accepts a login signed with the new
// key, and refuses one signed with the old key with an audited
// bad_signature. Before the change B still refuses the new key: the
// change on A is what B took. Two real daemons, one real PostgreSQL.
func TestIdPCertRotationAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	var lbRoute balancer
	lb := httptest.NewServer(&lbRoute)
	t.Cleanup(lb.Close)
	cfg := replicaConfig(t, dsn)
	cfg += "public_url: " + lb.URL + "\n"
	idp := ssptest.Start(t, ssptest.User{Username: "ann", Password: "ann's secret", Email: "ann@initech.test", Given: "Ann", Family: "Lee"})
	a := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	b := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	// The browser's posts to the ACS reach B only.
	lbRoute.route(b.base)

	if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "name": "Initech", "invite": "none",
		"app_callback_url": "https://app.test/cb", "jit": true}`); code != 201 {
		t.Fatalf("create the tenant on A: %d %v", code, body)
	}
	connection := `{"idp_metadata_url": "` + idp.MetadataURL + `", "allow_insecure_metadata_url": true}`
	if code, body := call(t, "PUT", a.base+"/api/v1/tenants/initech/saml-connection", operatorKey, connection); code != 200 {
		t.Fatalf("the SAML connection on A: %d %v", code, body)
	}
	within(t, 2*time.Second, "A serves the SP metadata", func() bool {
		code, _ := get(t, a.base+"/saml/initech/metadata", "")
		return code == 200
	})
	idp.TrustSP(t, a.base+"/saml/initech/metadata")

	// accepted: a login through the IdP, its response posted to B, ends
	// at the platform's callback with a login code.
	accepted := func(resp *http.Response) bool {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc.String(), "https://app.test/cb?") && loc.Query().Get("code") != ""
	}
	// badSignatures counts the audit lines of logins refused for a bad
	// signature.
	badSignatures := func() int {
		code, body := call(t, "GET", b.base+"/api/v1/tenants/initech/audit?limit=1000", operatorKey, "")
		if code != 200 {
			t.Fatalf("the audit: %d %v", code, body)
		}
		n := 0
		for _, e := range body["events"].([]any) {
			e := e.(map[string]any)
			if d, _ := e["detail"].(string); e["action"] == "login.refused" && strings.HasPrefix(d, "bad_signature:") {
				n++
			}
		}
		return n
	}
	within(t, 2*time.Second, "B sends a login to the IdP", func() bool {
		code, _ := get(t, b.base+"/saml/initech/metadata", "")
		return code == 200
	})
	if resp := samlLogin(t, lb.URL, "initech", "ann", "ann's secret"); !accepted(resp) {
		t.Fatalf("before the rotation, B answered the login with %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The IdP signs with a new key and publishes its certificate. B has
	// not been told: it refuses the new signature.
	old := idp.Rekey(t)
	before := badSignatures()
	if resp := samlLogin(t, lb.URL, "initech", "ann", "ann's secret"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("signed with the new key before the change, B answered %d, want 403", resp.StatusCode)
	}
	if n := badSignatures(); n != before+1 {
		t.Fatalf("signed with the new key before the change: %d bad_signature audit lines, want %d", n, before+1)
	}

	// The operator puts the connection again on A: A reads the IdP's
	// metadata with the new certificate, and so must B.
	if code, body := call(t, "PUT", a.base+"/api/v1/tenants/initech/saml-connection", operatorKey, connection); code != 200 {
		t.Fatalf("the SAML connection put again on A: %d %v", code, body)
	}
	took := within(t, 2*time.Second, "B accepts a login signed with the IdP's new key", func() bool {
		return accepted(samlLogin(t, lb.URL, "initech", "ann", "ann's secret"))
	})
	t.Logf("from the change on A to a login signed with the new key accepted by B: %s", took)

	// An IdP (or an attacker) still signing with the old key: refused by
	// B, and audited as a bad signature.
	idp.SignWith(t, old)
	before = badSignatures()
	if resp := samlLogin(t, lb.URL, "initech", "ann", "ann's secret"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("signed with the old key after the change, B answered %d, want 403", resp.StatusCode)
	}
	if n := badSignatures(); n != before+1 {
		t.Fatalf("signed with the old key after the change: %d bad_signature audit lines, want %d", n, before+1)
	}
}
