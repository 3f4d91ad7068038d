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
