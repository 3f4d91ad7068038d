package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// scimWith is a SCIM request with a connection's token.
func (e *env) scimWith(token, method, path string, body any) response {
	e.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.url+"/scim/acme/v2"+path, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// groupsOf is the sorted group names of a card.
func (e *env) groupsOf(email string) []string {
	e.t.Helper()
	c := e.must(200, "GET", acme+"/cards/"+e.cardID(email), nil).Body
	var out []string
	if gs, ok := c["attributes"].(map[string]any)["groups"].([]any); ok {
		for _, g := range gs {
			out = append(out, fmt.Sprint(g))
		}
	}
	slices.Sort(out)
	return out
}

// TestSCIMGroupChangesKeepOtherSourcesMembers: a SCIM connection's PUT and
// PATCH of its group "Sales" change that connection's memberships only.
// The same name from another connection (entra) and an admin's group keep
// their members, so the cards stay in Sales and the card list still finds
// them; a member the connection does not list is refused, and the audit
// says so.
func TestSCIMGroupChangesKeepOtherSourcesMembers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newRolesEnv(t, st, nil, "")
		user := func(token, email string) string {
			t.Helper()
			r := e.scimWith(token, "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": email, "active": true, "emails": []map[string]any{{"value": email, "primary": true}}})
			if r.Status != 201 {
				t.Fatalf("SCIM user %s: %d %s", email, r.Status, r.Raw)
			}
			return fmt.Sprint(r.Body["id"])
		}
		members := func(ids ...string) []map[string]any {
			var out []map[string]any
			for _, id := range ids {
				out = append(out, map[string]any{"value": id})
			}
			return out
		}
		annOkta, bobOkta := user(scimTok, "ann@acme.example"), user(scimTok, "bob@acme.example")
		annEntra := user(scimTok2, "ann@acme.example")
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"cat@acme.example"}})
		cat := e.cardID("cat@acme.example")

		// entra's Sales holds ann; the admin's Sales holds bob and cat.
		if r := e.scimWith(scimTok2, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Sales", "members": members(annEntra)}); r.Status != 201 {
			t.Fatalf("entra group: %d %s", r.Status, r.Raw)
		}
		ag := e.must(201, "POST", acme+"/groups", map[string]any{"name": "Sales"})
		e.must(200, "POST", acme+"/groups/"+fmt.Sprint(ag.Body["id"])+"/members", map[string]any{"ids": []string{e.cardID("bob@acme.example"), cat}})

		// okta's Sales: ann and bob, then PUT with bob only, then PATCH bob out.
		og := e.scimWith(scimTok, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Sales", "members": members(annOkta, bobOkta)})
		if og.Status != 201 {
			t.Fatalf("okta group: %d %s", og.Status, og.Raw)
		}
		gid := fmt.Sprint(og.Body["id"])
		if r := e.scimWith(scimTok, "PUT", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Sales", "members": members(bobOkta)}); r.Status != 200 {
			t.Fatalf("okta PUT: %d %s", r.Status, r.Raw)
		}
		if r := e.scimWith(scimTok, "PATCH", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "remove", "path": `members[value eq "` + bobOkta + `"]`}}}); r.Status != 200 && r.Status != 204 {
			t.Fatalf("okta PATCH remove: %d %s", r.Status, r.Raw)
		}
		// A member okta does not list (cat is the admin's only) is not
		// taken into okta's group.
		if r := e.scimWith(scimTok, "PATCH", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "add", "path": "members", "value": members(cat)}}}); r.Status != 200 && r.Status != 204 {
			t.Fatalf("okta PATCH add: %d %s", r.Status, r.Raw)
		}

		for _, email := range []string{"ann@acme.example", "bob@acme.example", "cat@acme.example"} {
			if g := e.groupsOf(email); fmt.Sprint(g) != "[Sales]" {
				t.Errorf("%s: groups %v, want [Sales] from the other sources", email, g)
			}
		}
		if got := fmt.Sprint(e.listEmails("group=Sales")); got != "[ann@acme.example bob@acme.example cat@acme.example]" {
			t.Errorf("group=Sales: %s", got)
		}
		// Names compare ignoring case; a card that leaves its last Sales
		// leaves the filter's answer.
		if got := fmt.Sprint(e.listEmails("group=SALES")); got != "[ann@acme.example bob@acme.example cat@acme.example]" {
			t.Errorf("group=SALES: %s", got)
		}
		e.must(200, "DELETE", acme+"/groups/"+fmt.Sprint(ag.Body["id"])+"/members", map[string]any{"ids": []string{cat}})
		if got := fmt.Sprint(e.listEmails("group=Sales")); got != "[ann@acme.example bob@acme.example]" {
			t.Errorf("group=Sales after cat left the admin's Sales: %s", got)
		}
		e.must(200, "POST", acme+"/groups/"+fmt.Sprint(ag.Body["id"])+"/members", map[string]any{"ids": []string{cat}})

		// By id, a group is that one group's members.
		for id, want := range map[string]string{fmt.Sprint(ag.Body["id"]): "[bob@acme.example cat@acme.example]", gid: "[]"} {
			if got := fmt.Sprint(e.listEmails("group=" + id)); got != want {
				t.Errorf("group=%s: %s, want %s", id, got, want)
			}
		}
		okta := e.scimWith(scimTok, "GET", "/Groups/"+gid, nil)
		if okta.Status != 200 || okta.Body["members"] != nil && len(okta.Body["members"].([]any)) != 0 {
			t.Errorf("okta's Sales after its changes: %s", okta.Raw)
		}
		// The group list shows the three, each with its source and members.
		list := e.must(200, "GET", acme+"/groups", nil)
		counts := map[string]any{}
		for _, g := range list.Body["groups"].([]any) {
			g := g.(map[string]any)
			counts[fmt.Sprint(g["source"])] = g["members"]
		}
		if fmt.Sprint(counts) != "map[admin:2 scim:entra:1 scim:okta:0]" {
			t.Errorf("groups by source and members: %v (%s)", counts, list.Raw)
		}
		audit := e.must(200, "GET", acme+"/audit?limit=1000", nil)
		if !strings.Contains(audit.Raw, "1 unknown members ignored") {
			t.Errorf("no audit line says okta's unknown member was ignored: %s", audit.Raw)
		}
	})
}
