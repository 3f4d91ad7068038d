package scim

import "testing"

// BenchmarkValidateUser: the schema check every POST, PUT and PATCH makes.
//
//	go test -run '^$' -bench ValidateUser -benchmem ./scim/
func BenchmarkValidateUser(b *testing.B) {
	user := map[string]any{
		"schemas":        []any{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseSchema},
		"userName":       "ada@example.com",
		"externalId":     "00u1",
		"active":         true,
		"name":           map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":         []any{map[string]any{"value": "ada@example.com", "type": "work", "primary": true}},
		enterpriseSchema: map[string]any{"department": "Engineering", "employeeNumber": "1001"},
	}
	for b.Loop() {
		if _, err := validateUser(user); err != nil {
			b.Fatal(err)
		}
	}
}
