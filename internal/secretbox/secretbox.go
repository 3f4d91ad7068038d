package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size of a key-encryption key: AES-256.
const KeySize = 32

// prefix marks a sealed value, and its format version.
const prefix = "rsb1."

// Errors Open returns, wrapped with what it knows.
var (
	// ErrNotSealed: the value is not a sealed value at all (plaintext
	// from before sealing, or something else).
	ErrNotSealed = errors.New("secretbox: not a sealed value")
	// ErrUnknownKey: the value was sealed under a key this Box does not
	// hold: another key-encryption key is configured than the one that
	// sealed it.
	ErrUnknownKey = errors.New("secretbox: sealed under another key-encryption key")
	// ErrCorrupt: the value names a key this Box holds but does not open:
	// it was changed, or it belongs to another row.
	ErrCorrupt = errors.New("secretbox: sealed value does not open")
)

// Key is a key-encryption key.
type Key struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// NewKey makes a key of KeySize raw bytes.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("secretbox: a key is %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("secretbox: %w", err)
	}
	sum := sha256.Sum256(append([]byte("rosterd secretbox key id\x00"), raw...))
	return Key{id: hex.EncodeToString(sum[:8]), raw: bytes.Clone(raw), aead: aead}, nil
}

// Derive returns a key of n bytes for purpose, derived from k with HKDF
// (SHA-256), so that one configured key serves several uses without any
// of them revealing it or another's: Derive("invite tokens", 32) is the
// invite key. Other purposes give unrelated keys.
func (k Key) Derive(purpose string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.raw, nil, "rosterd "+purpose, n)
	if err != nil {
		panic(err) // only for n beyond 255 hash lengths
	}
	return out
}

// ID names the key without revealing it: 16 hex digits of a hash.
func (k Key) ID() string { return k.id }

// GenerateKey makes a random key and returns it with its text form
// (base64), for a key file or a configuration.
func GenerateKey() (Key, string, error) {
	raw := make([]byte, KeySize)
	_, _ = rand.Read(raw) // never fails (Go 1.24+)
	k, err := NewKey(raw)
	return k, base64.StdEncoding.EncodeToString(raw), err
}

// Box seals under its primary key and opens under any of its keys.
type Box struct {
	primary Key
	byID    map[string]Key
}

// New is a Box sealing under primary; older keys still open what they
// sealed.
func New(primary Key, older ...Key) *Box {
	b := &Box{primary: primary, byID: map[string]Key{primary.id: primary}}
	for _, k := range older {
		if _, dup := b.byID[k.id]; !dup {
			b.byID[k.id] = k
		}
	}
	return b
}

// KeyID is the id of the key Box seals under.
func (b *Box) KeyID() string { return b.primary.id }

// Seal encrypts plaintext, bound to aad (what the secret is for; it must
// be given again to Open).
func (b *Box) Seal(plaintext, aad []byte) []byte {
	k := b.primary
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	_, _ = rand.Read(nonce) // never fails (Go 1.24+)
	ct := k.aead.Seal(nonce, nonce, plaintext, b.aad(k, aad))
	out := make([]byte, 0, len(prefix)+len(k.id)+1+base64.RawStdEncoding.EncodedLen(len(ct)))
	out = append(out, prefix...)
	out = append(out, k.id...)
	out = append(out, '.')
	return base64.RawStdEncoding.AppendEncode(out, ct)
}

// Open decrypts a value Seal made with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, ErrNotSealed
	}
	id, body, ok := bytes.Cut(sealed[len(prefix):], []byte{'.'})
	if !ok {
		return nil, fmt.Errorf("%w: no key id", ErrCorrupt)
	}
	k, ok := b.byID[string(id)]
	if !ok {
		return nil, fmt.Errorf("%w: sealed under key id %.32s, and the key-encryption key configured has id %s", ErrUnknownKey, id, b.primary.id)
	}
	ct, err := base64.RawStdEncoding.AppendDecode(nil, body)
	if err != nil || len(ct) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: under key id %s: not a ciphertext", ErrCorrupt, k.id)
	}
	ns := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, ct[:ns], ct[ns:], b.aad(k, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: under key id %s: changed, or sealed for something else", ErrCorrupt, k.id)
	}
	return plain, nil
}

// aad binds the format version and the key id along with the caller's.
func (b *Box) aad(k Key, aad []byte) []byte {
	return append([]byte(prefix+k.id+"\x00"), aad...)
}

// IsSealed reports whether v has the form of a sealed value.
func IsSealed(v []byte) bool { return bytes.HasPrefix(v, []byte(prefix)) }

// KeyIDOf returns the id of the key a sealed value names, or "" when v is
// not sealed: rotation skips what is already under the primary key.
func KeyIDOf(v []byte) string {
	if !IsSealed(v) {
		return ""
	}
	id, _, ok := bytes.Cut(v[len(prefix):], []byte{'.'})
	if !ok {
		return ""
	}
	return string(id)
}

// Reseal opens sealed with any key of b and seals it again under the
// primary key, bound to the same aad. A value already under the primary
// key is returned as it is, with changed false.
func (b *Box) Reseal(sealed, aad []byte) (out []byte, changed bool, err error) {
	if KeyIDOf(sealed) == b.primary.id {
		if _, err := b.Open(sealed, aad); err != nil {
			return nil, false, err
		}
		return sealed, false, nil
	}
	plain, err := b.Open(sealed, aad)
	if err != nil {
		return nil, false, err
	}
	return b.Seal(plain, aad), true, nil
}
