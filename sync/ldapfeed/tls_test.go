package ldapfeed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/ldaptest"
	"github.com/rosterd/rosterd/internal/testenv"
)

// serverPin is the pin of s's certificate, computed here from the PEM the
// harness wrote: base64 of the SHA-256 of its SubjectPublicKeyInfo.
func serverPin(t *testing.T, s *ldaptest.Server) string {
	t.Helper()
	data, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// tlsCase is one connection attempt: a feed edited from feedCfg, and what
// must come of it.
type tlsCase struct {
	name string
	edit func(c *config.LDAPFeed)
	// ok: one record read; else the error is ErrTLS and says all of want.
	ok   bool
	want []string
	// warned: the log holds the CN-only warning.
	warned bool
}

// runTLSCases reads one person of s over url for each case.
func runTLSCases(t *testing.T, s *ldaptest.Server, url string, cases []tlsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := feedCfg(s)
			cfg.URL, cfg.BaseDN, cfg.Scope = url, personDN(1), "base"
			tc.edit(&cfg)
			logs := &testenv.Buffer{}
			o := &options{tenant: "acme", feed: "corp", cfg: cfg, now: time.Now, log: slog.New(slog.NewTextHandler(logs, nil))}
			snap, err := o.fetch(ctx)
			t.Logf("error: %v\nlog: %s", err, logs)
			if tc.ok {
				if err != nil || len(snap.Records) != 1 {
					t.Fatalf("%v, %d records; want the person read", err, len(snap.Records))
				}
			} else {
				if !errors.Is(err, ErrTLS) {
					t.Fatalf("got %v, want a TLS error", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not say %q: %v", w, err)
					}
				}
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "subject CN")
			if warned != tc.warned {
				t.Errorf("CN-only warning logged: %t, want %t; log: %s", warned, tc.warned, logs)
			}
			if tc.warned && (!strings.Contains(logs.String(), "feed=ldap:corp") || !strings.Contains(logs.String(), "subjectAltName")) {
				t.Errorf("warning does not name the feed and the fix: %s", logs)
			}
		})
	}
}

// TestSlapdCNOnlyCertificate: a directory whose certificate names it only
// in the subject CN (Samba AD's provisioning certificate) is accepted when
// ca_file signed it and the CN is the name checked, with a warning, as
// OpenLDAP's own client accepts it; refused otherwise with an error that
// says what to change; and a pinned key is accepted whoever signed it.
// Over StartTLS and over ldaps://.
func TestSlapdCNOnlyCertificate(t *testing.T) {
	const cn = "dc1.samdom.example"
	s := ldaptest.Start(t, ldaptest.Options{CertCommonName: cn, WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, 3, nil) }})
	pin := serverPin(t, s)
	otherCA := ldaptest.OtherCAFile(t)
	wrongPin := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []tlsCase{
		{name: "ca_file signs it and the CN is tls_server_name", ok: true, warned: true,
			edit: func(c *config.LDAPFeed) { c.TLSServerName = cn }},
		{name: "CN compared without case", ok: true, warned: true,
			edit: func(c *config.LDAPFeed) { c.TLSServerName = strings.ToUpper(cn) }},
		{name: "another name", want: []string{`subject CN "dc1.samdom.example"`, `"dc2.samdom.example"`, "tls_server_name: dc1.samdom.example", "subjectAltName"},
			edit: func(c *config.LDAPFeed) { c.TLSServerName = "dc2.samdom.example" }},
		{name: "a name that merely ends in the CN", want: []string{"tls_server_name: dc1.samdom.example"},
			edit: func(c *config.LDAPFeed) { c.TLSServerName = "x" + cn }},
		{name: "the url's address, not the CN", want: []string{`"127.0.0.1"`, "tls_server_name: dc1.samdom.example"},
			edit: func(c *config.LDAPFeed) {}},
		{name: "a CA that did not sign it", want: []string{"not signed by a CA in ca_file " + otherCA, "tls_pin_sha256"},
			edit: func(c *config.LDAPFeed) { c.TLSServerName, c.CAFile = cn, otherCA }},
		{name: "no ca_file: the system pool", want: []string{"only in its subject CN", "set ca_file"},
			edit: func(c *config.LDAPFeed) { c.TLSServerName, c.CAFile = cn, "" }},
		{name: "pinned, no ca_file", ok: true,
			edit: func(c *config.LDAPFeed) { c.CAFile, c.TLSPinSHA256 = "", "sha256//"+pin }},
		{name: "pinned without the sha256// prefix, another CA", ok: true,
			edit: func(c *config.LDAPFeed) { c.CAFile, c.TLSPinSHA256 = otherCA, pin }},
		{name: "one of two pins", ok: true,
			edit: func(c *config.LDAPFeed) { c.CAFile, c.TLSPinSHA256 = "", "sha256//"+wrongPin+";sha256//"+pin }},
		{name: "wrong pin", want: []string{"sha256//" + pin, "tls_pin_sha256"},
			edit: func(c *config.LDAPFeed) { c.CAFile, c.TLSServerName, c.TLSPinSHA256 = "", cn, "sha256//"+wrongPin }},
	}
	t.Run("StartTLS", func(t *testing.T) { runTLSCases(t, s, s.URL, cases) })
	t.Run("ldaps", func(t *testing.T) { runTLSCases(t, s, s.LDAPSURL, cases) })
}

