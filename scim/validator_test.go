package scim_test

import (
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
		// A boolean and a number compared with a string attribute: never the
		// users named "true" and "12".
		for _, f := range []string{`userName eq true`, `userName eq 12`} {
			r := e.entra("GET", "/Users?filter="+queryEscape(f), nil)
			if r.Status == 200 && r.str("totalResults") != "0" {
				t.Errorf("%s: %s, want no user: an unquoted true or 12 is not a string", f, truncate(r.Raw))
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
