package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
)

const (
	dropAdminKey = "drop-admin-key-0123456789abcdef012345"
	dropToken    = "drop-upload-token-0123456789abcdef0123"
)

// TestServeDropBox: rosterd serve with an upload feed takes a file over
// HTTPS's PUT /drop/… and over its SFTP server (OpenSSH's sftp, a key, the
// host key generated into the data directory and kept across restarts),
// and with run_on_upload applies each at once; on both backends.
func TestServeDropBox(t *testing.T) {
	sftpBin := testenv.LookPath(t, "sftp", "apt-get install openssh-client")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			data := t.TempDir()
			store := ""
			if backend == "postgres" {
				store = fmt.Sprintf("store:\n  driver: postgres\n  dsn: %q\n", pgtest.DSN(t))
			}
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			block, _ := ssh.MarshalPrivateKey(priv, "hr")
			keyFile := filepath.Join(t.TempDir(), "hr_ed25519")
			os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
			signer, _ := ssh.NewSignerFromKey(priv)
			pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
			sftpPort := testenv.FreePort(t)
			yaml := fmt.Sprintf(`data_dir: %s
%sadmin_keys: [{name: ops, key: %s}]
drop_box: {sftp_listen: "127.0.0.1:%d"}
tenants:
  - id: acme
    invite: none
    feeds:
      - name: hr
        kind: file
        source: upload
        run_on_upload: true
        upload:
          token: %s
          authorized_keys: [%q]
`, data, store, dropAdminKey, sftpPort, dropToken, pub)
			dir := t.TempDir()
			d := startServe(t, dir, yaml)

			req, _ := http.NewRequest(http.MethodPut, d.base+"/drop/acme/hr?name=hr.csv", strings.NewReader("Email,First Name\nann@example.com,Ann\n"))
			req.Header.Set("Authorization", "Bearer "+dropToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT /drop/acme/hr: %d\n%s", resp.StatusCode, d.stderr)
			}
			waitCards(t, d, 1)

			hostKeyFile := filepath.Join(data, "dropbox_host_ed25519")
			hostKey := readHostPub(t, hostKeyFile)
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(knownHosts, []byte("[127.0.0.1]:"+strconv.Itoa(sftpPort)+" "+string(ssh.MarshalAuthorizedKey(hostKey))), 0o600)
			local := filepath.Join(t.TempDir(), "employees.csv")
			os.WriteFile(local, []byte("Email,First Name\nann@example.com,Ann\nbob@example.com,Bob\n"), 0o600)
			batch := filepath.Join(t.TempDir(), "batch")
			os.WriteFile(batch, []byte("put "+local+"\n"), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, sftpBin, "-F", "/dev/null", "-b", batch, "-i", keyFile, "-P", strconv.Itoa(sftpPort),
				"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
				"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "acme.hr@127.0.0.1").CombinedOutput()
			if err != nil {
				t.Fatalf("sftp: %v\n%s\n%s", err, out, d.stderr)
			}
			waitCards(t, d, 2)
			if !strings.Contains(d.stderr.String(), ssh.FingerprintSHA256(hostKey)) {
				t.Errorf("the log does not name the host key's fingerprint:\n%s", d.stderr)
			}

			// A restart keeps the host key.
			d.stop(t)
			startServe(t, dir, yaml)
			if again := readHostPub(t, hostKeyFile); string(again.Marshal()) != string(hostKey.Marshal()) {
				t.Fatal("the host key changed across a restart")
			}
		})
	}
}

