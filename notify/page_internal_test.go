package notify

import "testing"

func TestCSRFCookieFollowsPublicURL(t *testing.T) {
	for _, tc := range []struct {
		publicURL, path string
		secure          bool
	}{
		{"http://127.0.0.1:8080", "/invite/", false},
		{"https://rosterd.example.com/", "/invite/", true},
		{"https://example.com/rosterd", "/rosterd/invite/", true},
		{"HTTPS://example.com/a/b/", "/a/b/invite/", true},
	} {
		p, err := NewInvitePage(nil, nil, nil, PageOptions{PublicURL: tc.publicURL})
		if err != nil {
			t.Fatal(err)
		}
		if p.path != tc.path || p.secure != tc.secure {
			t.Errorf("public_url %s: cookie path %q secure %v, want %q %v", tc.publicURL, p.path, p.secure, tc.path, tc.secure)
		}
	}
}
