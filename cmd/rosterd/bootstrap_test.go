package main

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestBootstrapOnATerminal: on a terminal the secrets are shown there, no
// file is written and nothing goes to the log; the secrets work.
func TestBootstrapOnATerminal(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	keys := credential.NewKeyring(st, nil)
	var term, logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	if err := bootstrap(t.Context(), cfg, keys, &term, true, logger, time.Now()); err != nil {
		t.Fatal(err)
	}
	m, s := adminKeyLine.FindStringSubmatch(term.String()), scimTokenLine.FindStringSubmatch(term.String())
	if m == nil || s == nil {
		t.Fatalf("secrets not shown on the terminal:\n%s", term.String())
	}
	if strings.Contains(logs.String(), m[1]) || strings.Contains(logs.String(), s[1]) {
		t.Fatalf("a secret is in the log: %s", logs.String())
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Fatalf("files written on a terminal: %v", entries)
	}
	if _, err := keys.Check(t.Context(), store.AdminKey, m[1]); err != nil {
		t.Fatalf("bootstrap admin key: %v", err)
	}
	if c, err := keys.Check(t.Context(), store.SCIMToken, s[1]); err != nil || c.Tenant != "default" {
		t.Fatalf("bootstrap SCIM token: %+v %v", c, err)
	}
}

// TestBootstrapFileFailureStoresNothing: when the secrets cannot be
// written, none is stored, so the next start makes them again instead of
// leaving an installation with a key nobody has.
func TestBootstrapFileFailureStoresNothing(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	cfg := config.Default()
	cfg.DataDir = "/dev/null/not-a-directory"
	keys := credential.NewKeyring(st, nil)
	err := bootstrap(t.Context(), cfg, keys, &bytes.Buffer{}, false, slog.New(slog.DiscardHandler), time.Now())
	if err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("bootstrap into an unwritable directory: %v", err)
	}
	if has, _ := keys.Has(t.Context(), store.AdminKey, ""); has {
		t.Fatal("an admin key was stored although nobody got it")
	}
}
