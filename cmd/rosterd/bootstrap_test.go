package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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

// TestFailedFirstStartKeepsTheBootstrapSecrets: a first start that cannot
// listen (the port is taken) delivers and stores no secret, so nobody is
// left without the only admin key; once the port is free the next start
// delivers a fresh pair, and both work.
func TestFailedFirstStartKeepsTheBootstrapSecrets(t *testing.T) {
	data := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--log-format", "json", "--listen", taken.Addr().String(), "--data-dir", data}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "in use") {
		t.Fatalf("serve on a taken port: exit %d\n%s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(data, bootstrapFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed start delivered secrets: %v", err)
	}
	if adminKeyLine.MatchString(stderr.String()) || scimTokenLine.MatchString(stderr.String()) {
		t.Fatalf("the failed start printed secrets:\n%s", stderr.String())
	}
	var list bytes.Buffer
	if code := run(t.Context(), []string{"apikey", "list", "--data-dir", data}, &list, io.Discard); code != 0 || strings.Contains(list.String(), "bootstrap") {
		t.Fatalf("after the failed start, stored keys (exit %d):\n%s", code, list.String())
	}
	taken.Close()

	d := startServe(t, t.TempDir(), "-", "--data-dir", data)
	secrets := readBootstrapFile(t, data)
	m, s := adminKeyLine.FindStringSubmatch(secrets), scimTokenLine.FindStringSubmatch(secrets)
	if m == nil || s == nil {
		t.Fatalf("no bootstrap secrets after the good start:\n%s", secrets)
	}
	if code, body := get(t, d.base+"/api/v1/tenants", m[1]); code != 200 {
		t.Fatalf("bootstrap admin key: %d %s", code, body)
	}
	if code := scimStatus(t, d.base, "default", s[1]); code != 200 {
		t.Fatalf("bootstrap SCIM token: %d", code)
	}
}
