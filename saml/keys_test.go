package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// testBox is a Box under a fixed key-encryption key (n tells keys apart).
func testBox(t testing.TB, n byte) *secretbox.Box {
	t.Helper()
	k, err := secretbox.NewKey(bytes.Repeat([]byte{n}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return secretbox.New(k)
}

// notTheKey fails when stored holds the private key in any readable form:
// PEM, DER, or the base64 of the DER that PEM carries.
func notTheKey(t *testing.T, stored []byte, kp KeyPair) {
	t.Helper()
	der := x509.MarshalPKCS1PrivateKey(kp.Key)
	b64 := base64.StdEncoding.EncodeToString(der)
	switch {
	case bytes.Contains(stored, []byte("PRIVATE KEY")):
		t.Fatalf("the store holds a PEM private key: %.60q", stored)
	case bytes.Contains(stored, der[:64]):
		t.Fatal("the store holds the DER private key")
	case bytes.Contains(stored, []byte(b64[:64])):
		t.Fatal("the store holds the base64 of the DER private key")
	case !secretbox.IsSealed(stored):
		t.Fatalf("the stored key %.20q is not sealed", stored)
	}
}

// TestStoredKeySealedAtRest: the generated SP key is stored sealed on
// both backends; a restart with the same key-encryption key loads the
// same key; another key-encryption key fails, saying so.
func TestStoredKeySealedAtRest(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		kp, sealed, err := StoredKeyPair(ctx, st, testBox(t, 1), "acme", fixNow)
		if err != nil || sealed {
			t.Fatalf("StoredKeyPair = sealed %v, %v", sealed, err)
		}
		row, err := st.SAMLKeyPair(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		notTheKey(t, row.KeyPEM, kp)

		again, _, err := StoredKeyPair(ctx, st, testBox(t, 1), "acme", fixNow)
		if err != nil || !again.Key.Equal(kp.Key) || !again.Cert.Equal(kp.Cert) {
			t.Fatalf("after a restart with the same KEK: %v; same key %v", err, err == nil && again.Key.Equal(kp.Key))
		}

		_, _, err = StoredKeyPair(ctx, st, testBox(t, 2), "acme", fixNow)
		if !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), `"acme"`) || !strings.Contains(err.Error(), "key-encryption key") {
			t.Fatalf("with another KEK: %v; want ErrUnknownKey naming the pair and the key-encryption key", err)
		}
		// A sealed key copied to another tenant's row does not open there.
		row.Name = "globex"
		if _, err := st.PutSAMLKeyPair(ctx, row); err != nil {
			t.Fatal(err)
		}
		if _, _, err := StoredKeyPair(ctx, st, testBox(t, 1), "globex", fixNow); !errors.Is(err, secretbox.ErrCorrupt) {
			t.Fatalf("acme's sealed key under globex: %v, want ErrCorrupt", err)
		}
	})
}

// TestStoredKeyMigrated: a key an older rosterd stored in the clear is
// sealed in place on the first start, and stays the same key.
func TestStoredKeyMigrated(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		certPEM, keyPEM, err := GenerateKeyPair("old", fixNow)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := ParseKeyPair(certPEM, keyPEM)
		if _, err := st.PutSAMLKeyPair(ctx, store.SAMLKeyPair{Name: "acme", KeyPEM: keyPEM, CertPEM: certPEM, Created: fixNow}); err != nil {
			t.Fatal(err)
		}
		kp, sealed, err := StoredKeyPair(ctx, st, testBox(t, 1), "acme", fixNow)
		if err != nil || !sealed || !kp.Key.Equal(old.Key) {
			t.Fatalf("first start over a plaintext key: sealed %v, %v; same key %v", sealed, err, err == nil && kp.Key.Equal(old.Key))
		}
		row, _ := st.SAMLKeyPair(ctx, "acme")
		notTheKey(t, row.KeyPEM, kp)
		kp2, sealed, err := StoredKeyPair(ctx, st, testBox(t, 1), "acme", fixNow)
		if err != nil || sealed || !kp2.Key.Equal(old.Key) {
			t.Fatalf("second start: sealed %v, %v", sealed, err)
		}
	})
}

// TestNewNeedsSecretsForStoredKeys: without a key-encryption key a tenant
// whose key would be stored does not start.
func TestNewNeedsSecretsForStoredKeys(t *testing.T) {
	_, err := New(context.Background(), nil, storetest.Migrated(t, storetest.OpenSQLite), FixedTenants(defaultTenants()[:1]...), Options{PublicURL: publicURL})
	if err == nil || !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("New without Secrets: %v", err)
	}
}

// rawKeyPEM is the SP key as the database row holds it.
func rawKeyPEM(t *testing.T, st store.Backend, name string) []byte {
	t.Helper()
	var key string
	if err := storetest.SQL(st).QueryRowContext(context.Background(), `SELECT key_pem FROM saml_key_pairs WHERE name = $1`, name).Scan(&key); err != nil {
		t.Fatal(err)
	}
	return []byte(key)
}

// TestResealKeyPairs: rotation seals every stored SP key again under the
// new key-encryption key (the raw row names only the new key id) and the
// same key loads under the new key alone; a key an older rosterd stored in
// the clear is sealed; a second run changes nothing; a Box without the key
// that sealed them fails, naming the pair.
func TestResealKeyPairs(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		k1, k2 := testBox(t, 1), testBox(t, 2)
		kp, _, err := StoredKeyPair(ctx, st, k1, "acme", fixNow)
		if err != nil {
			t.Fatal(err)
		}
		crt, keyPEM, err := GenerateKeyPair("legacy", fixNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutSAMLKeyPair(ctx, store.SAMLKeyPair{Name: "legacy", KeyPEM: keyPEM, CertPEM: crt, Created: fixNow}); err != nil {
			t.Fatal(err)
		}
		k2k1 := secretbox.New(mustKey(t, 2), mustKey(t, 1))
		resealed, current, err := ResealKeyPairs(ctx, st, k2k1)
		if err != nil || resealed != 2 || current != 0 {
			t.Fatalf("ResealKeyPairs = %d, %d, %v", resealed, current, err)
		}
		for _, name := range []string{"acme", "legacy"} {
			raw := rawKeyPEM(t, st, name)
			if !bytes.HasPrefix(raw, []byte("rsb1."+k2.KeyID()+".")) || bytes.Contains(raw, []byte("PRIVATE KEY")) {
				t.Fatalf("%s after rotation: %.60q", name, raw)
			}
		}
		notTheKey(t, rawKeyPEM(t, st, "acme"), kp)
		again, _, err := StoredKeyPair(ctx, st, k2, "acme", fixNow)
		if err != nil || !again.Key.Equal(kp.Key) {
			t.Fatalf("the SP key under the new key alone: %v", err)
		}
		if resealed, current, err := ResealKeyPairs(ctx, st, k2k1); err != nil || resealed != 0 || current != 2 {
			t.Fatalf("ResealKeyPairs again = %d, %d, %v", resealed, current, err)
		}
		if _, _, err := ResealKeyPairs(ctx, st, k1); !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), `"acme"`) {
			t.Fatalf("ResealKeyPairs without the key: %v", err)
		}
	})
}

func mustKey(t *testing.T, n byte) secretbox.Key {
	t.Helper()
	k, err := secretbox.NewKey(bytes.Repeat([]byte{n}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