// TestSlapdPinnedKey: the pin also stands in for the CA and the names of
// an ordinary certificate (subjectAltName 127.0.0.1, localhost), which
// still verifies as before without one.
func TestSlapdPinnedKey(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, 3, nil) }})
	pin, otherCA := serverPin(t, s), ldaptest.OtherCAFile(t)
	cases := []tlsCase{
		{name: "ca_file and the address", ok: true, edit: func(c *config.LDAPFeed) {}},
		{name: "another CA", want: []string{"ca_file " + otherCA}, edit: func(c *config.LDAPFeed) { c.CAFile = otherCA }},
		{name: "pinned, another name, no ca_file", ok: true,
			edit: func(c *config.LDAPFeed) {
				c.CAFile, c.TLSServerName, c.TLSPinSHA256 = "", "dc9.example", "sha256//"+pin
			}},
		{name: "wrong pin", want: []string{"sha256//" + pin},
			edit: func(c *config.LDAPFeed) { c.TLSPinSHA256 = "sha256//" + strings.Repeat("A", 43) + "=" }},
	}
	t.Run("StartTLS", func(t *testing.T) { runTLSCases(t, s, s.URL, cases) })
	t.Run("ldaps", func(t *testing.T) { runTLSCases(t, s, s.LDAPSURL, cases) })
}

// chain makes a root CA, an intermediate it signed, and a leaf the
// intermediate signed, with dnsNames (none: a CN-only leaf) and valid
// from notBefore for a day.
func chain(t *testing.T, cn string, dnsNames []string, notBefore time.Time) (root, inter, leaf *x509.Certificate) {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	root, rootKey := mk(ca(1, "Corp Root CA"), nil, nil)
	inter, interKey := mk(ca(2, "Corp Issuing CA"), root, rootKey)
	leaf, _ = mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames,
		NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, interKey)
	return root, inter, leaf
}

// TestVerifierChain: the feed's own verification takes the intermediates
// the server sends, as crypto/tls does, and checks the validity period, for
// a certificate with a subjectAltName and for a CN-only one.
func TestVerifierChain(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, dns := range [][]string{{"dc1.corp.example"}, nil} {
		root, inter, leaf := chain(t, "dc1.corp.example", dns, now.Add(-time.Hour))
		pool := x509.NewCertPool()
		pool.AddCert(root)
		at := now
		v := &verifier{feed: "ldap:corp", name: "dc1.corp.example", roots: pool, caFile: "root.pem", now: func() time.Time { return at },
			log: slog.New(slog.DiscardHandler)}
		if err := v.verify([]*x509.Certificate{leaf, inter}); err != nil {
			t.Errorf("SAN %v: leaf and intermediate refused: %v", dns, err)
		}
		if err := v.verify([]*x509.Certificate{leaf}); !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "ca_file root.pem") {
			t.Errorf("SAN %v: leaf without its intermediate: %v", dns, err)
		}
		at = now.Add(48 * time.Hour)
		if err := v.verify([]*x509.Certificate{leaf, inter}); !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("SAN %v: expired chain: %v", dns, err)
		}
	}
	if err := (&verifier{}).verify(nil); !errors.Is(err, ErrTLS) {
		t.Errorf("no certificate: %v", err)
	}
}
