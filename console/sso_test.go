package console

import "testing"

// TestSSONext: an SSO sign-in goes to the page it started for when that
// is a console page of the signed-in tenant (or of no tenant), and to the
// tenant's users otherwise.
func TestSSONext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"", "/console/t/acme/users"},
		{"/console/", "/console/t/acme/users"},
		{"/console/t/acme/users?status=disabled", "/console/t/acme/users?status=disabled"},
		{"/console/t/acme/cards/c1", "/console/t/acme/cards/c1"},
		{"/console/t/acme", "/console/t/acme"},
		{"/console/t/globex/users", "/console/t/acme/users"},
		{"/console/t/acmex/users", "/console/t/acme/users"},
		{"https://evil.example/", "/console/t/acme/users"},
		{"https://evil.example/console/t/acme/users", "/console/t/acme/users"},
		{"//evil.example/console/", "/console/t/acme/users"},
		{"/console/\\evil.example", "/console/t/acme/users"},
		{"/elsewhere", "/console/t/acme/users"},
	} {
		if got := ssoNext(tc.next, "acme"); got != tc.want {
			t.Errorf("ssoNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}
