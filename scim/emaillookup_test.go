package scim_test

import "testing"

// Entra ID matches users by emails[type eq "work"].value (and others by
// emails.value): found case-insensitively, by the type named, and by the
// emails as last written, on both backends (the store reads them through
// an index, claim_emails).
func TestEmailLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ada := e.entra("POST", "/Users", user("ada", "Ada", "Lovelace", map[string]any{"emails": []any{
			map[string]any{"type": "work", "value": "Ada@Example.com", "primary": true},
			map[string]any{"type": "home", "value": "ada@home.example"}}})).must(t, 201).str("id")
		e.entra("POST", "/Users", user("bob", "Bob", "Ross", map[string]any{"emails": []any{
			map[string]any{"type": "work", "value": "bob@example.com"}}})).must(t, 201)
		find := func(step, f, want string) {
			t.Helper()
			r := e.entra("GET", "/Users?filter="+queryEscape(f), nil)
			got := ""
			if list, _ := r.Body["Resources"].([]any); len(list) == 1 {
				got, _ = list[0].(map[string]any)["id"].(string)
			}
			if r.Status != 200 || got != want || (want == "" && r.str("totalResults") != "0") {
				t.Errorf("%s: %s: %d %s, want the user %q", step, f, r.Status, truncate(r.Raw), want)
			}
		}
		find("work email, other case", `emails[type eq "work"].value eq "ADA@example.COM"`, ada)
		find("home email as work", `emails[type eq "work"].value eq "ada@home.example"`, "")
		find("home email", `emails.value eq "ada@home.example"`, ada)
		find("home email, in brackets", `emails[value eq "ada@home.example"]`, ada)
		find("nobody's", `emails.value eq "nobody@example.com"`, "")

		e.entra("PATCH", "/Users/"+ada, patchOp(map[string]any{"op": "replace", "path": `emails[type eq "work"].value`,
			"value": "ada.lovelace@example.com"})).must(t, 204)
		find("after PATCH, the old work email", `emails[type eq "work"].value eq "ada@example.com"`, "")
		find("after PATCH, the new one", `emails[type eq "work"].value eq "ada.lovelace@example.com"`, ada)
		find("after PATCH, the home email", `emails.value eq "ada@home.example"`, ada)
	})
}
