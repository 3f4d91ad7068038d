package filefeed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/internal/sshtest"
)

// SFTP-only cases, against a real sshd (internal/sshtest) except where noted.

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func knownHostsLine(hostport string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(hostport)
	return "[" + host + "]:" + port + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func TestFetchSFTPHostKeyMismatch(t *testing.T) {
	s := sshtest.Start(t)
	put(t, filepath.Join(s.Root, "employees-1.csv"), []byte("secret roster"), time.Now().Add(-time.Hour))

	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherED, _ := ssh.NewPublicKey(edPub)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, _ := ssh.NewPublicKey(&ec.PublicKey)

	for _, c := range []struct {
		name string
		key  ssh.PublicKey
	}{
		{"another ed25519 key", otherED},
		// Only a key of a type the server does not have: with
		// HostKeyAlgorithms from known_hosts the server cannot even offer
		// its key. Still a plain mismatch, not a cryptic KEX failure.
		{"an ecdsa key", otherEC},
	} {
		t.Run(c.name, func(t *testing.T) {
			kh := writeKnownHosts(t, knownHostsLine(s.Addr, c.key))
			src, err := OpenSource(context.Background(), SourceOptions{URL: s.URL("employees-*.csv"), PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: kh})
			if err == nil {
				src.Close()
				t.Fatal("OpenSource connected to a server whose host key known_hosts does not hold")
			}
			msg := err.Error()
			for _, want := range []string{"host key of " + s.Addr + " does not match known_hosts " + kh, "refusing to connect", s.URL("employees-*.csv")} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			t.Logf("%v", err)
		})
	}
	if strings.Contains(s.Log(), "Accepted publickey") {
		t.Errorf("a client logged in although every host key check failed:\n%s", s.Log())
	}
}

func TestFetchSFTPUnknownHost(t *testing.T) {
	s := sshtest.Start(t)
	other := sshtest.Start(t)
	// known_hosts knows another server only.
	kh := writeKnownHosts(t, other.KnownHostsLine(other.Addr))
	_, err := OpenSource(context.Background(), SourceOptions{URL: s.URL("*.csv"), PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: kh})
	if err == nil || !strings.Contains(err.Error(), "is not in known_hosts") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.HostKey)) {
		t.Fatalf("OpenSource for an unknown host = %v; want \"is not in known_hosts\" and the server's fingerprint", err)
	}
	t.Logf("%v", err)
}

func TestFetchSFTPAuthRefused(t *testing.T) {
	s := sshtest.Start(t)
	other := sshtest.Start(t)
	_, err := OpenSource(context.Background(), SourceOptions{URL: s.URL("*.csv"), PrivateKeyFile: other.ClientKeyFile, KnownHostsFile: s.KnownHostsFile})
	if err == nil || !strings.Contains(err.Error(), "refused to log in") {
		t.Fatalf("OpenSource with a key sshd does not know = %v; want \"refused to log in\"", err)
	}
	t.Logf("%v", err)
}

