package notify

import (
	"strings"
	"testing"
)

// TestInviteTextEndsItsSentenceOnce: a tenant name that ends in a full
// stop ("Acme Inc.") gets no second one.
func TestInviteTextEndsItsSentenceOnce(t *testing.T) {
	for _, reminder := range []bool{false, true} {
		for name, want := range map[string]string{"Acme Inc.": "invited to Acme Inc.\n", "Globex": "invited to Globex.\n"} {
			text, _, err := inviteData{TenantName: name, Link: "https://x.example/invite/acme/t", Expires: "soon", Reminder: reminder}.render()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, want) || strings.Contains(text, "..") {
				t.Errorf("reminder %v, %q: %q, want %q", reminder, name, text, want)
			}
		}
	}
}
