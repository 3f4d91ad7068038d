package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI (env CI=true or 1).
func CI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v == "1" || strings.EqualFold(v, "true")
}

// Unavailable is called when a real server a test needs (postgres, slapd,
// sshd, an SMTP capture server, newman…) cannot be found or started.
//
// On a developer's machine it skips the test with a loud, specific reason
// ("SKIP: slapd not installed: apt-get install slapd ldap-utils"); under CI
// it fails the test (t.Fatalf) with the same reason, because in CI a missing
// server is a broken setup, never a skip. Either way it does not return
// (it ends the calling test goroutine, like t.Skip and t.Fatal).
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("UNAVAILABLE under CI (a missing server is a broken CI setup, not a skip): %s", reason)
		return
	}
	t.Skipf("SKIP: %s", reason)
}

// Find looks for an executable named name on PATH, then in each of
// extraDirs in order, and returns its path. It reports, rather than acts on,
// a failure; most tests want LookPath.
func Find(name string, extraDirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range extraDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	where := "PATH"
	if len(extraDirs) > 0 {
		where += " or " + strings.Join(extraDirs, ", ")
	}
	return "", fmt.Errorf("%s not installed (not found on %s): %w", name, where, errNotFound)
}

var errNotFound = errors.New("executable not found")

// LookPath finds a binary on PATH or in extra dirs; on failure it calls
// Unavailable with the install hint (e.g. "apt-get install slapd ldap-utils").
func LookPath(t testing.TB, name string, installHint string, extraDirs ...string) string {
	t.Helper()
	p, err := Find(name, extraDirs...)
	if err != nil {
		Unavailable(t, "%v: %s", err, installHint)
		return ""
	}
	return p
}

// FreePort returns a free TCP port on 127.0.0.1. The port is free when
// FreePort returns; another process may still take it before the caller
// binds it, which is rare enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv.FreePort: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