func readHostPub(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	s, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// waitCards waits until tenant acme has n cards.
func waitCards(t *testing.T, d *daemonRun, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, d.base+"/api/v1/tenants/acme/cards", dropAdminKey)
		var page struct {
			Cards []json.RawMessage `json:"cards"`
		}
		json.Unmarshal([]byte(body), &page)
		if code == 200 && len(page.Cards) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme has not %d cards: %d %s\n%s", n, code, body, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeDropBoxAPIFeed: an upload feed made through the admin API on a
// running daemon takes uploads at once, on every replica: a tenant and
// its feed made on A, an upload token made through the API on A, an upload
// to B with it (a bad token refused) runs the feed there (run_on_upload)
// and the cards appear; OpenSSH's sftp logs in as the feed's user with a
// key and its upload runs too. Deleted on B, the feed refuses uploads and
// logins on both. Postgres: two real daemons sharing one drop_box.dir;
// SQLite: one daemon. Without drop_box in the file, the API refuses the
// feed at source.
func TestServeDropBoxAPIFeed(t *testing.T) {
	sftpBin := testenv.LookPath(t, "sftp", "apt-get install openssh-client")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			shared := t.TempDir() // drop_box.dir
			common := fmt.Sprintf("admin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", operatorKey)
			if backend == "postgres" {
				common = replicaConfig(t, pgtest.DSN(t))
			}
			start := func(data string, sftpPort int) *daemonRun {
				return startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\n%sdrop_box: {dir: %s, sftp_listen: \"127.0.0.1:%d\"}\n", data, common, shared, sftpPort))
			}
			portA, dataA := testenv.FreePort(t), t.TempDir()
			a := start(dataA, portA)
			b, portB := a, portA
			if backend == "postgres" {
				portB = testenv.FreePort(t)
				b = start(t.TempDir(), portB)
			}

			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			block, _ := ssh.MarshalPrivateKey(priv, "initech hr")
			keyFile := filepath.Join(t.TempDir(), "hr_ed25519")
			os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
			signer, _ := ssh.NewSignerFromKey(priv)
			pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))

			if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
				t.Fatalf("create the tenant on A: %d %v", code, body)
			}
			feed := fmt.Sprintf(`{"name": "hr", "kind": "file", "source": "upload", "run_on_upload": true, "schedule": "0 0 1 1 *",
				"upload": {"authorized_keys": [%q]}}`, pub)
			if code, body := call(t, "POST", a.base+"/api/v1/tenants/initech/feeds", operatorKey, feed); code != 201 {
				t.Fatalf("create the upload feed on A: %d %v", code, body)
			}
			code, body := call(t, "POST", a.base+"/api/v1/tenants/initech/feeds/hr/upload-token", operatorKey, "")
			token, _ := body["token"].(string)
			if code != 201 || !strings.HasPrefix(token, "rsu_") || body["upload_url"] != a.base+"/drop/initech/hr" {
				t.Fatalf("an upload token for the API's feed on A: %d %v\n%s", code, body, a.stderr)
			}

			upload := func(d *daemonRun, token, csv string) (int, map[string]any) {
				req, _ := http.NewRequest(http.MethodPut, d.base+"/drop/initech/hr?name=people.csv", strings.NewReader(csv))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				return resp.StatusCode, out
			}
			if code, body := upload(b, "rsu_not-the-token-0123456789abcdef0123", "email,given_name\nann@initech.test,Ann\n"); code != http.StatusUnauthorized {
				t.Fatalf("a bad token on B: %d %v", code, body)
			}
			// B serves the feed once the change made on A reached it.
			var stored map[string]any
			within(t, 5*time.Second, "B takes the upload for the feed made on A", func() bool {
				code, body := upload(b, token, "email,given_name\nann@initech.test,Ann\nbob@initech.test,Bob\n")
				stored = body
				return code == http.StatusCreated
			})
			if stored["run"] != "queued" {
				t.Fatalf("the upload on B: %v", stored)
			}
			cards := func(n int) func() bool {
				return func() bool {
					code, body := call(t, "GET", a.base+"/api/v1/tenants/initech/cards", operatorKey, "")
					list, _ := body["cards"].([]any)
					return code == 200 && len(list) == n
				}
			}
			within(t, 20*time.Second, "the run on upload makes initech's 2 cards", cards(2))

			// SFTP, as the feed's user, with the key the API was given.
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			hostKey := readHostPub(t, filepath.Join(dataA, "dropbox_host_ed25519"))
			os.WriteFile(knownHosts, []byte("[127.0.0.1]:"+strconv.Itoa(portA)+" "+string(ssh.MarshalAuthorizedKey(hostKey))), 0o600)
			local := filepath.Join(t.TempDir(), "employees.csv")
			os.WriteFile(local, []byte("email,given_name\nann@initech.test,Ann\nbob@initech.test,Bob\ncat@initech.test,Cat\n"), 0o600)
			batch := filepath.Join(t.TempDir(), "batch")
			os.WriteFile(batch, []byte("put "+local+"\n"), 0o600)
			sftp := func() ([]byte, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return exec.CommandContext(ctx, sftpBin, "-F", "/dev/null", "-b", batch, "-i", keyFile, "-P", strconv.Itoa(portA),
					"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
					"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "initech.hr@127.0.0.1").CombinedOutput()
			}
			if out, err := sftp(); err != nil {
				t.Fatalf("sftp as initech.hr: %v\n%s\n%s", err, out, a.stderr)
			}
			within(t, 20*time.Second, "the SFTP upload's run makes the third card", cards(3))

			// Deleted on B: refused on B at once, and on A once the change
			// reached it; the token goes with the feed.
			if code, body := call(t, "DELETE", b.base+"/api/v1/tenants/initech/feeds/hr", operatorKey, ""); code != 204 {
				t.Fatalf("delete the feed on B: %d %v", code, body)
			}
			if code, body := upload(b, token, "email\nann@initech.test\n"); code != http.StatusUnauthorized {
				t.Fatalf("an upload on B after the delete: %d %v", code, body)
			}
			within(t, 5*time.Second, "A refuses uploads for the deleted feed", func() bool {
				code, _ := upload(a, token, "email\nann@initech.test\n")
				return code == http.StatusUnauthorized
			})
			if out, err := sftp(); err == nil {
				t.Fatalf("sftp as initech.hr after the delete worked:\n%s", out)
			}
			// Made again under its name, the feed does not take the old token.
			if code, body := call(t, "POST", b.base+"/api/v1/tenants/initech/feeds", operatorKey, feed); code != 201 {
				t.Fatalf("make the feed again: %d %v", code, body)
			}
			if code, body := upload(b, token, "email\nann@initech.test\n"); code != http.StatusUnauthorized {
				t.Fatalf("the deleted feed's token on the new one: %d %v", code, body)
			}
		})
	}
}

// TestServeDropBoxNotEnabled: without drop_box in the file, POST …/feeds
// with source: upload is a 400 at source telling the operator to enable
// the drop box.
func TestServeDropBoxNotEnabled(t *testing.T) {
	d := startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", t.TempDir(), operatorKey))
	if code, body := call(t, "POST", d.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant: %d %v", code, body)
	}
	code, body := call(t, "POST", d.base+"/api/v1/tenants/initech/feeds", operatorKey, `{"name": "hr", "kind": "file", "source": "upload"}`)
	problems, _ := body["problems"].([]any)
	if code != 400 || len(problems) != 1 {
		t.Fatalf("an upload feed without the drop box: %d %v", code, body)
	}
	p := problems[0].(map[string]any)
	if p["path"] != "source" || !strings.Contains(p["message"].(string), "enable drop_box in the configuration file") {
		t.Fatalf("the problem: %v", p)
	}
}
