package ldapfeed

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rosterd/rosterd/config"
)

// certError is a refused server certificate: what was wrong and what to
// change, said to the admin. errors.Is(err, ErrTLS) holds.
type certError struct{ msg string }

func (e *certError) Error() string        { return e.msg }
func (e *certError) Is(target error) bool { return target == ErrTLS }

func refuse(format string, args ...any) error { return &certError{fmt.Sprintf(format, args...)} }

// PinSHA256 is a certificate's pin as tls_pin_sha256 takes it, the form
// of curl's --pinnedpubkey (and of HPKP): "sha256//" and the base64
// SHA-256 of its DER SubjectPublicKeyInfo. It pins the key, so a
// certificate renewed with the same key keeps its pin.
func PinSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// verifier checks a server's certificate in place of crypto/tls, which
// refuses a certificate that names its host only in the subject CN, with
// no subjectAltName — the certificate Samba AD makes on provisioning.
// crypto/tls is told to skip its check (InsecureSkipVerify) only with
// verify as VerifyConnection: every connection is still verified, by a
// pin, or by the chain to the trusted roots and the name.
type verifier struct {
	feed   string         // "ldap:corp", for the warning
	name   string         // the name checked: tls_server_name, else the url's host
	roots  *x509.CertPool // ca_file; nil: the system pool
	caFile string
	pins   [][]byte // tls_pin_sha256: when set, the pin decides alone
	now    func() time.Time
	log    *slog.Logger
	// err is the last refusal, kept because go-ldap's StartTLS passes a
	// handshake error on as text only.
	err error
}

// tlsConfig is the TLS configuration of a connection to host (the url's)
// and the verifier it checks the server with (nil with
// insecure_skip_verify).
func (o *options) tlsConfig(host string) (*tls.Config, *verifier, error) {
	name := host
	if o.cfg.TLSServerName != "" {
		name = o.cfg.TLSServerName
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name}
	if o.cfg.InsecureSkipVerify {
		c.InsecureSkipVerify = true
		return c, nil, nil
	}
	v := &verifier{feed: "ldap:" + o.feed, name: name, caFile: o.cfg.CAFile, now: o.now, log: o.logger()}
	if o.cfg.CA != "" {
		v.caFile = "(the feed's ca)"
	}
	if o.cfg.TLSPinSHA256 != "" {
		pins, err := config.ParsePins(o.cfg.TLSPinSHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: tls_pin_sha256: %w", ErrConfig, err)
		}
		v.pins = pins
	} else if o.cfg.CAFile != "" || o.cfg.CA != "" {
		pem := []byte(o.cfg.CA)
		if o.cfg.CAFile != "" {
			var err error
			if pem, err = os.ReadFile(o.cfg.CAFile); err != nil {
				return nil, nil, fmt.Errorf("%w: ca_file: %w", ErrConfig, err)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrConfig, v.caFile)
		}
		v.roots = pool
	}
	c.InsecureSkipVerify = true // verify below does the whole check
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		v.err = v.verify(cs.PeerCertificates)
		return v.err
	}
	return c, v, nil
}

func (o *options) logger() *slog.Logger {
	if o.log != nil {
		return o.log
	}
	return slog.New(slog.DiscardHandler)
}

// verify checks the server's chain, leaf first.
func (v *verifier) verify(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return refuse("the server sent no certificate")
	}
	leaf := certs[0]
	if len(v.pins) > 0 {
		sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
		for _, p := range v.pins {
			if subtle.ConstantTimeCompare(p, sum[:]) == 1 {
				return nil
			}
		}
		return refuse("the server's certificate (subject %q) has the pin %s, which tls_pin_sha256 does not list: "+
			"if the directory's key was changed, confirm the new pin with its administrators and set it in tls_pin_sha256",
			leaf.Subject.String(), PinSHA256(leaf))
	}
	opts := x509.VerifyOptions{Roots: v.roots, CurrentTime: v.now(), Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	trust := "the system's CAs (set ca_file to the CA that signed it)"
	if v.caFile != "" {
		trust = "ca_file " + v.caFile
	}
	cnOnly := len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 && len(leaf.URIs) == 0 && len(leaf.EmailAddresses) == 0
	if !cnOnly {
		opts.DNSName = v.name
		if _, err := leaf.Verify(opts); err != nil {
			var he x509.HostnameError
			if errors.As(err, &he) {
				return refuse("the server's certificate is not for %q (%v): set tls_server_name to a name it lists", v.name, err)
			}
			return refuse("the server's certificate %s", chainProblem(err, trust))
		}
		return nil
	}

	// Only a subject CN names the server. Go (like every browser) reads
	// names from the subjectAltName alone; OpenLDAP's client still takes
	// the CN. It is taken here when the admin's own CA signed the
	// certificate and the CN is exactly the name checked.
	cn := leaf.Subject.CommonName
	if v.roots == nil {
		return refuse("the server's certificate names its host only in its subject CN %q, with no subjectAltName; "+
			"such a certificate is accepted only when signed by a CA of your own: set ca_file to the CA that signed it "+
			"(on Samba AD the DC's private/tls/ca.pem) and tls_server_name: %s, or pin it with tls_pin_sha256", cn, cn)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return refuse("the server's certificate (subject CN %q, no subjectAltName) %s; "+
			"put the CA that signed it in ca_file (on Samba AD the DC's private/tls/ca.pem), or pin the certificate with tls_pin_sha256",
			cn, chainProblem(err, trust))
	}
	if cn == "" || !strings.EqualFold(cn, v.name) {
		return refuse("the server's certificate has no subjectAltName and its subject CN %q is not the name checked, %q: "+
			"set tls_server_name: %s if that is the server's name, or reissue the certificate with a subjectAltName for %s",
			cn, v.name, cn, v.name)
	}
	v.log.Warn("the LDAP server's certificate names its host only in the subject CN; accepted because ca_file signed it and the CN is tls_server_name. "+
		"Reissue it with a subjectAltName (DNS) for this name: Go and current clients ignore the CN",
		"feed", v.feed, "cn", cn)
	return nil
}

// chainProblem says why a certificate's chain did not verify against
// trust (ca_file or the system's CAs).
func chainProblem(err error, trust string) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
		return fmt.Sprintf("is not valid now (%v)", err)
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Sprintf("is not signed by a CA in %s: %v", trust, err)
	}
	return fmt.Sprintf("does not verify against %s: %v", trust, err)
}
