// Package ssptest runs Debian's SimpleSAMLphp as a SAML IdP for tests,
// served by php's built-in web server on a loopback port: the IdP that is
// not our code, for the SAML end-to-end test (saml/peer_test.go), the
// replicas' tests and the console's browser journeys.
//
// The IdP signs with a key pair made for the test, trusts the one SP
// TrustSP gives it (rosterd's /saml/{tenant}/metadata), sends the user's email as the NameID (emailAddress), and
// knows the users it is given, each signing in with a password.
//
// Where php or SimpleSAMLphp is missing the test skips loudly, and fails
// under CI=true (testenv.Unavailable). It must never be imported outside
// tests.
package ssptest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/saml"
)

const www = "/usr/share/simplesamlphp/www"

// User is someone the IdP lets sign in.
type User struct {
	Username, Password   string
	Email, Given, Family string
	Groups               []string
}

// IdP is a running SimpleSAMLphp.
type IdP struct {
	// MetadataURL is the IdP's metadata, to paste into rosterd.
	MetadataURL string
	// Base is its base URL, http://127.0.0.1:PORT/.
	Base   string
	spFile string
	cert   string // the directory of idp.crt and idp.pem
}

// KeyPair is a signing key pair of the IdP, PEM-encoded.
type KeyPair struct{ Cert, Key []byte }

// Rekey rotates the IdP's signing key: from now on it signs with a new
// key pair and its metadata carries the new certificate, as at an IdP
// whose certificate an IT admin rolls over. It returns the pair the IdP
// signed with until now, for SignWith. (SimpleSAMLphp reads the files on
// every request.)
func (idp *IdP) Rekey(t *testing.T) KeyPair {
	t.Helper()
	crt, key, err := saml.GenerateKeyPair("SimpleSAMLphp test IdP (rotated)", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return idp.SignWith(t, KeyPair{Cert: crt, Key: key})
}

// SignWith makes the IdP sign with kp, and publish its certificate, from
// now on; it returns the pair it signed with until now.
func (idp *IdP) SignWith(t *testing.T, kp KeyPair) KeyPair {
	t.Helper()
	var old KeyPair
	var err error
	if old.Cert, err = os.ReadFile(filepath.Join(idp.cert, "idp.crt")); err != nil {
		t.Fatal(err)
	}
	if old.Key, err = os.ReadFile(filepath.Join(idp.cert, "idp.pem")); err != nil {
		t.Fatal(err)
	}
	// Each file replaced whole, the key first: a request between the
	// two renames signs with the new key and publishes the old
	// certificate, never reads half a file.
	for _, f := range []struct {
		name string
		data []byte
	}{{"idp.pem", kp.Key}, {"idp.crt", kp.Cert}} {
		tmp := filepath.Join(idp.cert, f.name+".new")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(idp.cert, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	return old
}

// noEntities is the SP metadata the IdP starts with: none.
const noEntities = `<?xml version="1.0"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"></md:EntitiesDescriptor>`

// TrustSP makes the IdP trust the SP whose metadata is at spMetadataURL,
// read now: what the IT admin does in the IdP with the values rosterd's
// portal shows. (SimpleSAMLphp reading the SP's metadata from a URL on
// every request would fetch rosterd's while rosterd fetches its own.)
func (idp *IdP) TrustSP(t *testing.T, spMetadataURL string) {
	t.Helper()
	resp, err := http.Get(spMetadataURL)
	if err != nil {
		t.Fatalf("ssptest: the SP's metadata: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("SPSSODescriptor")) {
		t.Fatalf("ssptest: the SP's metadata at %s: %s\n%s", spMetadataURL, resp.Status, tail(body, 1000))
	}
	if err := os.WriteFile(idp.spFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start runs SimpleSAMLphp on a free port, knowing no SP until TrustSP;
// it stops with the test.
func Start(t *testing.T, users ...User) *IdP {
	t.Helper()
	php := testenv.LookPath(t, "php", "apt-get install simplesamlphp php-cli")
	if _, err := os.Stat(filepath.Join(www, "saml2/idp/SSOService.php")); err != nil {
		testenv.Unavailable(t, "SimpleSAMLphp not installed (%v): apt-get install simplesamlphp php-cli", err)
	}
	port := testenv.FreePort(t)
	dir := t.TempDir()
	spFile := filepath.Join(dir, "metadata", "sp.xml")
	for _, d := range []string{"config", "metadata", "cert", "log", "data", "tmp", "sessions"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	crt, key, err := saml.GenerateKeyPair("SimpleSAMLphp test IdP", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert/idp.crt", crt)
	write("cert/idp.pem", key)
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	write("config/config.php", fmt.Appendf(nil, `<?php
$config = [
    'baseurlpath' => %q,
    'certdir' => %q,
    'loggingdir' => %q,
    'datadir' => %q,
    'tempdir' => %q,
    'secretsalt' => 'rosterd-test-salt-0123456789',
    'auth.adminpassword' => 'admin-test',
    'technicalcontact_email' => 'test@example.com',
    'timezone' => 'UTC',
    'logging.level' => SimpleSAML\Logger::WARNING,
    'logging.handler' => 'file',
    'enable.saml20-idp' => true,
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => %q,
    'session.cookie.secure' => false,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'metadata.sources' => [
        ['type' => 'flatfile', 'directory' => %q],
        ['type' => 'xml', 'file' => %q],
    ],
];
`, base, filepath.Join(dir, "cert"), filepath.Join(dir, "log"), filepath.Join(dir, "data"), filepath.Join(dir, "tmp"),
		filepath.Join(dir, "sessions"), filepath.Join(dir, "metadata"), spFile))
	write("metadata/sp.xml", []byte(noEntities))
	var us strings.Builder
	for _, u := range users {
		fmt.Fprintf(&us, "        %s => [\n            'email' => [%s],\n            'givenName' => [%s],\n            'sn' => [%s],\n            'eduPersonAffiliation' => [%s],\n        ],\n",
			phpString(u.Username+":"+u.Password), phpString(u.Email), phpString(u.Given), phpString(u.Family), phpList(u.Groups))
	}
	write("config/authsources.php", []byte(`<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
`+us.String()+`    ],
];
`))
	write("metadata/saml20-idp-hosted.php", []byte(`<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.pem',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'validate.authnrequest' => true,
    'authproc' => [
        10 => [
            'class' => 'saml:AttributeNameID',
            'attribute' => 'email',
            'Format' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        ],
    ],
];
`))
	logf, err := os.Create(filepath.Join(dir, "php-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(php, "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", www)
	// Several workers: while the IdP answers rosterd's metadata fetch it
	// fetches rosterd's, which may be fetching the IdP's.
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(dir, "config"), "PHP_CLI_SERVER_WORKERS=4")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "php -S did not start: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			for _, f := range []string{"php-server.log", "log/simplesamlphp.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("SimpleSAMLphp's %s:\n%s", f, tail(b, 4000))
			}
		}
	})
	md := base + "saml2/idp/metadata.php"
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(md)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Contains(body, []byte("IDPSSODescriptor")) {
				return &IdP{MetadataURL: md, Base: base, spFile: spFile, cert: filepath.Join(dir, "cert")}
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, tail(body, 2000))
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "php-server.log"))
			testenv.Unavailable(t, "SimpleSAMLphp metadata at %s did not answer: %v\n%s", md, err, tail(b, 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// phpString quotes s as a PHP single-quoted string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func phpList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = phpString(x)
	}
	return strings.Join(q, ", ")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
