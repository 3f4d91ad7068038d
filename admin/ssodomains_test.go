package admin

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestSSODomainsAreNotInvited: in an invite: email tenant, a person whose
// email domain is one of sso_domains signs in through SSO: an admin's
// invite, a SCIM push (auto-invite) and a re-invite send them nothing,
// their card is provisioned, and the answers say so; everyone else is
// invited as before.
func TestSSODomainsAreNotInvited(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newRolesEnv(t, st, nil, "")
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@corp.acme.example", "bob@acme.example", "cy@sub.corp.acme.example"}})
		if r.Body["invited"] != float64(2) || r.Body["not_invited"] != float64(1) {
			t.Fatalf("invite: %s", r.Raw)
		}
		for _, res := range r.Body["results"].([]any) {
			res := res.(map[string]any)
			ni, _ := res["not_invited"].(map[string]any)
			switch res["email"] {
			case "ann@corp.acme.example":
				if res["invited"] != false || ni["reason"] != "sso_domain" || ni["message"] == "" {
					t.Errorf("ann: %v", res)
				}
			default: // bob, and cy of a subdomain, which is not the SSO domain
				if res["invited"] != true || ni != nil {
					t.Errorf("%v: %v", res["email"], res)
				}
			}
		}
		ann := e.cardID("ann@corp.acme.example")
		if s := e.status(ann); s != "provisioned" {
			t.Errorf("ann is %s, want provisioned", s)
		}
		if s := e.status(e.cardID("bob@acme.example")); s != "invite_pending" {
			t.Errorf("bob is %s, want invite_pending", s)
		}
		if n := invites(t, st, ann); n != 0 {
			t.Errorf("%d invites queued for ann", n)
		}

		// A SCIM push of an SSO user (auto-invite) sends nothing either;
		// the domain is compared ignoring case.
		u := e.scim("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "dee@Corp.Acme.Example", "active": true, "emails": []map[string]any{{"value": "dee@Corp.Acme.Example", "primary": true}}})
		if u.Status != 201 {
			t.Fatalf("SCIM: %d %s", u.Status, u.Raw)
		}
		dee := fmt.Sprint(u.Body["id"])
		if s := e.status(dee); s != "provisioned" {
			t.Errorf("SCIM-pushed SSO user is %s, want provisioned", s)
		}
		if n := invites(t, st, dee); n != 0 {
			t.Errorf("%d invites queued for a SCIM-pushed SSO user", n)
		}
		u = e.scim("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "eve@acme.example", "active": true, "emails": []map[string]any{{"value": "eve@acme.example", "primary": true}}})
		if n := invites(t, st, fmt.Sprint(u.Body["id"])); n != 1 {
			t.Errorf("%d invites for a SCIM-pushed user outside the SSO domains, want 1", n)
		}

		// A re-invite is refused, saying why.
		if r := e.do("POST", acme+"/cards/"+ann+"/reinvite", rwKey, map[string]any{}); r.Status != 409 || !strings.Contains(r.Raw, "sso_domains") {
			t.Errorf("reinvite of an SSO user: %d %s, want 409", r.Status, r.Raw)
		}
		if n := invites(t, st, ann); n != 0 {
			t.Errorf("%d invites for ann after a refused re-invite", n)
		}
	})
}
