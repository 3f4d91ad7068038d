package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store/sqlite"
)

// samlTenantYAML is a tenant with SAML whose SP key rosterd generates,
// its IdP's metadata written into dir.
func samlTenantYAML(t *testing.T, dir string) string {
	t.Helper()
	crt, _, err := saml.GenerateKeyPair("test IdP", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crt)
	der := block.Bytes
	md := fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test/md">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`, base64.StdEncoding.EncodeToString(der))
	path := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(path, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	return "tenants:\n  - id: acme\n    app_callback_url: https://app.test/cb\n    saml:\n      idp_metadata_file: " + path + "\n"
}

func storedSAMLKey(t *testing.T, data string) []byte {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(data, "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.SAMLKeyPair(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return p.KeyPEM
}

// TestServeSealsSAMLKey: without secrets_key the generated SP key is
// sealed under a key file made in the data directory (0600); a restart
// uses the same SP key; another secrets_key refuses to start, saying why.
func TestServeSealsSAMLKey(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	yaml := "data_dir: " + data + "\n" + samlTenantYAML(t, dir)
	d := startServe(t, dir, yaml)
	_, md1 := get(t, d.base+"/saml/acme/metadata", "")
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr)
	}
	fi, err := os.Stat(filepath.Join(data, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v, %v; want a 0600 file", fi, err)
	}
	if !strings.Contains(d.stderr.String(), "generated the secrets key") {
		t.Fatalf("no word of the generated key file:\n%s", d.stderr)
	}
	if k := storedSAMLKey(t, data); bytes.Contains(k, []byte("PRIVATE KEY")) || !bytes.HasPrefix(k, []byte("rsb1.")) {
		t.Fatalf("stored SP key %.40q: not sealed", k)
	}

	d = startServe(t, dir, yaml)
	_, md2 := get(t, d.base+"/saml/acme/metadata", "")
	d.stop(t)
	certOf := func(md string) string {
		m := regexp.MustCompile(`<(?:ds:)?X509Certificate[^>]*>([^<]+)<`).FindStringSubmatch(md)
		if m == nil {
			t.Fatalf("no certificate in the SP metadata %s", md)
		}
		return m[1]
	}
	if certOf(md1) != certOf(md2) {
		t.Fatal("the SP metadata (its certificate) changed across a restart")
	}

	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cfg := filepath.Join(dir, "other.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:1\nsecrets_key: "+other+"\n"+yaml), 0o600)
	var stdout, stderr testenv.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "another key-encryption key") || !strings.Contains(stderr.String(), "secrets_key") ||
		strings.Contains(stderr.String(), other) {
		t.Fatalf("another secrets_key: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestServeSecretsKeyFromConfig: with secrets_key set no key file is made.
func TestServeSecretsKeyFromConfig(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	kek := filepath.Join(dir, "kek")
	os.WriteFile(kek, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	d := startServe(t, dir, "data_dir: "+data+"\nsecrets_key_file: "+kek+"\n"+samlTenantYAML(t, dir))
	d.stop(t)
	if _, err := os.Stat(filepath.Join(data, "secrets.key")); !os.IsNotExist(err) {
		t.Fatalf("secrets.key made although secrets_key is set: %v", err)
	}
	if k := storedSAMLKey(t, data); !bytes.HasPrefix(k, []byte("rsb1.")) {
		t.Fatalf("stored SP key %.40q: not sealed", k)
	}
}
