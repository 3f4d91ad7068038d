package admin

import (
	"context"
	"strings"
	"testing"
)

// TestDomainVerificationByDNS: a domain added through the API is
// unverified, with a TXT record to publish; verify looks the record up on
// a real DNS server (loopback) and refuses, saying what to publish, until
// the record holds the challenge; then the domain is verified, stays so,
// and the change is audited. An operator may verify on its word; a
// removed and re-added domain needs verifying again; the file's tenants'
// domains are the file's.
func TestDomainVerificationByDNS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech"})
		key := e.newKey("initech-platform", "initech", "connections")
		const ds = "/api/v1/tenants/initech/domains"

		d := e.as(key, 201, "POST", ds, map[string]any{"domain": "Initech.test"})
		rec := d.Body["txt_record"].(map[string]any)
		value, _ := rec["value"].(string)
		if d.Body["domain"] != "initech.test" || d.Body["verified"] != false || rec["name"] != "_rosterd-challenge.initech.test" ||
			!strings.HasPrefix(value, "rosterd-domain-verification=") || len(value) < len("rosterd-domain-verification=")+32 {
			t.Fatalf("added domain: %s", d.Raw)
		}

		verify := ds + "/initech.test/verify"
		r := e.as(key, 422, "POST", verify, nil)
		if r.errCode() != "domain_not_verified" || !strings.Contains(r.Raw, "no TXT record") || !strings.Contains(r.Raw, value) {
			t.Fatalf("verify without a record: %s", r.Raw)
		}
		e.dns.SetTXT("_rosterd-challenge.initech.test", "v=spf1 -all", "rosterd-domain-verification=someone-else")
		if r := e.as(key, 422, "POST", verify, map[string]any{"method": "dns"}); !strings.Contains(r.Raw, "2 TXT record(s)") {
			t.Fatalf("verify with other records: %s", r.Raw)
		}
		if got := e.as(key, 200, "GET", ds, nil).Body["domains"].([]any)[0].(map[string]any); got["verified"] != false {
			t.Fatalf("verified by a wrong record: %v", got)
		}
		e.dns.SetTXT("_rosterd-challenge.initech.test", "v=spf1 -all", value)
		r = e.as(key, 200, "POST", verify, nil)
		if r.Body["verified"] != true || r.Body["verified_by"] != "dns" || r.Body["verified_at"] == nil {
			t.Fatalf("verified: %s", r.Raw)
		}
		// Verified stays verified: no lookup again, even with the record gone.
		e.dns.SetTXT("_rosterd-challenge.initech.test")
		before := e.dns.Queries()
		if r := e.as(key, 200, "POST", verify, nil); r.Body["verified"] != true || e.dns.Queries() != before {
			t.Fatalf("verifying again: %s (%d queries, were %d)", r.Raw, e.dns.Queries(), before)
		}

		// An operator's word; a typo'd method; an unknown domain.
		e.as(key, 201, "POST", ds, map[string]any{"domain": "initech-corp.test"})
		e.as(key, 400, "POST", ds+"/initech-corp.test/verify", map[string]any{"method": "sms"})
		if r := e.op(200, "POST", ds+"/initech-corp.test/verify", map[string]any{"method": "operator"}); r.Body["verified_by"] != "operator:operator" {
			t.Fatalf("an operator's verification: %s", r.Raw)
		}
		e.as(key, 404, "POST", ds+"/nowhere.test/verify", nil)
		e.as(key, 400, "POST", ds, map[string]any{"domain": "not a domain"})
		e.as(key, 409, "POST", ds, map[string]any{"domain": "initech.test"})

		// A domain belongs to one tenant.
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "hooli"})
		if r := e.op(400, "POST", "/api/v1/tenants/hooli/domains", map[string]any{"domain": "initech.test"}); !strings.Contains(r.Raw, `"path":"domain"`) ||
			!strings.Contains(r.Raw, `belongs to tenant \"initech\"`) {
			t.Fatalf("another tenant's domain: %s", r.Raw)
		}

		// Removed and added again: a new challenge, unverified.
		e.as(key, 204, "DELETE", ds+"/initech.test", nil)
		e.as(key, 404, "DELETE", ds+"/initech.test", nil)
		again := e.as(key, 201, "POST", ds, map[string]any{"domain": "initech.test"})
		if again.Body["verified"] != false || again.Body["txt_record"].(map[string]any)["value"] == value {
			t.Fatalf("re-added domain: %s", again.Raw)
		}

		// The file's tenant: its domains are the file's.
		if r := e.op(409, "POST", "/api/v1/tenants/acme/domains", map[string]any{"domain": "acme.test"}); !strings.Contains(r.Raw, "managed_by_config") {
			t.Fatalf("a domain for the file's tenant: %s", r.Raw)
		}

		audit, err := e.store.ListTenantAudit(context.Background(), "initech", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var verified []string
		for _, a := range audit {
			if a.Action == "domain.verified" {
				verified = append(verified, a.Actor+" "+a.Detail)
			}
		}
		if len(verified) != 2 || !strings.Contains(verified[0], "admin:initech-platform domain initech.test verified by dns") {
			t.Fatalf("audit of verifications: %v", verified)
		}
	})
}
