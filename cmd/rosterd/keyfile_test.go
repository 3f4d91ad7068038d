package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rosterd/rosterd/internal/secretbox"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	k, created, err := loadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first loadOrCreateKeyFile: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	k2, created, err := loadOrCreateKeyFile(path)
	if err != nil || created || k2.ID() != k.ID() {
		t.Fatalf("second loadOrCreateKeyFile: key %s (want %s), created %v, %v", k2.ID(), k.ID(), created, err)
	}
	sealed := secretbox.New(k).Seal([]byte("s"), nil)
	if got, err := secretbox.New(k2).Open(sealed, nil); err != nil || string(got) != "s" {
		t.Fatalf("the reloaded key does not open: %q, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secrets.key-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Readable by others: refused, naming the file.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("a 0644 key file: %v", err)
	}
	// A broken one: refused, naming the file, not quoting it.
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("not a key at all"), 0o600)
	if _, _, err := loadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "not a key at all") {
		t.Fatalf("a broken key file: %v", err)
	}
}

// TestKeyFileRace: processes starting at once end up with one key.
func TestKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := loadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("key ids %v: not one key", ids)
		}
	}
}
