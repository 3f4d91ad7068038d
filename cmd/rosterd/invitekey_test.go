package main

import (
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
)

// TestInviteKeyDerivesFromSecretsKey: an operator keeps one key. The
// invite key is derived from secrets_key (or, without it, from the data
// directory's secrets.key, made once, owner-only), so every process
// holding that key — serve, import, sync run — derives the same invite
// key, another secrets key another one, and no invite.key is written.
func TestInviteKeyDerivesFromSecretsKey(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	first, err := inviteKey(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, secretsKeyFile)
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v, %v; want a file readable by its owner only", info, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "invite.key")); !os.IsNotExist(err) {
		t.Fatalf("an invite.key was written beside secrets.key: %v", err)
	}
	again, err := inviteKey(cfg, logger)
	if err != nil || again.ID() != first.ID() {
		t.Fatalf("second process: key %v, %v; want the first's", again, err)
	}

	raw := []byte(strings.Repeat("k", 32))
	cfg.SecretsKey = base64.StdEncoding.EncodeToString(raw)
	set, err := inviteKey(cfg, logger)
	if err != nil || set.ID() == first.ID() {
		t.Fatalf("secrets_key: %v, %v; want a key of its own", set, err)
	}
	if again, err := inviteKey(cfg, logger); err != nil || again.ID() != set.ID() {
		t.Fatalf("secrets_key again: %v, %v; want %s", again, err, set.ID())
	}
	// Derived, not the secrets key itself.
	if plain, _ := directory.NewInviteKey(raw); plain.ID() == set.ID() {
		t.Fatal("the invite key is the secrets key itself")
	}
}
