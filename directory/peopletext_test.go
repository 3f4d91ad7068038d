package directory

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParsePeopleText(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string // per entry: line:email/given/family, or line:!text for an error
	}{
		{"ann@example.com", "1:ann@example.com//"},
		{"ann@example.com, bob@example.com;cy@example.com  dee@example.com\n\teve@example.com", "1:ann@example.com// 1:bob@example.com// 1:cy@example.com// 1:dee@example.com// 2:eve@example.com//"},
		{"Ann Smith <ann@example.com>", "1:ann@example.com/Ann/Smith"},
		{`"Smith, Ann" <ann@example.com>`, "1:ann@example.com/Ann/Smith"},
		{`"Smith, Ann" <ann@example.com>, Bob <bob@example.com>; Mary Ann van Dyke <m@example.com>`, "1:ann@example.com/Ann/Smith 1:bob@example.com/Bob/ 1:m@example.com/Mary Ann van/Dyke"},
		{"Ann <ann@example.com>\r\n\r\nnot-an-email\r\nBob <bob@>", "1:ann@example.com/Ann/ 3:!not-an-email 4:!Bob <bob@>"},
		{`"Smith, Ann <ann@example.com>`, `1:!"Smith, Ann <ann@example.com>`},
		{"Zoë Ünal <zoe@example.com>", "1:zoe@example.com/Zoë/Ünal"},
		{"", ""},
	} {
		var got []string
		for _, e := range ParsePeopleText(tc.text) {
			if e.Err != nil {
				got = append(got, fmt.Sprintf("%d:!%s", e.Line, e.Text))
				continue
			}
			got = append(got, fmt.Sprintf("%d:%s/%s/%s", e.Line, e.Person.Email, e.Person.Attributes.GivenName, e.Person.Attributes.FamilyName))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.text, g, tc.want)
		}
	}
}

func FuzzParsePeopleText(f *testing.F) {
	for _, s := range []string{"ann@example.com", `"Smith, Ann" <ann@example.com>; Bob <b@x.y>`, "<<>>\",;\\", "a@b, \"c\\\"d\" <e@f>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		for _, e := range ParsePeopleText(s) {
			if e.Line < 1 || e.Text == "" {
				t.Fatalf("entry %+v of %q", e, s)
			}
			if e.Err == nil {
				if _, _, err := NormalizeEmail(e.Person.Email); err != nil {
					t.Fatalf("entry %+v of %q has a bad email without an error", e, s)
				}
			}
		}
	})
}

func TestNotInvitedReason(t *testing.T) {
	email := DefaultPolicy()
	sso := email
	sso.Invite = "none"
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		policy Policy
		card   Card
		want   NotInvited
	}{
		{"enabled, never logged in", email, Card{Email: "a@example.com", Enabled: true}, ""},
		{"sso tenant", sso, Card{Email: "a@example.com", Enabled: true}, NotInvitedModeNone},
		{"logged in", email, Card{Email: "a@example.com", Enabled: true, FirstLoginAt: now}, NotInvitedActive},
		{"pinned", email, Card{Email: "a@example.com", Pin: &Pin{Reason: "left"}}, NotInvitedPinned},
		{"deactivated", email, Card{Email: "a@example.com"}, NotInvitedDisabled},
		{"no email", email, Card{Enabled: true}, NotInvitedNoEmail},
	} {
		if got := NotInvitedReason(tc.policy, tc.card); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
