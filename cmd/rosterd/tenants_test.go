package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store/sqlite"
)

// TestTenantsPrune: a tenant dropped from the file is kept (and listed)
// until `rosterd tenants prune --config FILE` retires it; the tenants the
// file still declares stay live.
func TestTenantsPrune(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rosterd.yaml")
	write := func(ids ...string) {
		doc := "data_dir: " + dir + "\ntenants:\n"
		for _, id := range ids {
			doc += "  - id: " + id + "\n"
		}
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rosterd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	write("acme", "globex")
	if code, out, errs := rosterd("tenants", "prune", "--config", path); code != 0 || out != "" {
		t.Fatalf("prune with every tenant in the file: %d %q %s", code, out, errs)
	}
	write("acme")
	if code, out, _ := rosterd("tenants", "list", "--config", path); code != 0 || !strings.Contains(out, "globex") || strings.Contains(out, "retired") {
		t.Fatalf("list before prune: %d\n%s", code, out)
	}
	if code, out, errs := rosterd("tenants", "prune", "--config", path); code != 0 || out != "retired globex\n" {
		t.Fatalf("prune: %d %q %s", code, out, errs)
	}
	code, out, _ := rosterd("tenants", "list", "--config", path)
	if code != 0 || !regexpLine(out, "globex", "retired") || !regexpLine(out, "acme", "live") {
		t.Fatalf("list after prune:\n%s", out)
	}
	if code, _, errs := rosterd("tenants", "prune"); code != 2 || !strings.Contains(errs, "--config") {
		t.Fatalf("prune without a file: %d %s", code, errs)
	}
}

// regexpLine reports whether a line of out holds all of words.
func regexpLine(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestAPIKeyListRevoke: `rosterd apikey list` shows the keys (an operator
// key made with --operator among them, no secret), `revoke ID` removes one.
func TestAPIKeyListRevoke(t *testing.T) {
	data := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "create", "platform", "--operator", "--data-dir", data}, &out, &errb); code != 0 {
		t.Fatalf("apikey create --operator: %d %s", code, errb.String())
	}
	secret := strings.TrimSpace(out.String())
	if code := run(context.Background(), []string{"apikey", "create", "x", "--operator", "--tenant", "default", "--data-dir", data}, &bytes.Buffer{}, &errb); code != 2 {
		t.Fatalf("an operator key of a tenant: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"apikey", "list", "--data-dir", data}, &out, &errb); code != 0 || !regexpLine(out.String(), "platform", "read-write,operator", "cli") || strings.Contains(out.String(), secret) {
		t.Fatalf("apikey list: %d\n%s", code, out.String())
	}
	id := strings.Fields(strings.Split(out.String(), "\n")[1])[0]
	if !strings.Contains(out.String(), "LAST USED") || !regexpLine(out.String(), "platform", "never") {
		t.Fatalf("apikey list without the last use:\n%s", out.String())
	}
	// A use the daemon recorded is listed, to the minute.
	st, err := sqlite.Open(filepath.Join(data, "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	used := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	if err := st.TouchCredential(context.Background(), id, used, used.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if run(context.Background(), []string{"apikey", "list", "--data-dir", data}, &out, &errb); !regexpLine(out.String(), "platform", "2026-12-01 08:30") {
		t.Fatalf("apikey list after a use:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"apikey", "revoke", id, "--data-dir", data}, &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("apikey revoke: %d %s", code, errb.String())
	}
	// Both are audited, naming the key's id and the command line.
	audit, err := st.ListTenantAudit(context.Background(), "", 0, 100)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "admin_key.") && strings.Contains(a.Detail, id) && a.Source == "cli" && strings.HasPrefix(a.Actor, "cli") &&
			!strings.Contains(string(a.Before)+string(a.After), secret) {
			got = append(got, a.Action)
		}
	}
	if strings.Join(got, ",") != "admin_key.created,admin_key.revoked" {
		t.Fatalf("audit of apikey create and revoke: %v in %+v", got, audit)
	}
	out.Reset()
	run(context.Background(), []string{"apikey", "list", "--data-dir", data}, &out, &errb)
	if strings.Contains(out.String(), "platform") {
		t.Fatalf("the revoked key is listed:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"apikey", "revoke", id, "--data-dir", data}, &bytes.Buffer{}, &errb); code != 2 {
		t.Fatalf("revoking it again: exit %d", code)
	}
}
