package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
