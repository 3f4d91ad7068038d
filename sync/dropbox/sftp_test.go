package dropbox

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// clientKey is a throwaway SSH key: its private key file (OpenSSH format,
// mode 0600) and its public key.
type clientKey struct {
	file   string
	pub    ssh.PublicKey
	signer ssh.Signer
}

func newClientKey(t *testing.T, name string) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{file: file, pub: signer.PublicKey(), signer: signer}
}

// sftpServer serves e's drop box over SFTP on a free loopback port and
// writes a known_hosts file for it.
type sftpServer struct {
	addr       string
	port       int
	hostKey    ssh.PublicKey
	knownHosts string
}

func (e *env) serveSFTP() *sftpServer {
	e.t.Helper()
	signer, created, err := LoadOrCreateHostKey(filepath.Join(e.cfg.DataDir, "dropbox_host_ed25519"))
	if err != nil || !created {
		e.t.Fatalf("host key: created %v, %v", created, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.box.ServeSFTP(ctx, ln, signer) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("ServeSFTP: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Errorf("ServeSFTP did not return after its context ended")
		}
	})
	s := &sftpServer{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, hostKey: signer.PublicKey()}
	s.knownHosts = filepath.Join(e.t.TempDir(), "known_hosts")
	line := "[127.0.0.1]:" + strconv.Itoa(s.port) + " " + string(ssh.MarshalAuthorizedKey(s.hostKey))
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// openSSH runs OpenSSH's sftp (or ssh) against the drop box with key, as
// user, checking the host key against the known_hosts file, and returns
// its output and error.
func (s *sftpServer) openSSH(t *testing.T, bin string, key clientKey, user string, args ...string) (string, error) {
	t.Helper()
	port := "-P"
	if filepath.Base(bin) == "ssh" {
		port = "-p"
	}
	all := append([]string{"-F", "/dev/null", "-i", key.file, port, strconv.Itoa(s.port),
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + s.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-o", "ConnectTimeout=10"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(all, user+"@127.0.0.1")...)
	if filepath.Base(bin) == "ssh" { // the command goes after the destination
		cmd = exec.CommandContext(ctx, bin, append(all[:len(all)-1], user+"@127.0.0.1", all[len(all)-1])...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// batch runs OpenSSH's sftp in batch mode with the given commands.
func (s *sftpServer) batch(t *testing.T, key clientKey, user string, commands ...string) (string, error) {
	t.Helper()
	bin := testenv.LookPath(t, "sftp", "apt-get install openssh-client")
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(strings.Join(commands, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s.openSSH(t, bin, key, user, "-b", file)
}

// TestSFTPUploadWithOpenSSH: OpenSSH's sftp uploads with the feed's key
// into its inbox, where the next run reads it; another feed's user, a path
// outside the inbox, reads and listings are refused, and so is a shell.
func TestSFTPUploadWithOpenSSH(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		hrKey, payrollKey := newClientKey(t, "hr"), newClientKey(t, "payroll")
		e := newEnv(t, st, envOptions{hrKeys: []ssh.PublicKey{hrKey.pub}, payrollKeys: []ssh.PublicKey{payrollKey.pub}})
		s := e.serveSFTP()
		local := filepath.Join(t.TempDir(), "employees.csv")
		if err := os.WriteFile(local, []byte(roster), 0o600); err != nil {
			t.Fatal(err)
		}

		out, err := s.batch(t, hrKey, "acme.hr", "put "+local+" employees.csv")
		if err != nil {
			t.Fatalf("sftp put with the feed's key: %v\n%s", err, out)
		}
		inbox := e.files("acme", "hr", "inbox")
		if len(inbox) != 1 || !strings.HasSuffix(inbox[0], "-employees.csv") {
			t.Fatalf("inbox after the upload: %v", inbox)
		}
		if got, _ := os.ReadFile(filepath.Join(FeedDir(e.cfg, "acme", "hr"), "inbox", inbox[0])); string(got) != roster {
			t.Fatalf("stored %q", got)
		}
		run := e.runHR()
		if run.Status != store.RunApplied || run.Counts["create"] != 2 || run.FileName != inbox[0] {
			t.Fatalf("run after the SFTP upload: %s %v %q %s", run.Status, run.Counts, run.FileName, run.Error)
		}

		// Another feed's user, with hr's key: no login.
		for _, user := range []string{"acme.payroll", "globex.hr", "acme", "root"} {
			out, err := s.batch(t, hrKey, user, "put "+local+" employees.csv")
			if err == nil || !strings.Contains(out, "Permission denied") {
				t.Errorf("hr's key as %s: err %v\n%s", user, err, out)
			}
		}
		if got := e.files("acme", "payroll", "inbox"); len(got) != 0 {
			t.Fatalf("payroll's inbox: %v", got)
		}

		// Logged in as hr: nothing outside the inbox, nothing read back.
		for _, cmd := range []string{
			"put " + local + " /etc/rosterd-dropbox-test.csv",
			"put " + local + " ../acme.payroll/employees.csv",
			"put " + local + " ../../payroll/inbox/employees.csv",
			"put " + local + " /../../payroll/inbox/x.csv",
			"put " + local + " sub/employees.csv",
			"put " + local + " ../employees.csv",
			"put " + local + " /x/../employees.csv",
			"put " + local + " .hidden.csv",
			"get employees.csv " + filepath.Join(t.TempDir(), "back.csv"),
			"get " + inbox[0] + " " + filepath.Join(t.TempDir(), "back.csv"),
			"ls /etc",
			"ls ..",
			"cd /etc",
			"mkdir sub",
			"rm " + inbox[0],
			"rename " + inbox[0] + " x.csv",
			"symlink /etc/passwd x.csv",
		} {
			out, err := s.batch(t, hrKey, "acme.hr", cmd)
			if err == nil {
				t.Errorf("%q succeeded:\n%s", cmd, out)
			}
		}
		if _, err := os.Stat("/etc/rosterd-dropbox-test.csv"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/etc/rosterd-dropbox-test.csv: %v", err)
		}
		if got := e.files("acme", "payroll", "inbox"); len(got) != 0 {
			t.Fatalf("payroll's inbox after hr's attempts: %v", got)
		}
		if got := e.files("acme", "hr", "inbox"); len(got) != 1 || got[0] != inbox[0] {
			t.Fatalf("hr's inbox after the refused commands: %v", got)
		}
		if got := e.files("acme", "hr", "incoming"); len(got) != 0 {
			t.Fatalf("incoming after the refused commands: %v", got)
		}
		// Listing the root shows nothing: uploads cannot be read back.
		out, err = s.batch(t, hrKey, "acme.hr", "ls -1 /")
		if err != nil || strings.Contains(out, "employees") {
			t.Errorf("ls /: %v\n%s", err, out)
		}

		// No shell, no command.
		sshBin := testenv.LookPath(t, "ssh", "apt-get install openssh-client")
		for _, args := range [][]string{{"-T", "id"}, {"-T", "-N", "-L", "127.0.0.1:0:127.0.0.1:22", "-o", "ExitOnForwardFailure=yes", "true"}} {
			if out, err := s.openSSH(t, sshBin, hrKey, "acme.hr", args...); err == nil {
				t.Errorf("ssh %v succeeded:\n%s", args, out)
			}
		}
	})
}

// goClient logs in to the drop box with pkg/sftp's client over a TCP
// connection the test holds.
func (s *sftpServer) goClient(t *testing.T, user string, auth ssh.AuthMethod) (net.Conn, *sftp.Client, error) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, s.addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(s.hostKey), Timeout: 10 * time.Second})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	client, err := sftp.NewClient(ssh.NewClient(c, chans, reqs))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, client, nil
}

// TestSFTPDroppedUploadNeverPickedUp: a connection that drops in the middle
// of an upload leaves nothing in the inbox, and the run finds nothing.
func TestSFTPDroppedUploadNeverPickedUp(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		key := newClientKey(t, "hr")
		e := newEnv(t, st, envOptions{runOnUpload: true, hrKeys: []ssh.PublicKey{key.pub}})
		s := e.serveSFTP()
		conn, client, err := s.goClient(t, "acme.hr", ssh.PublicKeys(key.signer))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		f, err := client.Create("employees.csv")
		if err != nil {
			t.Fatal(err)
		}
		big := []byte(roster + strings.Repeat("x@example.com,X,Y\n", 10000))
		if _, err := f.Write(big[:len(big)/2]); err != nil {
			t.Fatal(err)
		}
		// The first half is on the server, in incoming.
		waitFor(t, "half the upload on the server", func() bool {
			names := e.files("acme", "hr", "incoming")
			if len(names) != 1 {
				return false
			}
			fi, err := os.Stat(filepath.Join(FeedDir(e.cfg, "acme", "hr"), "incoming", names[0]))
			return err == nil && fi.Size() >= int64(len(big)/2)
		})
		conn.Close() // the connection drops; the file is never closed
		waitFor(t, "the server to drop the upload", func() bool { return len(e.files("acme", "hr", "incoming")) == 0 })
		// The server removes the partial file, then logs why: wait for
		// the line rather than race it.
		waitFor(t, "the log line of the dropped upload", func() bool { return strings.Contains(e.log.String(), "upload not stored") })
		if got := e.files("acme", "hr", "inbox"); len(got) != 0 {
			t.Fatalf("a dropped upload reached the inbox: %v", got)
		}
		if run := e.runHR(); run.Status != store.RunSkipped || e.cardCount("acme") != 0 {
			t.Fatalf("run after a dropped upload: %s %v", run.Status, run.Counts)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.runs) != 0 {
			t.Fatalf("a dropped upload started runs: %v", e.runs)
		}
	})
}

// TestSFTPPasswordAndRunOnUpload: a password logs in (a wrong one does
// not), and with run_on_upload the upload is applied at once.
func TestSFTPPasswordAndRunOnUpload(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		const pw = "correct horse battery staple"
		e := newEnv(t, st, envOptions{runOnUpload: true, hrPassword: pw})
		s := e.serveSFTP()
		if _, _, err := s.goClient(t, "acme.hr", ssh.Password("wrong password, quite long")); err == nil {
			t.Fatal("a wrong password logged in")
		}
		if _, _, err := s.goClient(t, "acme.payroll", ssh.Password(pw)); err == nil {
			t.Fatal("hr's password logged in as payroll")
		}
		_, client, err := s.goClient(t, "acme.hr", ssh.Password(pw))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		f, err := client.Create("/employees.csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadFrom(bytes.NewReader([]byte(roster))); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the run on upload", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.runs) == 1 })
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.cardCount("acme") != 2 || len(e.runs) != 1 || e.runs[0].Trigger != "upload" || e.runs[0].Status != store.RunApplied {
			t.Fatalf("runs on upload: %+v", e.runs)
		}
	})
}