func TestFetchSFTPConnectionCutMidDownload(t *testing.T) {
	s := sshtest.Start(t)
	p := s.Proxy(t)
	const size = 4 << 20
	data := make([]byte, size)
	rng := mrand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	put(t, filepath.Join(s.Root, "employees-1.csv"), data, time.Now().Add(-time.Hour))

	src, err := OpenSource(context.Background(), SourceOptions{
		URL: p.URL("employees-*.csv"), PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: p.KnownHostsFile,
		Sleep: (&fakeSleep{}).sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Newest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.CutAfter(size / 2)
	got, err := src.Read(context.Background(), f)
	if err == nil {
		t.Fatalf("Read through a connection cut at half the file returned %d of %d bytes and no error", len(got), size)
	}
	if got != nil {
		t.Errorf("Read returned %d bytes with its error; want none", len(got))
	}
	if p.Cuts() != 1 {
		t.Errorf("the proxy cut %d times, want 1", p.Cuts())
	}
	t.Logf("%v", err)

	// The next call connects again and reads the whole file.
	got, err = src.Read(context.Background(), f)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Read after reconnecting: %d bytes, %v; want all %d", len(got), err, size)
	}
}

func TestFetchSFTPStalledServerTimesOut(t *testing.T) {
	s := sshtest.Start(t)
	p := s.Proxy(t)
	const size = 1 << 20
	data := bytes.Repeat([]byte("a@example.com\n"), size/14)
	put(t, filepath.Join(s.Root, "employees-1.csv"), data, time.Now().Add(-time.Hour))
	src, err := OpenSource(context.Background(), SourceOptions{
		URL: p.URL("employees-*.csv"), PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: p.KnownHostsFile,
		Timeout: 500 * time.Millisecond, Sleep: (&fakeSleep{}).sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Newest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.StallAfter(size / 4)
	t0 := time.Now()
	_, err = src.Read(context.Background(), f)
	// A Read that ignored Timeout would hang until go test's own timeout;
	// the error says which deadline ended it (no wall-clock bound here).
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read from a server that stops answering = %v after %v; want the Timeout's deadline error", err, time.Since(t0))
	}
	t.Logf("after %v: %v", time.Since(t0).Round(time.Millisecond), err)

	// The caller's context ends first: the read stops then, not at Timeout.
	p.StallAfter(size / 4)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = src.Read(ctx, f)
	// Had the read waited for Timeout (500ms), the error would be
	// os.ErrDeadlineExceeded, not the context's.
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a 100ms context from a stalled server = %v after %v; want the context's error", err, time.Since(t0))
	}

	p.Cut() // disarm
	if got, err := src.Read(context.Background(), f); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Read once the server answers again: %d bytes, %v", len(got), err)
	}
}

func TestFetchSFTPReconnectsForArchive(t *testing.T) {
	s := sshtest.Start(t)
	mkdir(t, filepath.Join(s.Root, "drop"))
	put(t, filepath.Join(s.Root, "drop", "employees-1.csv"), []byte("x"), time.Now().Add(-time.Hour))
	src, err := OpenSource(context.Background(), SourceOptions{
		URL: s.URL("drop/employees-*.csv"), PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile,
		ArchiveDir: "processed", Sleep: (&fakeSleep{}).sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Newest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The server drops the session while the run applies the plan.
	if n := s.KillConnections(); n == 0 {
		t.Fatal("no sshd session to kill")
	}
	time.Sleep(100 * time.Millisecond) // let the client see the close
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := src.Archive(context.Background(), f, now); err != nil {
		t.Fatalf("Archive after the session died: %v", err)
	}
	if got := tree(t, filepath.Join(s.Root, "drop")); len(got) != 1 || got[0] != "processed/employees-1.csv.20260301T120000Z" {
		t.Errorf("drop folder holds %q", got)
	}
}

// TestFetchSFTPTimeout: a server that accepts TCP and never speaks.
func TestFetchSFTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	kh := writeKnownHosts(t, knownHostsLine(ln.Addr().String(), key))
	t0 := time.Now()
	_, err = OpenSource(context.Background(), SourceOptions{
		URL: "sftp://hr@" + ln.Addr().String() + "/x/*.csv", Password: "p", KnownHostsFile: kh, Timeout: 300 * time.Millisecond,
	})
	if err == nil { // without the Timeout, OpenSource would wait forever
		t.Fatalf("OpenSource against a silent server = %v after %v; want an error after ~300ms", err, time.Since(t0))
	}
	t.Logf("after %v: %v", time.Since(t0).Round(time.Millisecond), err)
}

// TestFetchSFTPPassword tests password and keyboard-interactive login. The
// real sshd checks passwords against /etc/shadow (without PAM), and these
// tests set no password on a system account, so the server here is an
// in-process one: x/crypto/ssh with pkg/sftp's server over a temp dir.
func TestFetchSFTPPassword(t *testing.T) {
	for _, mode := range []string{"password", "keyboard-interactive"} {
		t.Run(mode, func(t *testing.T) {
			srv := startPasswordServer(t, "hr", "correct horse", mode)
			put(t, filepath.Join(srv.root, "employees-1.csv"), []byte("email\na@example.com\n"), time.Now().Add(-time.Hour))
			url := fmt.Sprintf("sftp://hr@%s%s/employees-*.csv", srv.addr, filepath.ToSlash(srv.root))

			src, err := OpenSource(context.Background(), SourceOptions{URL: url, Password: "correct horse", KnownHostsFile: srv.knownHosts, Sleep: (&fakeSleep{}).sleep})
			if err != nil {
				t.Fatalf("OpenSource with the right password: %v", err)
			}
			defer src.Close()
			f, err := src.Newest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if b, err := src.Read(context.Background(), f); err != nil || string(b) != "email\na@example.com\n" {
				t.Fatalf("Read = %q, %v", b, err)
			}

			_, err = OpenSource(context.Background(), SourceOptions{URL: url, Password: "wrong", KnownHostsFile: srv.knownHosts})
			if err == nil || !strings.Contains(err.Error(), "refused to log in") || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("OpenSource with a wrong password = %v; want \"refused to log in\", without the password", err)
			}
		})
	}
}

