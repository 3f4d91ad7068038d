package config

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// ldapPin checks an ldap feed's tls_pin_sha256 at p.
func (v *validator) ldapPin(p string, l *LDAPFeed) {
	if l.TLSPinSHA256 == "" {
		return
	}
	if _, err := ParsePins(l.TLSPinSHA256); err != nil {
		v.add(p, "%v", err)
	}
	switch {
	case l.CAFile != "" || l.CA != "":
		v.add(p, "set tls_pin_sha256 or ca_file, not both (nor ca): a pinned key is trusted without a CA")
	case l.InsecureSkipVerify:
		v.add(p, "contradicts insecure_skip_verify")
	case l.InsecurePlaintext:
		v.add(p, "contradicts insecure_plaintext: there is no TLS to pin")
	}
}

// ParsePins reads an ldap feed's tls_pin_sha256: one or more pins
// separated by ";", each the base64 SHA-256 of a certificate's DER
// SubjectPublicKeyInfo with an optional "sha256//" prefix, as curl's
// --pinnedpubkey takes them. It returns the digests.
func ParsePins(s string) ([][]byte, error) {
	var pins [][]byte
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p, "sha256//"))
		if p == "" || err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("pin %q is not sha256// and the base64 SHA-256 of the server certificate's public key, 44 characters "+
				"(openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)", p)
		}
		pins = append(pins, sum)
	}
	return pins, nil
}
