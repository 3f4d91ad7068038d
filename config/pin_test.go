package config

import (
	"bytes"
	"testing"
)

// pin is a well-formed tls_pin_sha256 value (the SHA-256 of nothing).
const pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

func TestLDAPPinProblems(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"not base64", "        tls_pin_sha256: not-a-pin\n",
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].tls_pin_sha256: pin "not-a-pin" is not sha256// and the base64 SHA-256 of the server certificate's public key`}},
		{"hex, not base64", "        tls_pin_sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
			[]string{`tls_pin_sha256: pin "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" is not sha256// and the base64`}},
		{"another hash", "        tls_pin_sha256: sha1//2jmj7l5rSw0yVb/vlWAYkK/YBwk=\n",
			[]string{`tls_pin_sha256: pin "sha1//2jmj7l5rSw0yVb/vlWAYkK/YBwk=" is not sha256//`}},
		{"a short digest", "        tls_pin_sha256: sha256//2jmj7l5rSw0yVb/vlWAYkK/YBwk=\n",
			[]string{`tls_pin_sha256: pin "sha256//2jmj7l5rSw0yVb/vlWAYkK/YBwk=" is not`}},
		{"an empty pin in a list", "        tls_pin_sha256: \"sha256//" + pin + ";\"\n",
			[]string{`tls_pin_sha256: pin "" is not`}},
		{"with ca_file", "        ca_file: /etc/ca.pem\n        tls_pin_sha256: sha256//" + pin + "\n",
			[]string{`rosterd.yaml:9: tenants[0].feeds[0].tls_pin_sha256: set tls_pin_sha256 or ca_file, not both`}},
		{"with insecure_skip_verify", "        insecure_skip_verify: true\n        tls_pin_sha256: sha256//" + pin + "\n",
			[]string{`tls_pin_sha256: contradicts insecure_skip_verify`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parseError(t, ldapDoc(tc.extra))
			for _, want := range tc.want {
				wantContains(t, err, want)
			}
			if len(err.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(err.Problems), len(tc.want), err)
			}
		})
	}
}

func TestLDAPPinAccepted(t *testing.T) {
	for _, v := range []string{pin, "sha256//" + pin, "\"sha256//" + pin + "; sha256//" + pin + "\""} {
		c, err := parse(t, ldapDoc("        tls_pin_sha256: "+v+"\n        tls_server_name: dc1.samdom.example\n"))
		if err != nil {
			t.Errorf("tls_pin_sha256: %s: %v", v, err)
			continue
		}
		pins, err := ParsePins(c.Tenants[0].Feeds[0].LDAP.TLSPinSHA256)
		if err != nil || len(pins) == 0 || !bytes.Equal(pins[0], []byte{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}) {
			t.Errorf("ParsePins(%s) = %x, %v", v, pins, err)
		}
	}
}
