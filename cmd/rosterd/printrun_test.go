package main

import (
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// A file run names its size; a directory (LDAP) run has none to name.
func TestPrintRunSource(t *testing.T) {
	for _, tc := range []struct {
		run       store.Run
		want, not string
	}{
		{store.Run{ID: "r1", FileName: "hr.csv", FileSize: 2048, FileHash: "abcdef0123456789"}, "file hr.csv (2048 bytes, sha256 abcdef012345…)", "source"},
		{store.Run{ID: "r2", FileName: "ldap://dc1 dc=example,dc=com", FileHash: "abcdef0123456789"}, "source ldap://dc1 dc=example,dc=com (sha256 abcdef012345…)", "bytes"},
	} {
		var b strings.Builder
		printRun(&b, tc.run)
		got := strings.Join(strings.Fields(b.String()), " ") // columns are padded by tabwriter
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("printRun(%s):\n%s\nwant a line %q and no %q", tc.run.ID, b.String(), tc.want, tc.not)
		}
	}
}
