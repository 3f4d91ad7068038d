package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/config"
)

// TestInviteKeyMadeOnceAndShared: without invite_key, the first process
// makes the data directory's invite.key (owner-only) and every later one
// — serve, import, sync run — takes the same; invite_key wins over it; a
// key too short is an error naming the file.
func TestInviteKeyMadeOnceAndShared(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	first, err := inviteKey(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, "invite.key")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("invite.key: %v, %v; want a file readable by its owner only", info, err)
	}
	again, err := inviteKey(cfg, logger)
	if err != nil || again.ID() != first.ID() {
		t.Fatalf("second process: key %v, %v; want the first's", again, err)
	}
	if left, _ := filepath.Glob(filepath.Join(cfg.DataDir, ".invite.key-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	cfg.InviteKey = strings.Repeat("x", 32)
	set, err := inviteKey(cfg, logger)
	if err != nil || set.ID() == first.ID() {
		t.Fatalf("invite_key: %v, %v; want its own key", set, err)
	}

	cfg.InviteKey = ""
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := inviteKey(cfg, logger); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("a short invite.key: %v", err)
	}
}
