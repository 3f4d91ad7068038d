package secretbox

import (
	"bytes"
	"errors"
	"strings"
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

// TestDerive: one key, several purposes, unrelated keys; the same key
// and purpose always the same.
func TestDerive(t *testing.T) {
	a, b := key(t, 1), key(t, 2)
	inv := a.Derive("invite tokens", 32)
	if len(inv) != 32 || !bytes.Equal(inv, key(t, 1).Derive("invite tokens", 32)) {
		t.Fatalf("Derive is not a function of key and purpose: %x", inv)
	}
	for _, other := range [][]byte{a.Derive("other", 32), b.Derive("invite tokens", 32), bytes.Repeat([]byte{1}, KeySize)} {
		if bytes.Equal(inv, other) {
			t.Fatalf("Derive gave %x for another key or purpose, or the key itself", other)
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

// TestReseal: a value under an older key comes back under the primary
// one, opening to the same secret; one under the primary key is left as
// it is; a value of another key fails, naming no secret.
func TestReseal(t *testing.T) {
	old, cur := key(t, 1), key(t, 2)
	sealedOld := New(old).Seal([]byte("s3cret"), []byte("a"))
	box := New(cur, old)
	out, changed, err := box.Reseal(sealedOld, []byte("a"))
	if err != nil || !changed || KeyIDOf(out) != cur.ID() || KeyIDOf(sealedOld) != old.ID() {
		t.Fatalf("Reseal = %q, %v, %v", out, changed, err)
	}
	if got, err := New(cur).Open(out, []byte("a")); err != nil || string(got) != "s3cret" {
		t.Fatalf("the resealed value opens to %q, %v", got, err)
	}
	again, changed, err := box.Reseal(out, []byte("a"))
	if err != nil || changed || !bytes.Equal(again, out) {
		t.Fatalf("Reseal of a value under the primary key: %q, %v, %v", again, changed, err)
	}
	if _, _, err := New(cur).Reseal(sealedOld, []byte("a")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Reseal without the old key: %v", err)
	}
	if KeyIDOf([]byte("plain")) != "" {
		t.Fatal("KeyIDOf of plaintext")
	}
}
