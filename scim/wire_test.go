package scim

import "testing"

func TestSubAttributeAfterValuePath(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work"].value eq "a@b.c"`:                      `emails[type eq "work" and value eq "a@b.c"]`,
		`emails[type eq "work"].value EQ "a \" ]b"`:                    `emails[type eq "work" and value EQ "a \" ]b"]`,
		`userName eq "x" and emails[type eq "work"].value pr`:          `userName eq "x" and emails[type eq "work" and value pr]`,
		`emails[type eq "work" and primary eq true]`:                   `emails[type eq "work" and primary eq true]`,
		`(emails[type eq "work"].value sw "a") or userName eq "a@b.c"`: `(emails[type eq "work" and value sw "a"]) or userName eq "a@b.c"`,
		`emails[type eq "work" or type eq "home"].value eq "a@b.c"`:    `emails[type eq "work" or type eq "home"].value eq "a@b.c"`,
	} {
		if got := rewriteSubAttrAfterValuePath(in); got != want {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
}
