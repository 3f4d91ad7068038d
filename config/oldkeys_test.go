package config

import "testing"

// TestSecretsOldKeyFilesResolved: the old keys of a rotation are read
// relative to the configuration file, as every *_file is.
func TestSecretsOldKeyFilesResolved(t *testing.T) {
	c, err := Parse([]byte("secrets_old_key_files: [old.key, /abs/older.key]\n"), "/etc/rosterd/rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SecretsOldKeyFiles) != 2 || c.SecretsOldKeyFiles[0] != "/etc/rosterd/old.key" || c.SecretsOldKeyFiles[1] != "/abs/older.key" {
		t.Fatalf("secrets_old_key_files = %q", c.SecretsOldKeyFiles)
	}
}
