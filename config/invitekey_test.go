package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestInviteKey(t *testing.T) {
	short := parseError(t, "invite_key: hunter2\n")
	if !strings.Contains(short.Error(), "invite_key") || !strings.Contains(short.Error(), "at least 32 bytes") || strings.Contains(short.Error(), "hunter2") {
		t.Errorf("a short invite_key: %v", short)
	}
	both := parseError(t, "invite_key: "+strings.Repeat("k", 32)+"\ninvite_key_file: /k\n")
	if !strings.Contains(both.Error(), "set either invite_key or invite_key_file, not both") {
		t.Errorf("both invite_key and invite_key_file: %v", both)
	}

	dir := t.TempDir()
	key := strings.Repeat("0123456789abcdef", 3)
	writeFile(t, filepath.Join(dir, "invite.key"), key+"\n")
	writeFile(t, filepath.Join(dir, "rosterd.yaml"), "invite_key_file: invite.key\n")
	c, err := Load(filepath.Join(dir, "rosterd.yaml"))
	if err != nil || c.InviteKey != key || c.InviteKeyFile != "" {
		t.Fatalf("invite_key_file: %q %q %v", c.InviteKey, c.InviteKeyFile, err)
	}
	if c, err := parse(t, "listen: 127.0.0.1:8080\n"); err != nil || c.InviteKey != "" {
		t.Fatalf("no invite_key: %q, %v", c.InviteKey, err)
	}
}
