package scim_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// What Microsoft's SCIM validator sends beyond RFC 7644 and rosterd
// accepts (README, "SCIM"): unquoted filter values, bare strings in
// members, unknown sub-attributes of a member. Each rule, on both
// backends, against real rows.

// The validator's three unquoted filters find what they find with their
// values in quotes; true and numbers unquoted stay literals.
func TestValidatorUnquotedFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, u := range []map[string]any{
			user("OMalley", "Darl", "OMalley", map[string]any{"emails": []any{map[string]any{"type": "work", "value": "anna33@example.com"}}}),
			user("emp1", "Darl", "Employee", map[string]any{"emails": []any{map[string]any{"type": "work", "value": "anna33@example.com"}}}),
			user("emp2", "Darl", "Employee", map[string]any{"emails": []any{map[string]any{"type": "work", "value": "emp2@example.org"}}}),
			user("emp3", "Darl", "Employee", map[string]any{"emails": []any{map[string]any{"type": "work", "value": "emp3@elsewhere.net"}}}),
			user("true", "Ture", "Truth"),
			user("12", "Twelve", "Dozen"),
		} {
			e.entra("POST", "/Users", u).must(t, 201)
		}
		for _, tc := range []struct {
			filter string
			found  int
		}{
			{`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`, 2},
			{`name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org")`, 2},
			{`userName sw O`, 1},
			{`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, 6},
			{`meta.Created lt 2015-10-10T14:38:21.8617979-07:00`, 0},
			{`emails[type eq work and value ew example.org]`, 1},
			{`userName eq "true"`, 1},
			{`userName eq "12"`, 1},
		} {
			r := e.entra("GET", "/Users?filter="+queryEscape(tc.filter), nil)
			if r.Status != 200 || r.str("totalResults") != itoa(tc.found) {
				t.Errorf("%s: %d %s, want 200 with %d", tc.filter, r.Status, truncate(r.Raw), tc.found)
			}
		}
		// A boolean and a number compared with a string attribute: refused,
		// never read as the users named "true" and "12".
		for f, typ := range map[string]string{`userName eq true`: "bool", `userName eq 12`: "int64"} {
			r := e.entra("GET", "/Users?filter="+queryEscape(f), nil)
			if r.Status != 400 || r.str("scimType") != "invalidFilter" || !strings.HasSuffix(r.str("detail"), "compares with a string, not "+typ) {
				t.Errorf("%s: %d %s, want 400 invalidFilter: an unquoted %s is not a string", f, r.Status, truncate(r.Raw), typ)
			}
		}
		for _, f := range []string{`userName eq 01`, `title eq Site engineer`, `userName eq foo(bar)`, `meta.created gt 2015-10-10`} {
			r := e.entra("GET", "/Users?filter="+queryEscape(f), nil)
			if r.Status != 400 || r.str("scimType") != "invalidFilter" {
				t.Errorf("%s: %d %s, want 400 invalidFilter", f, r.Status, truncate(r.Raw))
			}
		}
	})
}

// groupMembers is the ids of a group's members, sorted.
func groupMembers(t *testing.T, e *env, id string) []string {
	t.Helper()
	r := e.entra("GET", "/Groups/"+id, nil).must(t, 200)
	var ids []string
	list, _ := r.Body["members"].([]any)
	for _, m := range list {
		if m, ok := m.(map[string]any); ok {
			ids = append(ids, m["value"].(string))
		}
	}
	slices.Sort(ids)
	return ids
}

// A bare string where a member goes is that member's value, in a PATCH
// with and without a path, in a POST and in a PUT; a string that is no
// user's id is ignored as a member {"value": …} of no user is.
func TestValidatorBareStringMembers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var ids []string
		for _, n := range []string{"ada@example.com", "grace@example.com", "edsger@example.com"} {
			ids = append(ids, e.entra("POST", "/Users", user(n, "A", "B")).must(t, 201).str("id"))
		}
		sorted := func(s ...string) []string { s = slices.Clone(s); slices.Sort(s); return s }
		n := 0
		group := func(members any) string {
			n++
			body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Group " + itoa(n)}
			if members != nil {
				body["members"] = members
			}
			return e.entra("POST", "/Groups", body).must(t, 201).str("id")
		}

		// The validator's request: the string is no user's id.
		g := group(nil)
		for _, v := range []string{"string id 1", "string id 2"} {
			r := e.entra("PATCH", "/Groups/"+g, map[string]any{"id": g, "schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": v}}})
			if r.Status != 204 {
				t.Fatalf("PATCH add member %q: %d %s, want 204", v, r.Status, r.Raw)
			}
		}
		if got := groupMembers(t, e, g); len(got) != 0 {
			t.Errorf("members after adding strings that are no user's id: %v, want none", got)
		}
		e.entra("GET", "/Groups/"+g+"?excludedAttributes=members", nil).must(t, 200)

		// Each from a group whose one member is ids[0].
		for _, tc := range []struct {
			name string
			op   map[string]any
			want []string
		}{
			{"add a string", map[string]any{"op": "add", "path": "members", "value": ids[1]}, ids[:2]},
			{"add strings", map[string]any{"op": "Add", "path": "members", "value": []any{ids[1], map[string]any{"value": ids[2]}}}, ids},
			{"remove a string", map[string]any{"op": "remove", "path": "members", "value": ids[0]}, nil},
			{"replace with a string", map[string]any{"op": "replace", "path": "Members", "value": ids[1]}, ids[1:2]},
			{"add without a path", map[string]any{"op": "add", "value": map[string]any{"members": []any{ids[2]}}}, []string{ids[0], ids[2]}},
			{"replace without a path", map[string]any{"op": "replace", "value": map[string]any{"Members": ids[1]}}, ids[1:2]},
		} {
			g := group([]any{map[string]any{"value": ids[0]}})
			if r := e.entra("PATCH", "/Groups/"+g, patchOp(tc.op)); r.Status != 204 {
				t.Errorf("%s: %d %s, want 204", tc.name, r.Status, truncate(r.Raw))
				continue
			}
			if got, want := groupMembers(t, e, g), sorted(tc.want...); !slices.Equal(got, want) {
				t.Errorf("%s: members %v, want %v", tc.name, got, want)
			}
		}

		// POST and PUT.
		g = group([]any{ids[0], map[string]any{"value": ids[1]}})
		if got, want := groupMembers(t, e, g), sorted(ids[:2]...); !slices.Equal(got, want) {
			t.Errorf("POST with a string member: members %v, want %v", got, want)
		}
		e.entra("PUT", "/Groups/"+g, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Put group", "members": []any{ids[2]}}).must(t, 200)
		if got := groupMembers(t, e, g); !slices.Equal(got, ids[2:]) {
			t.Errorf("PUT with a string member: members %v, want %v", got, ids[2:])
		}
	})
}

// A member's sub-attributes that the Group schema does not have (anything
// but displayName, which is read as its display label: see
// TestValidatorMemberDisplay; of any JSON type) are ignored, neither
// refused nor kept; the member is added.
func TestValidatorUnknownMemberSubAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		uid := e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace")).must(t, 201).str("id")
		member := map[string]any{"value": uid, "displayName": "new User", "extra": map[string]any{"nested": []any{1, true}},
			"Primary": true, "list": []any{"x"}, "n": 12}
		for _, tc := range []struct {
			name   string
			method string
			body   func(g string) map[string]any
			status int
		}{
			{"PATCH add", "PATCH", func(string) map[string]any {
				return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"name": "addMember", "op": "add", "path": "members", "value": []any{member}}}}
			}, 204},
			{"PATCH add without a path", "PATCH", func(string) map[string]any {
				return patchOp(map[string]any{"op": "add", "value": map[string]any{"members": []any{member}}})
			}, 204},
			{"PUT", "PUT", func(string) map[string]any {
				return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "PUT", "members": []any{member}}
			}, 200},
		} {
			g := e.entra("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": tc.name}).must(t, 201).str("id")
			if r := e.entra(tc.method, "/Groups/"+g, tc.body(g)); r.Status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, r.Status, truncate(r.Raw), tc.status)
				continue
			}
			if got := groupMembers(t, e, g); !slices.Equal(got, []string{uid}) {
				t.Errorf("%s: members %v, want [%s]", tc.name, got, uid)
			}
			if raw := e.entra("GET", "/Groups/"+g, nil).Raw; strings.Contains(raw, "nested") || strings.Contains(raw, "Primary") || strings.Contains(raw, `"list"`) {
				t.Errorf("%s: the group echoes a member's unknown sub-attributes: %s", tc.name, truncate(raw))
			}
		}
		r := e.entra("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "POST", "members": []any{member}})
		if r.Status != 201 {
			t.Fatalf("POST with a member's unknown sub-attributes: %d %s, want 201", r.Status, truncate(r.Raw))
		}
		if got := groupMembers(t, e, r.str("id")); !slices.Equal(got, []string{uid}) {
			t.Errorf("POST: members %v, want [%s]", got, uid)
		}
		// What the schema has keeps its rules: a member that is neither a
		// string nor an object is refused.
		g := r.str("id")
		for _, v := range []any{12, true, []any{[]any{uid}}} {
			if r := e.entra("PATCH", "/Groups/"+g, patchOp(map[string]any{"op": "add", "path": "members", "value": v})); r.Status != 400 {
				t.Errorf("PATCH add member %v: %d %s, want 400", v, r.Status, truncate(r.Raw))
			}
		}
	})
}

// memberDisplays is the display of each of a group's members, by id
// ("" for a member without one).
func memberDisplays(t *testing.T, e *env, id string) map[string]string {
	t.Helper()
	r := e.entra("GET", "/Groups/"+id, nil).must(t, 200)
	out := map[string]string{}
	list, _ := r.Body["members"].([]any)
	for _, m := range list {
		if m, ok := m.(map[string]any); ok {
			d, _ := m["display"].(string)
			out[m["value"].(string)] = d
		}
	}
	return out
}

// A member's display is the label the client sent with it ("display", or
// the validator's "displayName"), kept per membership and echoed on GET;
// without one, the user's displayName. Microsoft's validator checks this
// (its "Get group by id / Body contians user").
func TestValidatorMemberDisplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ada := e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace", map[string]any{"displayName": "lennay"})).must(t, 201).str("id")
		bob := e.entra("POST", "/Users", user("bob@example.com", "Bob", "Ross")).must(t, 201).str("id")
		groupSchema := []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}
		check := func(step, g string, want map[string]string) {
			t.Helper()
			if got := memberDisplays(t, e, g); !maps.Equal(got, want) {
				t.Errorf("%s: member displays %v, want %v", step, got, want)
			}
		}

		// POST: one labelled, one not (bob has no displayName).
		g := e.entra("POST", "/Groups", map[string]any{"schemas": groupSchema, "displayName": "G",
			"members": []any{map[string]any{"value": ada, "display": "VP"}, map[string]any{"value": bob}}}).must(t, 201).str("id")
		check("POST", g, map[string]string{ada: "VP", bob: ""})

		// The validator's PATCH add of a member already there, with
		// displayName: the label changes; add without one keeps it.
		add := func(m map[string]any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"name": "addMember", "op": "add", "path": "members", "value": []any{m}}}}
		}
		e.entra("PATCH", "/Groups/"+g, add(map[string]any{"displayName": "new User", "value": ada})).must(t, 204)
		check("PATCH add displayName", g, map[string]string{ada: "new User", bob: ""})
		e.entra("PATCH", "/Groups/"+g, add(map[string]any{"value": ada})).must(t, 204)
		check("PATCH add without a label", g, map[string]string{ada: "new User", bob: ""})
		if raw := e.entra("GET", "/Groups/"+g, nil).Raw; !strings.Contains(raw, `"display":"new User"`) {
			t.Errorf("GET group: no member display \"new User\": %s", truncate(raw))
		}

		// Removed by filter and added back without a label: the user's
		// displayName.
		e.entra("PATCH", "/Groups/"+g, patchOp(map[string]any{"op": "remove", "path": `members[value eq "` + ada + `"]`})).must(t, 204)
		e.entra("PATCH", "/Groups/"+g, add(map[string]any{"value": ada})).must(t, 204)
		check("removed and added back", g, map[string]string{ada: "lennay", bob: ""})

		// PUT replaces labels: a member sent without one loses its own.
		e.entra("PUT", "/Groups/"+g, map[string]any{"schemas": groupSchema, "displayName": "G",
			"members": []any{map[string]any{"value": ada, "display": "SenorVP"}, map[string]any{"value": bob, "display": "Painter"}}}).must(t, 200)
		check("PUT with labels", g, map[string]string{ada: "SenorVP", bob: "Painter"})
		e.entra("PUT", "/Groups/"+g, map[string]any{"schemas": groupSchema, "displayName": "G",
			"members": []any{map[string]any{"value": ada}, bob}}).must(t, 200)
		check("PUT without labels", g, map[string]string{ada: "lennay", bob: ""})

		// PATCH replace of members, and remove of all.
		e.entra("PATCH", "/Groups/"+g, patchOp(map[string]any{"op": "replace", "path": "members",
			"value": []any{map[string]any{"value": bob, "display": "B"}}})).must(t, 204)
		check("PATCH replace", g, map[string]string{bob: "B"})
		e.entra("PATCH", "/Groups/"+g, patchOp(map[string]any{"op": "remove", "path": "members"})).must(t, 204)
		check("PATCH remove all", g, map[string]string{})
		if raw := e.entra("GET", "/Groups/"+g, nil).Raw; strings.Contains(raw, `"B"`) {
			t.Errorf("GET group after removing every member still has a label: %s", truncate(raw))
		}
	})
}
