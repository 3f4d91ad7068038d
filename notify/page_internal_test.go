package notify

import "testing"

func TestCSRFCookieFollowsPublicURL(t *testing.T) {
	for _, tc := range []struct {
		publicURL, name, path string
		secure                bool
	}{
		{"http://127.0.0.1:8080", "rosterd_invite_csrf", "/invite/", false},
		{"http://localhost:8080/rosterd/", "rosterd_invite_csrf", "/rosterd/invite/", false},
		{"https://rosterd.example.com/", "__Host-rosterd_invite_csrf", "/", true},
		{"HTTPS://example.com/a/b/", "__Host-rosterd_invite_csrf", "/", true},
	} {
		p, err := NewInvitePage(nil, nil, nil, PageOptions{PublicURL: tc.publicURL})
		if err != nil {
			t.Fatal(err)
		}
		if p.cookie != tc.name || p.path != tc.path || p.secure != tc.secure {
			t.Errorf("public_url %s: cookie %q path %q secure %v, want %q %q %v", tc.publicURL, p.cookie, p.path, p.secure, tc.name, tc.path, tc.secure)
		}
	}
}