// TestHostKeyKept: the host key is generated once, mode 0600, and read
// back the same at the next start.
func TestHostKeyKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "host_key")
	a, created, err := LoadOrCreateHostKey(path)
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	b, created, err := LoadOrCreateHostKey(path)
	if err != nil || created {
		t.Fatalf("second: created %v, %v", created, err)
	}
	if !bytes.Equal(a.PublicKey().Marshal(), b.PublicKey().Marshal()) {
		t.Fatal("a second start made another host key")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateHostKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable host key: %v", err)
	}
}

// TestSFTPUploadOverTheLimit: writing past max_file_size fails, and the
// upload is not stored.
func TestSFTPUploadOverTheLimit(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		key := newClientKey(t, "hr")
		e := newEnv(t, st, envOptions{hrKeys: []ssh.PublicKey{key.pub}, maxSize: 100})
		s := e.serveSFTP()
		_, client, err := s.goClient(t, "acme.hr", ssh.PublicKeys(key.signer))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		f, err := client.Create("employees.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, werr := f.Write([]byte(roster + roster))
		cerr := f.Close()
		if werr == nil && cerr == nil {
			t.Fatal("an upload over the limit was taken")
		}
		if got := e.files("acme", "hr", "inbox"); len(got) != 0 {
			t.Fatalf("inbox: %v", got)
		}
		waitFor(t, "incoming to be empty", func() bool { return len(e.files("acme", "hr", "incoming")) == 0 })
		if run := e.runHR(); run.Status != store.RunSkipped {
			t.Fatalf("run: %s", run.Status)
		}
	})
}

// TestStaleIncomingRemoved: an unfinished upload a crash left in incoming
// goes at the next start once a day old; a younger one stays (it may be
// another replica's, in progress).
func TestStaleIncomingRemoved(t *testing.T) {
	cfg := &config.Config{DataDir: t.TempDir(), Tenants: []config.Tenant{{ID: "acme", Feeds: []config.Feed{
		{Name: "hr", Kind: "file", File: config.FileFeed{Source: config.UploadSource}}}}}}
	feeds, err := FeedsOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	incoming := filepath.Join(FeedDir(cfg, "acme", "hr"), "incoming")
	os.MkdirAll(incoming, 0o750)
	old, young := filepath.Join(incoming, "upload-old"), filepath.Join(incoming, "upload-young")
	os.WriteFile(old, []byte("half"), 0o600)
	os.WriteFile(young, []byte("half"), 0o600)
	os.Chtimes(old, time.Now().Add(-25*time.Hour), time.Now().Add(-25*time.Hour))
	if _, err := New(Options{Feeds: feeds}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale upload: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young upload: %v", err)
	}
}
