package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
)

// TestRolesWriteAPI: a tenant admin writes the role set and mapping rules
// (validated as the file's, problems named by their path in the body) and
// pins and unpins a card's role; a SCIM group then maps by the new rule;
// a tenant of the file is changed in the file.
func TestRolesWriteAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.op(201, "POST", "/api/v1/tenants", map[string]any{"id": "initech", "name": "Initech", "invite": "none",
			"roles": []string{"admin", "staff", "client"}, "default_role": "client"})
		const in = "/api/v1/tenants/initech"

		for _, tc := range []struct {
			body       any
			code, path string
		}{
			{map[string]any{"rules": []map[string]any{{"group": "rosterd-admins", "role": "admin"}, {"group": "x", "role": "wizard"}}}, "invalid_document", "rules[1].role"},
			{map[string]any{"rules": []map[string]any{{"source": "bogus", "group": "x", "role": "staff"}}}, "invalid_document", "rules[0].source"},
			{map[string]any{"rules": []map[string]any{{"role": "staff"}}}, "invalid_document", "rules[0]"},
			{map[string]any{"default_role": "wizard"}, "invalid_document", "default_role"},
			{map[string]any{"roles": []string{"Admin"}}, "invalid_document", "roles[0]"},
			{map[string]any{"approval": "sometimes"}, "invalid_document", "approval"},
			{map[string]any{"rulez": []any{}}, "unknown_field", ""},
			{map[string]any{}, "invalid_value", ""},
		} {
			r := e.do("PUT", in+"/roles", rwKey, tc.body)
			if r.Status != 400 || r.errCode() != tc.code {
				t.Errorf("PUT roles %v: %d %s, want 400 %s", tc.body, r.Status, r.Raw, tc.code)
				continue
			}
			if tc.path != "" {
				probs, _ := r.Body["problems"].([]any)
				if len(probs) == 0 || probs[0].(map[string]any)["path"] != tc.path {
					t.Errorf("PUT roles %v: problems %v, want the first at %s", tc.body, probs, tc.path)
				}
			}
		}
		// Nothing of a refused document was applied.
		if r := e.must(200, "GET", in+"/roles", nil); len(r.Body["rules"].([]any)) != 0 || r.Body["default_role"] != "client" {
			t.Fatalf("roles after refused documents: %s", r.Raw)
		}

		r := e.must(200, "PUT", in+"/roles", map[string]any{"rules": []map[string]any{{"source": "scim", "group": "rosterd-admins", "role": "admin"}}})
		if fmt.Sprint(r.Body["rules"]) != "[map[group:rosterd-admins role:admin source:scim]]" || fmt.Sprint(r.Body["roles"]) != "[admin staff client]" {
			t.Fatalf("PUT roles: %s", r.Raw)
		}

		// The new rule maps a SCIM group.
		c := e.op(201, "POST", in+"/scim-connections", map[string]any{"name": "okta"})
		token := c.Body["token"].(string)
		scim := func(method, path string, body any) response {
			t.Helper()
			j, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, e.url+"/scim/initech/v2"+path, bytes.NewReader(j))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/scim+json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			out := response{Status: res.StatusCode, Raw: string(raw)}
			_ = json.Unmarshal(raw, &out.Body)
			return out
		}
		u := scim("POST", "/Users", scimUser("ann@initech.test"))
		bob := scim("POST", "/Users", scimUser("bob@initech.test"))
		if u.Status != 201 || bob.Status != 201 {
			t.Fatalf("SCIM users: %s %s", u.Raw, bob.Raw)
		}
		if g := scim("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "rosterd-admins", "members": []map[string]any{{"value": u.Body["id"]}}}); g.Status != 201 {
			t.Fatalf("SCIM group: %s", g.Raw)
		}
		card := func(id string) (string, string) {
			r := e.must(200, "GET", fmt.Sprintf("%s/cards/%v", in, id), nil)
			return fmt.Sprint(r.Body["attributes"].(map[string]any)["role"]), fmt.Sprint(r.Body["role_source"])
		}
		if role, from := card(fmt.Sprint(u.Body["id"])); role != "admin" {
			t.Fatalf("ann in rosterd-admins: %s from %s", role, from)
		}

		// Pin and unpin bob's role.
		bobID := fmt.Sprint(bob.Body["id"])
		if r := e.do("PUT", in+"/cards/"+bobID+"/role", rwKey, map[string]any{"role": "wizard"}); r.Status != 400 || r.errCode() != "unknown_role" || r.errField() != "role" {
			t.Errorf("pin an unknown role: %d %s", r.Status, r.Raw)
		}
		if r := e.do("PUT", in+"/cards/"+bobID+"/role", rwKey, map[string]any{}); r.Status != 400 || r.errField() != "role" {
			t.Errorf("pin without a role: %d %s", r.Status, r.Raw)
		}
		if r := e.do("PUT", in+"/cards/nope/role", rwKey, map[string]any{"role": "staff"}); r.Status != 404 {
			t.Errorf("pin on no card: %d %s", r.Status, r.Raw)
		}
		r = e.must(200, "PUT", in+"/cards/"+bobID+"/role", map[string]any{"role": "Staff"})
		if a := r.Body["attributes"].(map[string]any); a["role"] != "staff" || r.Body["role_source"] != directory.RoleFromPin {
			t.Fatalf("pinned: %s", r.Raw)
		}
		r = e.must(200, "DELETE", in+"/cards/"+bobID+"/role", nil)
		if a := r.Body["attributes"].(map[string]any); a["role"] != "client" || r.Body["role_source"] != directory.RoleFromDefault {
			t.Fatalf("unpinned: %s", r.Raw)
		}

		// A changed rule reaches the cards now, not at their next write:
		// the PUT starts a job that resolves every card again. Ann, in
		// rosterd-admins, becomes staff; bob (the default) and a pinned
		// card stay; the job's audit lines carry its id.
		e.must(200, "PUT", in+"/cards/"+bobID+"/role", map[string]any{"role": "client"})
		cy := scim("POST", "/Users", scimUser("cy@initech.test"))
		r = e.must(200, "PUT", in+"/roles", map[string]any{"rules": []map[string]any{{"source": "scim", "group": "rosterd-admins", "role": "staff"}}})
		job, _ := r.Body["resolve"].(map[string]any)
		if job == nil || r.Header.Get("Location") != in+"/bulk/"+fmt.Sprint(job["id"]) {
			t.Fatalf("PUT roles names no resolve job: %s %v", r.Raw, r.Header)
		}
		var got response
		for range 500 {
			got = e.must(200, "GET", in+"/bulk/"+fmt.Sprint(job["id"]), nil)
			if got.Body["status"] != "applying" {
				break
			}
			time.Sleep(10 * time.Millisecond) // waiting for the job, not timing it
		}
		if got.Body["status"] != "applied" || count(got, "changed") != 1 || count(got, "done") != 3 || count(got, "unchanged") != 2 {
			t.Fatalf("resolve job: %s", got.Raw)
		}
		if role, from := card(fmt.Sprint(u.Body["id"])); role != "staff" || !strings.HasPrefix(from, "rule 1 ") {
			t.Fatalf("ann after the new rule: %s from %s, want staff from rule 1", role, from)
		}
		if role, from := card(bobID); role != "client" || from != directory.RoleFromPin {
			t.Fatalf("bob, pinned: %s from %s", role, from)
		}
		if role, _ := card(fmt.Sprint(cy.Body["id"])); role != "client" {
			t.Fatalf("cy: %s", role)
		}
		if a := e.must(200, "GET", in+"/audit?run="+fmt.Sprint(job["id"]), nil); !strings.Contains(a.Raw, `"action":"policy.resolve"`) ||
			strings.Count(a.Raw, `"action":"policy.resolve"`) != 1 {
			t.Fatalf("audit of the resolve job: %s", a.Raw)
		}
		// A change of approval alone resolves nothing.
		if r := e.must(200, "PUT", in+"/roles", map[string]any{"approval": "none"}); r.Body["resolve"] != nil {
			t.Fatalf("PUT approval started a resolve job: %s", r.Raw)
		}

		// The file's tenant is changed in the file.
		if r := e.do("PUT", acme+"/roles", rwKey, map[string]any{"roles": []string{"a"}}); r.Status != 409 || r.errCode() != "managed_by_config" {
			t.Errorf("PUT roles of the file's tenant: %d %s", r.Status, r.Raw)
		}
		// A read-only key reads only.
		if r := e.do("PUT", in+"/roles", roKey, map[string]any{"roles": []string{"a"}}); r.Status != 403 {
			t.Errorf("PUT roles with a read-only key: %d %s", r.Status, r.Raw)
		}
	})
}