type passwordServer struct {
	addr, root, knownHosts string
}

func startPasswordServer(t *testing.T, user, password, mode string) passwordServer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{}
	switch mode {
	case "password":
		cfg.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == user && string(pw) == password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	case "keyboard-interactive":
		cfg.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ask(c.User(), "", []string{"Password: "}, []bool{false})
			if err == nil && c.User() == user && len(ans) == 1 && ans[0] == password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveSFTP(nc, cfg)
			}()
		}
	}()
	return passwordServer{addr: ln.Addr().String(), root: t.TempDir(), knownHosts: writeKnownHosts(t, knownHostsLine(ln.Addr().String(), hostKey.PublicKey()))}
}

func serveSFTP(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if ok {
					if srv, err := sftp.NewServer(ch); err == nil {
						_ = srv.Serve()
					}
					ch.Close()
				}
			}
		}()
	}
}

// TestFetchSFTPInlineKeys: a feed made through the admin API gives its
// known_hosts lines and its private key as values, not files; they work
// as the files do, a wrong host key among them is still refused, and no
// file of them is left behind.
func TestFetchSFTPInlineKeys(t *testing.T) {
	s := sshtest.Start(t)
	put(t, filepath.Join(s.Root, "employees-1.csv"), []byte("email\nann@x.test\n"), time.Now().Add(-time.Hour))
	key, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := os.ReadFile(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	src, err := OpenSource(context.Background(), SourceOptions{URL: s.URL("employees-*.csv"), PrivateKey: string(key), KnownHosts: string(hosts),
		Sleep: (&fakeSleep{}).sleep})
	if err != nil {
		t.Fatal(err)
	}
	f, err := src.Newest(context.Background())
	src.Close()
	if err != nil || f.Name != "employees-1.csv" {
		t.Fatalf("Newest = %+v, %v", f, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left in the temporary folder: %v", left)
	}

	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(edPub)
	_, err = OpenSource(context.Background(), SourceOptions{URL: s.URL("employees-*.csv"), PrivateKey: string(key), KnownHosts: knownHostsLine(s.Addr, other)})
	if err == nil || !strings.Contains(err.Error(), "does not match known_hosts (the feed's sftp.known_hosts)") {
		t.Fatalf("a wrong inline host key: %v", err)
	}
	if _, err := OpenSource(context.Background(), SourceOptions{URL: s.URL("employees-*.csv"), PrivateKey: "not a key", KnownHosts: string(hosts)}); err == nil ||
		!strings.Contains(err.Error(), "sftp.private_key") {
		t.Fatalf("a broken inline key: %v", err)
	}
}
