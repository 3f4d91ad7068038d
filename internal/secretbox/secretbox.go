package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
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
	return Key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKey reads a key written as text: 32 bytes in hex (64 digits) or
// base64 (standard or URL alphabet, padded or not). Surrounding space is
// ignored. Errors never quote the text.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Key{}, errors.New("secretbox: empty key")
	}
	if _, err := hex.DecodeString(s); err == nil {
		if len(s) != 2*KeySize {
			return Key{}, fmt.Errorf("secretbox: the key is %d hex digits, want %d (%d bytes)", len(s), 2*KeySize, KeySize)
		}
		raw, _ := hex.DecodeString(s)
		return NewKey(raw)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return Key{}, fmt.Errorf("secretbox: the key decodes (base64) to %d bytes, want %d", len(raw), KeySize)
			}
			return NewKey(raw)
		}
	}
	return Key{}, fmt.Errorf("secretbox: the key is neither %d bytes of hex (%d digits) nor of base64", KeySize, 2*KeySize)
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

// LoadOrCreateKeyFile reads the key in path, or, when there is no file,
// generates one and writes it there with mode 0600 (created reports it).
// Two processes starting at once agree on one key: the file is created
// exclusively, and the loser reads the winner's. A key file that others
// than its owner may read or write is refused.
func LoadOrCreateKeyFile(path string) (k Key, created bool, err error) {
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, text, err := GenerateKey()
	if err != nil {
		return Key{}, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		k, err = readKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("creating key file: %w", err)
	}
	_, err = f.WriteString(text + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return Key{}, false, fmt.Errorf("writing key file %s: %w", path, err)
	}
	return k, true, nil
}

func readKeyFile(path string) (Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Key{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("key file %s has mode %04o: others may read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("reading key file: %w", err)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
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
