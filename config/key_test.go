package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestDecodeKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for _, s := range []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		"  " + base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		if got, err := DecodeKey(s); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("DecodeKey(%q) = %x, %v; want %x", s, got, err, raw)
		}
	}
	for s, msg := range map[string]string{
		"":                           "empty",
		"correct horse battery":      "neither",
		hex.EncodeToString(raw[:16]): "32 hex digits, want 64",
		base64.StdEncoding.EncodeToString(raw[:16]):       "16 bytes",
		base64.StdEncoding.EncodeToString(append(raw, 1)): "33 bytes",
	} {
		_, err := DecodeKey(s)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("DecodeKey(%q) = %v, want an error saying %q", s, err, msg)
		}
		if s != "" && err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("DecodeKey's error quotes the key: %v", err)
		}
	}
	// In the file: every problem with its key path, the key not quoted.
	if err := parseError(t, "secrets_key: hunter2hunter2\n"); !strings.Contains(err.Error(), "secrets_key") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a bad secrets_key: %v", err)
	}
}
