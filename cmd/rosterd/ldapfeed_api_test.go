package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/internal/ldaptest"
)

// TestLDAPFeedThroughTheAPI: an LDAP feed made through the admin API, its
// bind password sealed in the store, reads a real slapd (over StartTLS,
// its CA given inline) when run: the password opened again is the one
// given, and no answer shows it.
func TestLDAPFeedThroughTheAPI(t *testing.T) {
	var ldif strings.Builder
	for i := range 5 {
		fmt.Fprintf(&ldif, "dn: uid=p%d,%s\nobjectClass: inetOrgPerson\nuid: p%d\ncn: Person %d\nsn: N%d\ngivenName: Person\nmail: p%d@initech.test\n\n", i, ldaptest.People, i, i, i, i)
	}
	s := ldaptest.Start(t, ldaptest.Options{LDIF: ldif.String()})
	// The API reads no files: the CA is given as PEM instead of a ca_file.
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}

	d := startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", t.TempDir(), operatorKey))
	if code, body := call(t, "POST", d.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant: %d %v", code, body)
	}
	doc, _ := json.Marshal(map[string]any{"name": "corp", "kind": "ldap", "url": s.URL, "bind_dn": s.ReaderDN, "bind_password": s.ReaderPassword,
		"base_dn": ldaptest.People, "ca": string(ca)})
	code, body := call(t, "POST", d.base+"/api/v1/tenants/initech/feeds", operatorKey, string(doc))
	if code != 201 {
		t.Fatalf("create the feed: %d %v", code, body)
	}
	code, body = call(t, "POST", d.base+"/api/v1/tenants/initech/feeds/corp/runs", operatorKey, "")
	if code != 201 || body["status"] != "applied" || body["counts"].(map[string]any)["create"] != 5.0 {
		t.Fatalf("run the feed: %d %v", code, body)
	}
	// A wrong password, patched in, fails the next run: the feed reads
	// with the secret it holds now.
	if code, body := call(t, "PATCH", d.base+"/api/v1/tenants/initech/feeds/corp", operatorKey, `{"bind_password": "not-the-password"}`); code != 200 {
		t.Fatalf("patch: %d %v", code, body)
	}
	code, body = call(t, "POST", d.base+"/api/v1/tenants/initech/feeds/corp/runs", operatorKey, "")
	if code != 201 || body["status"] != "failed" {
		t.Fatalf("a run with the wrong password: %d %v", code, body)
	}
	_, list := get(t, d.base+"/api/v1/tenants/initech/feeds", operatorKey)
	if strings.Contains(list, s.ReaderPassword) || strings.Contains(list, "not-the-password") || !strings.Contains(list, `"managed_by":"api"`) {
		t.Fatalf("the feeds: %s", list)
	}
	if strings.Contains(d.stderr.String(), s.ReaderPassword) {
		t.Fatal("the bind password in the log")
	}
}

// TestSyncRunOfAnAPIFeed: rosterd sync run TENANT/FEED runs a feed the
// admin API added, its secret opened with the data directory's key, with
// the tenant's policy from the registry.
func TestSyncRunOfAnAPIFeed(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{LDIF: fmt.Sprintf("dn: uid=p1,%s\nobjectClass: inetOrgPerson\nuid: p1\ncn: P\nsn: One\nmail: p1@initech.test\n\n", ldaptest.People)})
	raw, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	dir := t.TempDir()
	d := startServe(t, dir, fmt.Sprintf("data_dir: %s\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", dir, operatorKey))
	if code, body := call(t, "POST", d.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant: %d %v", code, body)
	}
	doc, _ := json.Marshal(map[string]any{"name": "corp", "kind": "ldap", "url": s.URL, "bind_dn": s.ReaderDN, "bind_password": s.ReaderPassword,
		"base_dn": ldaptest.People, "tls_pin_sha256": base64.StdEncoding.EncodeToString(sum[:])})
	if code, body := call(t, "POST", d.base+"/api/v1/tenants/initech/feeds", operatorKey, string(doc)); code != 201 {
		t.Fatalf("create the feed: %d %v", code, body)
	}
	code, out, errOut := rosterdCmd(t, "sync", "run", "initech/corp", "--config", filepath.Join(dir, "rosterd.yaml"))
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("sync run initech/corp: %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := rosterdCmd(t, "sync", "run", "initech/nope", "--config", filepath.Join(dir, "rosterd.yaml")); code == 0 || !strings.Contains(errOut, "no feed") {
		t.Fatalf("an unknown feed: %d %s", code, errOut)
	}

	// A held run of the API's tenant: listed by sync runs, applied by
	// sync approve with the registry's feed and policy.
	if code, body := call(t, "PATCH", d.base+"/api/v1/tenants/initech", operatorKey, `{"safety": {"max_disable_count": 0}}`); code != 200 {
		t.Fatalf("patch the tenant's safety: %d %v", code, body)
	}
	if err := s.Admin(t).Del(ldap.NewDelRequest("uid=p1,"+ldaptest.People, nil)); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rosterd.yaml")
	code, out, errOut = rosterdCmd(t, "sync", "run", "initech/corp", "--config", cfg)
	held := regexp.MustCompile(`run\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || !regexp.MustCompile(`status\s+held`).MatchString(out) || held == nil {
		t.Fatalf("sync run after p1 left, over max_disable_count 0: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := rosterdCmd(t, "sync", "runs", "--tenant", "initech", "--config", cfg); code != 0 || !strings.Contains(out, held[1]) || !strings.Contains(out, "held") {
		t.Fatalf("sync runs --tenant initech: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := rosterdCmd(t, "sync", "approve", held[1], "--config", cfg); code != 0 || !regexp.MustCompile(`status\s+applied`).MatchString(out) {
		t.Fatalf("sync approve %s: %d\n%s\n%s", held[1], code, out, errOut)
	}
	_, cards := get(t, d.base+"/api/v1/tenants/initech/cards?status=disabled", operatorKey)
	if !strings.Contains(cards, "p1@initech.test") {
		t.Fatalf("p1 after the approval: %s", cards)
	}
}
