package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scimStatus is the status of GET /scim/{tenant}/v2/Users with token.
func scimStatus(t *testing.T, base, tenant, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/scim/"+tenant+"/v2/Users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cli runs `rosterd ARGS…` and returns its exit code, stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := run(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// TestSCIMTokenCommand: a token made by `rosterd scim-token create` works
// against the daemon for its tenant only; list shows it without its secret;
// --rotate ends the connection's other tokens; revoke stops a token while
// the daemon runs. On a tenant that takes API changes the tokens are the
// registry's (the connection is created on first use).
func TestSCIMTokenCommand(t *testing.T) {
	dir := t.TempDir()
	yaml := fmt.Sprintf(`data_dir: %s
tenants:
  - id: acme
    name: Acme
    invite: none
    api_may_extend: true
  - id: globex
    name: Globex
    invite: none
`, dir)
	cfg := filepath.Join(t.TempDir(), "rosterd.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, first, errs := cli("scim-token", "create", "--tenant", "acme", "--connection", "okta", "--config", cfg)
	first = strings.TrimSpace(first)
	if code != 0 || !strings.HasPrefix(first, "rst_") || !strings.Contains(errs, `SCIM connection "okta" of tenant "acme" created`) {
		t.Fatalf("create: %d %q %s", code, first, errs)
	}
	code, second, errs := cli("scim-token", "create", "--tenant", "acme", "--connection", "okta", "--config", cfg)
	second = strings.TrimSpace(second)
	if code != 0 || !strings.HasPrefix(second, "rst_") || second == first || strings.Contains(errs, "connection \"okta\" of tenant \"acme\" created (") {
		t.Fatalf("second create: %d %q %s", code, second, errs)
	}
	code, list, errs := cli("scim-token", "list", "--tenant", "acme", "--connection", "okta", "--config", cfg)
	if code != 0 || strings.Count(list, "okta") != 2 || strings.Count(list, " api ") != 2 {
		t.Fatalf("list: %d\n%s%s", code, list, errs)
	}
	if strings.Contains(list, first) || strings.Contains(list, second) {
		t.Fatalf("list shows a secret:\n%s", list)
	}
	secondID := ""
	for _, line := range strings.Split(list, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			secondID = f[0] // oldest first: the last row is the second token
		}
	}

	// The file manages globex: the token is kept with the admin keys and
	// works all the same; rotation there is refused.
	code, globex, errs := cli("scim-token", "create", "--tenant", "globex", "--connection", "entra", "--config", cfg)
	globex = strings.TrimSpace(globex)
	if code != 0 || !strings.HasPrefix(globex, "rst_") || !strings.Contains(errs, "kept with the admin keys") {
		t.Fatalf("create on a file-managed tenant: %d %q %s", code, globex, errs)
	}
	if code, _, errs := cli("scim-token", "create", "--tenant", "globex", "--connection", "entra", "--rotate", "1h", "--config", cfg); code != 2 || !strings.Contains(errs, `no SCIM connection "entra" to rotate`) {
		t.Fatalf("rotate on a file-managed tenant: %d %s", code, errs)
	}

	// Mistakes are usage errors that say what is wrong.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--tenant", "nope", "--connection", "okta"}, `no live tenant "nope"`},
		{[]string{"create", "--tenant", "acme"}, "needs --connection"},
		{[]string{"create", "--connection", "okta"}, "needs --tenant"},
		{[]string{"create", "--tenant", "acme", "--connection", "Bad Name"}, "--connection"},
		{[]string{"revoke", "--tenant", "acme", "--connection", "okta"}, "one token ID"},
		{[]string{"revoke", "no-such-id", "--tenant", "acme", "--connection", "okta"}, "has no token no-such-id"},
		{[]string{"list", "--tenant", "acme", "--connection", "nope"}, `no SCIM connection "nope"`},
		{[]string{"rename", "--tenant", "acme"}, "unknown scim-token command"},
		{[]string{"list", "--tenant", "acme", "--bogus"}, "bogus"},
	} {
		code, _, errs := cli(append(append([]string{"scim-token"}, c.args...), "--config", cfg)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("scim-token %v: exit %d, want 2 and %q in:\n%s", c.args, code, c.want, errs)
		}
	}

	d := startServe(t, t.TempDir(), yaml)
	if got := scimStatus(t, d.base, "acme", first); got != 200 {
		t.Fatalf("first token: %d", got)
	}
	if got := scimStatus(t, d.base, "acme", second); got != 200 {
		t.Fatalf("second token: %d", got)
	}
	if got := scimStatus(t, d.base, "globex", globex); got != 200 {
		t.Fatalf("globex token: %d", got)
	}
	if scimStatus(t, d.base, "globex", first) != 401 || scimStatus(t, d.base, "acme", globex) != 401 {
		t.Fatal("a token works for another tenant")
	}

	// Revoke, while the daemon runs: the daemon's registry follows.
	code, _, errs = cli("scim-token", "revoke", secondID, "--tenant", "acme", "--connection", "okta", "--config", cfg)
	if code != 0 {
		t.Fatalf("revoke: %d %s", code, errs)
	}
	waitStatus(t, d.base, "acme", second, 401)
	if got := scimStatus(t, d.base, "acme", first); got != 200 {
		t.Fatalf("first token after revoking the second: %d", got)
	}
	// Rotation: a third token; the others expire after the overlap.
	code, third, errs := cli("scim-token", "create", "--tenant", "acme", "--connection", "okta", "--rotate", "1s", "--config", cfg)
	third = strings.TrimSpace(third)
	if code != 0 || !strings.Contains(errs, "other tokens stop working in 1s") {
		t.Fatalf("rotate: %d %s", code, errs)
	}
	waitStatus(t, d.base, "acme", first, 401)
	if got := scimStatus(t, d.base, "acme", third); got != 200 {
		t.Fatalf("the rotated-in token: %d", got)
	}

	code, list, _ = cli("scim-token", "list", "--tenant", "globex", "--config", cfg)
	f := strings.Fields(strings.Split(list, "\n")[1])
	if code != 0 || len(f) < 3 || f[1] != "entra" || f[2] != "cli" {
		t.Fatalf("globex list: %d\n%s", code, list)
	}
	if code, _, errs := cli("scim-token", "revoke", f[0], "--tenant", "globex", "--connection", "entra", "--config", cfg); code != 0 {
		t.Fatalf("revoke globex: %d %s", code, errs)
	}
	if got := scimStatus(t, d.base, "globex", globex); got != 401 {
		t.Fatalf("globex token after revoke: %d", got)
	}
}

// waitStatus waits (up to 10 s, the registry polls each second) until the
// token's SCIM request answers want.
func waitStatus(t *testing.T, base, tenant, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scimStatus(t, base, tenant, token)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("token still answers %d, want %d", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
