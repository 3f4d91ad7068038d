// Package testenv holds the helpers tests use to find and reach the real
// servers they run against (postgres, slapd, sshd, an SMTP capture server,
// newman…), and the single rule for when one is missing: on a developer's
// machine the test is skipped with a loud, specific reason; under CI
// (CI=true or CI=1) the test fails, because in CI a missing server is a
// broken setup, never a skip.
//
// Usage:
//
//	slapd := testenv.LookPath(t, "slapd", "apt-get install slapd ldap-utils", "/usr/sbin")
//	port := testenv.FreePort(t)
//	if err := start(slapd, port); err != nil { testenv.Unavailable(t, "slapd did not start: %v", err) }
package testenv
