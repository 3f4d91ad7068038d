package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
)

// KeyPair is a service provider's RSA key and its certificate.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// LoadKeyPair reads a PEM certificate and its PEM private key (PKCS#1 or
// PKCS#8 RSA) from files.
func LoadKeyPair(certFile, keyFile string) (KeyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return KeyPair{}, fmt.Errorf("reading SAML certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return KeyPair{}, fmt.Errorf("reading SAML key: %w", err)
	}
	kp, err := ParseKeyPair(certPEM, keyPEM)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	return kp, nil
}

// ParseKeyPair reads a PEM certificate and its PEM RSA private key.
func ParseKeyPair(certPEM, keyPEM []byte) (KeyPair, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return KeyPair{}, errors.New("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return KeyPair{}, errors.New("no PEM private key block")
	}
	var key *rsa.PrivateKey
	switch kb.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		var k any
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				err = fmt.Errorf("the key is %T; SAML signing here needs RSA", k)
			}
		}
	default:
		err = fmt.Errorf("unsupported PEM block %q", kb.Type)
	}
	if err != nil {
		return KeyPair{}, fmt.Errorf("private key: %w", err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return KeyPair{}, errors.New("the certificate does not belong to the private key")
	}
	return KeyPair{Key: key, Cert: cert}, nil
}

// StoredKeyPair returns the key pair kept in the store under name, making
// and storing one on first use. Replicas that start together each make
// one; the store keeps the first, and all of them use it.
//
// The private key is stored sealed by box (AES-256-GCM under the
// key-encryption key, bound to the pair's name): the database never holds
// it in the clear. A key stored in the clear by an older rosterd is sealed
// in place on the first start that reads it; sealed reports that.
func StoredKeyPair(ctx context.Context, st store.SAMLStore, box *secretbox.Box, name string, now time.Time) (kp KeyPair, sealed bool, err error) {
	if box == nil {
		return KeyPair{}, false, fmt.Errorf("SAML key pair %q: no key-encryption key to keep it with", name)
	}
	aad := []byte("saml_key_pairs/" + name)
	p, err := st.SAMLKeyPair(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		var certPEM, keyPEM []byte
		certPEM, keyPEM, err = GenerateKeyPair("rosterd SAML SP "+name, now)
		if err != nil {
			return KeyPair{}, false, err
		}
		p, err = st.PutSAMLKeyPair(ctx, store.SAMLKeyPair{Name: name, KeyPEM: box.Seal(keyPEM, aad), CertPEM: certPEM, Created: now})
	}
	if err != nil {
		return KeyPair{}, false, fmt.Errorf("SAML key pair %q: %w", name, err)
	}
	if !secretbox.IsSealed(p.KeyPEM) {
		// Written before keys were sealed: check it, then seal it over
		// exactly what was read; a replica that sealed it first wins.
		if _, err := ParseKeyPair(p.CertPEM, p.KeyPEM); err != nil {
			return KeyPair{}, false, fmt.Errorf("stored SAML key pair %q: %w", name, err)
		}
		replaced, err := st.ReplaceSAMLKey(ctx, name, p.KeyPEM, box.Seal(p.KeyPEM, aad))
		if err == nil {
			p, err = st.SAMLKeyPair(ctx, name)
		}
		if err != nil {
			return KeyPair{}, false, fmt.Errorf("sealing the stored SAML key %q: %w", name, err)
		}
		sealed = replaced
	}
	keyPEM, err := box.Open(p.KeyPEM, aad)
	if err != nil {
		return KeyPair{}, false, fmt.Errorf("stored SAML key pair %q: the private key does not open with the key-encryption key: %w", name, err)
	}
	kp, err = ParseKeyPair(p.CertPEM, keyPEM)
	if err != nil {
		return KeyPair{}, false, fmt.Errorf("stored SAML key pair %q: %w", name, err)
	}
	return kp, sealed, nil
}

// GenerateKeyPair makes an RSA-2048 key and a self-signed certificate valid
// for ten years, as PEM. IdPs pin SP certificates from metadata and do not
// check a chain, so self-signed is what SPs use.
func GenerateKeyPair(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generating SAML key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating SAML certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("generating SAML certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return certPEM, keyPEM, nil
}

// ResealKeyPairs seals every stored SP private key again under box's
// primary key, opening each with any key box holds (a key stored in the
// clear by an older rosterd is sealed too): a step of the key-encryption
// key's rotation. Each key is replaced only if it is still what was read,
// so a replica sealing it at the same moment loses nothing; a key already
// under the primary key is left as it is, so running it again is safe.
// It returns how many keys it sealed again and how many were current.
func ResealKeyPairs(ctx context.Context, st store.SAMLStore, box *secretbox.Box) (resealed, current int, err error) {
	names, err := st.SAMLKeyPairNames(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, name := range names {
		aad := []byte("saml_key_pairs/" + name)
		for attempt := 0; ; attempt++ {
			p, err := st.SAMLKeyPair(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return resealed, current, err
			}
			var out []byte
			changed := true
			if secretbox.IsSealed(p.KeyPEM) {
				out, changed, err = box.Reseal(p.KeyPEM, aad)
			} else {
				if _, err = ParseKeyPair(p.CertPEM, p.KeyPEM); err == nil {
					out = box.Seal(p.KeyPEM, aad)
				}
			}
			if err != nil {
				return resealed, current, fmt.Errorf("stored SAML key pair %q: %w", name, err)
			}
			if !changed {
				current++
				break
			}
			ok, err := st.ReplaceSAMLKey(ctx, name, p.KeyPEM, out)
			if err != nil {
				return resealed, current, fmt.Errorf("sealing the SAML key %q again: %w", name, err)
			}
			if ok {
				resealed++
				break
			}
			if attempt == 2 {
				return resealed, current, fmt.Errorf("sealing the SAML key %q again: it keeps changing under us", name)
			}
		}
	}
	return resealed, current, nil
}
