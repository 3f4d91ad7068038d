package secretbox

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func key(t testing.TB, b byte) Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	box := New(key(t, 1))
	secret := []byte("-----BEGIN RSA PRIVATE KEY-----\nMIIE…\n-----END RSA PRIVATE KEY-----\n")
	sealed := box.Seal(secret, []byte("saml_key_pairs/acme"))
	if !IsSealed(sealed) || bytes.Contains(sealed, []byte("PRIVATE KEY")) || bytes.Contains(sealed, []byte("MIIE")) {
		t.Fatalf("sealed %q", sealed)
	}
	if again := box.Seal(secret, []byte("saml_key_pairs/acme")); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, []byte("saml_key_pairs/acme"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	for _, tc := range []struct {
		name   string
		box    *Box
		sealed []byte
		aad    string
		want   error
	}{
		{"another key", New(key(t, 2)), sealed, "saml_key_pairs/acme", ErrUnknownKey},
		{"another row", box, sealed, "saml_key_pairs/globex", ErrCorrupt},
		{"changed", box, flip(sealed), "saml_key_pairs/acme", ErrCorrupt},
		{"truncated", box, sealed[:30], "saml_key_pairs/acme", ErrCorrupt},
		{"plaintext", box, secret, "saml_key_pairs/acme", ErrNotSealed},
		{"no key id", box, []byte("rsb1.abc"), "saml_key_pairs/acme", ErrCorrupt},
		// A key id that is the right key's, on a value sealed by another
		// key with that id written in: the tag does not verify.
		{"forged key id", box, []byte(strings.Replace(string(New(key(t, 3)).Seal(secret, nil)), New(key(t, 3)).KeyID(), box.KeyID(), 1)), "", ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.box.Open(tc.sealed, []byte(tc.aad))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if bytes.Contains([]byte(err.Error()), []byte("PRIVATE")) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
	// The error for another key names both key ids.
	_, err = New(key(t, 2)).Open(sealed, []byte("saml_key_pairs/acme"))
	if !strings.Contains(err.Error(), key(t, 1).ID()) || !strings.Contains(err.Error(), key(t, 2).ID()) {
		t.Fatalf("error %q does not name both key ids", err)
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-3] ^= 0x01
	if c[len(c)-3] == '.' { // keep it base64
		c[len(c)-3] = 'A'
	}
	return c
}

// TestRotation: a Box with an older key opens what that key sealed and
// seals under the new one.
func TestRotation(t *testing.T) {
	old, cur := key(t, 1), key(t, 2)
	sealedOld := New(old).Seal([]byte("s"), nil)
	box := New(cur, old)
	if got, err := box.Open(sealedOld, nil); err != nil || string(got) != "s" {
		t.Fatalf("Open of a value sealed under the older key: %q, %v", got, err)
	}
	if sealed := box.Seal([]byte("s"), nil); !bytes.Contains(sealed, []byte(cur.ID())) {
		t.Fatalf("sealed %q not under the primary key %s", sealed, cur.ID())
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	want := key(t, 0xab).ID()
	for _, s := range []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		"  " + base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		k, err := ParseKey(s)
		if err != nil || k.ID() != want {
			t.Errorf("ParseKey(%q) = %s, %v; want key %s", s, k.ID(), err, want)
		}
	}
	for s, msg := range map[string]string{
		"":                           "empty",
		"correct horse battery":      "neither",
		hex.EncodeToString(raw[:16]): "32 hex digits, want 64",
		base64.StdEncoding.EncodeToString(raw[:16]):       "16 bytes",
		base64.StdEncoding.EncodeToString(append(raw, 1)): "33 bytes",
	} {
		_, err := ParseKey(s)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseKey(%q) = %v, want an error saying %q", s, err, msg)
		}
		if s != "" && err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey's error quotes the key: %v", err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	k, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKeyFile: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || k2.ID() != k.ID() {
		t.Fatalf("second LoadOrCreateKeyFile: key %s (want %s), created %v, %v", k2.ID(), k.ID(), created, err)
	}
	sealed := New(k).Seal([]byte("s"), nil)
	if got, err := New(k2).Open(sealed, nil); err != nil || string(got) != "s" {
		t.Fatalf("the reloaded key does not open: %q, %v", got, err)
	}
	// Readable by others: refused, naming the file.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("a 0644 key file: %v", err)
	}
	// A broken one: refused, naming the file, not quoting it.
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("not a key at all"), 0o600)
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "not a key at all") {
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
			k, _, err := LoadOrCreateKeyFile(path)
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

func FuzzOpen(f *testing.F) {
	box := New(key(f, 1))
	f.Add(box.Seal([]byte("secret"), []byte("a")), []byte("a"))
	f.Add([]byte("rsb1."), []byte(""))
	f.Add([]byte("rsb1."+box.KeyID()+"."), []byte(""))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		plain, err := box.Open(sealed, aad)
		if err == nil && !bytes.Equal(box.Seal(plain, aad)[:len(prefix)+len(box.KeyID())], sealed[:len(prefix)+len(box.KeyID())]) {
			t.Fatal("opened a value not under this key")
		}
	})
}
