package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of secrets_key, the one key an operator keeps: the
// key-encryption key of stored secrets, from which the invite key is
// derived too. 32 bytes (AES-256).
const KeySize = 32

// DecodeKey reads a key written as text, in the configuration or a key
// file: KeySize bytes in hex (64 digits) or base64 (standard or URL
// alphabet, padded or not). Surrounding space is ignored. Errors never
// quote the text.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty key")
	}
	if raw, err := hex.DecodeString(s); err == nil {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("the key is %d hex digits, want %d (%d bytes)", len(s), 2*KeySize, KeySize)
		}
		return raw, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("the key decodes (base64) to %d bytes, want %d", len(raw), KeySize)
			}
			return raw, nil
		}
	}
	return nil, fmt.Errorf("the key is neither %d bytes of hex (%d digits) nor of base64", KeySize, 2*KeySize)
}
