package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rotate runs rosterd secrets rotate with args and returns its exit code
// and output.
func rotate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"secrets", "rotate"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestSecretsRotate: rosterd secrets rotate --new-key-file makes the new
// key (0600) and seals the stored SP key under it (the raw row names only
// the new key id); run again it changes nothing; the daemon started on
// the new key serves the same SP certificate. With replicas, the
// configured key and secrets_old_key_files do the same in steps. A key
// that opens nothing refuses, naming the key ids.
func TestSecretsRotate(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	tenants := samlTenantYAML(t, dir)
	d := startServe(t, dir, "data_dir: "+data+"\n"+tenants)
	_, md1 := get(t, d.base+"/saml/acme/metadata", "")
	d.stop(t)
	oldKey, err := readKeyFile(filepath.Join(data, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rosterd.yaml")

	newFile := filepath.Join(dir, "new.key")
	code, out, errs := rotate(t, "--config", cfg, "--new-key-file", newFile)
	if code != 0 || !strings.Contains(out, "1 SAML SP key(s) (0 already were)") || !strings.Contains(errs, "Made the new secrets key") {
		t.Fatalf("rotate: exit %d\n%s\n%s", code, out, errs)
	}
	fi, err := os.Stat(newFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file: %v, %v", fi, err)
	}
	newKey, err := readKeyFile(newFile)
	if err != nil {
		t.Fatal(err)
	}
	if k := storedSAMLKey(t, data); !bytes.HasPrefix(k, []byte("rsb1."+newKey.ID()+".")) || bytes.Contains(k, []byte(oldKey.ID())) {
		t.Fatalf("stored SP key after rotation: %.60q", k)
	}
	if code, out, _ := rotate(t, "--config", cfg, "--new-key-file", newFile); code != 0 || !strings.Contains(out, "0 SAML SP key(s) (1 already were)") {
		t.Fatalf("rotate again: exit %d %s", code, out)
	}

	// The daemon on the new key: the same SP key, so the same certificate.
	d = startServe(t, dir, "data_dir: "+data+"\nsecrets_key_file: "+newFile+"\n"+tenants)
	_, md2 := get(t, d.base+"/saml/acme/metadata", "")
	d.stop(t)
	cert := regexp.MustCompile(`X509Certificate[^>]*>([^<]+)<`)
	if c1, c2 := cert.FindStringSubmatch(md1), cert.FindStringSubmatch(md2); c1 == nil || c2 == nil || c1[1] != c2[1] {
		t.Fatal("the SP certificate changed with the rotation")
	}

	// In steps: the replicas' configuration names the newest key and the
	// one before; rotate seals what is left under the old one.
	third := filepath.Join(dir, "third.key")
	os.WriteFile(third, []byte(strings.Repeat("cd", 32)+"\n"), 0o600)
	stepped := filepath.Join(dir, "stepped.yaml")
	os.WriteFile(stepped, []byte("data_dir: "+data+"\nsecrets_key_file: "+third+"\nsecrets_old_key_files: ["+newFile+"]\n"+tenants), 0o600)
	if code, out, errs := rotate(t, "--config", stepped); code != 0 || !strings.Contains(out, "1 SAML SP key(s) (0 already were)") {
		t.Fatalf("rotate onto the configured key: exit %d %s %s", code, out, errs)
	}
	thirdKey, _ := readKeyFile(third)
	if k := storedSAMLKey(t, data); !bytes.HasPrefix(k, []byte("rsb1."+thirdKey.ID()+".")) {
		t.Fatalf("stored SP key after the stepped rotation: %.60q", k)
	}

	// The first key opens nothing now: refused, naming the key ids, and
	// the stored key is left as it is.
	before := storedSAMLKey(t, data)
	code, _, errs = rotate(t, "--data-dir", data, "--new-key-file", filepath.Join(dir, "fourth.key"))
	if code != 1 || !strings.Contains(errs, thirdKey.ID()) || !bytes.Equal(storedSAMLKey(t, data), before) {
		t.Fatalf("rotate without the key that sealed it: exit %d %s", code, errs)
	}
	if code, _, _ := rotate(t, "stray"); code != 2 {
		t.Fatalf("a stray argument: exit %d", code)
	}
	var sink bytes.Buffer
	if code := run(context.Background(), []string{"secrets", "frob"}, &sink, &sink); code != 2 {
		t.Fatalf("an unknown secrets command: exit %d", code)
	}
}

// TestAPIKeyConnectionsScope: --connections makes a tenant's key that
// manages that tenant's connections, listed as such; without --tenant it
// is a usage error.
func TestAPIKeyConnectionsScope(t *testing.T) {
	data := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "create", "initech-platform", "--tenant", "default", "--connections", "--data-dir", data}, &out, &errb); code != 0 {
		t.Fatalf("apikey create --connections: %d %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"apikey", "create", "x", "--connections", "--data-dir", data}, &bytes.Buffer{}, &errb); code != 2 {
		t.Fatalf("--connections without --tenant: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"apikey", "list", "--data-dir", data}, &out, &errb); code != 0 || !regexpLine(out.String(), "initech-platform", "default", "read-write,connections") {
		t.Fatalf("apikey list: %d\n%s", code, out.String())
	}
}
