package sshtest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dial(t *testing.T, addr, user, knownHostsFile string, signer ssh.Signer) (*ssh.Client, *sftp.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { sc.Close(); c.Close() })
	return c, sc, nil
}

func TestStartSFTP(t *testing.T) {
	t0 := time.Now()
	s := Start(t)
	t.Logf("sshd started in %v on %s as %s", time.Since(t0).Round(time.Millisecond), s.Addr, s.User)

	want := []byte("hello, sftp\n")
	if err := os.WriteFile(filepath.Join(s.Root, "a.txt"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(mustRead(t, s.ClientKeyFile))
	if err != nil {
		t.Fatalf("ClientKeyFile does not parse: %v", err)
	}
	_, sc, err := dial(t, s.Addr, s.User, s.KnownHostsFile, signer)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	f, err := sc.Open(s.Root + "/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}

	// KillConnections ends the session; the server still accepts new ones.
	if n := s.KillConnections(); n == 0 {
		t.Errorf("KillConnections killed nothing")
	}
	if _, err := sc.Stat(s.Root + "/a.txt"); err == nil {
		t.Errorf("Stat after KillConnections: no error")
	}
	if _, _, err := dial(t, s.Addr, s.User, s.KnownHostsFile, s.ClientSigner); err != nil {
		t.Errorf("dial after KillConnections: %v", err)
	}
}

func TestStartRefusesOtherKeys(t *testing.T) {
	s := Start(t)
	other := Start(t) // its client key is not in s's authorized_keys
	if _, _, err := dial(t, s.Addr, s.User, s.KnownHostsFile, other.ClientSigner); err == nil {
		t.Fatal("sshd accepted a client key it never authorized")
	}
	// and s's host key does not match other's known_hosts line
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(other.KnownHostsLine(s.Addr)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(t, s.Addr, s.User, kh, s.ClientSigner); err == nil {
		t.Fatal("client accepted a host key the known_hosts file does not hold")
	}
}

func TestConfigLinesApply(t *testing.T) {
	s := Start(t, Config("DenyUsers "+currentLogin(t)))
	if _, _, err := dial(t, s.Addr, s.User, s.KnownHostsFile, s.ClientSigner); err == nil {
		t.Fatal("DenyUsers from Config did not apply: login accepted")
	}
}

func currentLogin(t *testing.T) string {
	u, err := loginUser()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestProxyCutAfter(t *testing.T) {
	s := Start(t)
	p := s.Proxy(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := os.WriteFile(filepath.Join(s.Root, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, sc, err := dial(t, p.Addr, s.User, p.KnownHostsFile, s.ClientSigner)
	if err != nil {
		t.Fatalf("dial through proxy: %v", err)
	}
	p.CutAfter(int64(len(data) / 2))
	f, err := sc.Open(s.Root + "/big")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	f.Close()
	if err == nil {
		t.Fatalf("read %d of %d bytes through a cut connection without error", n, len(data))
	}
	if n >= int64(len(data)) {
		t.Fatalf("read all %d bytes though the proxy cut at half", n)
	}
	if p.Cuts() != 1 {
		t.Errorf("Cuts = %d, want 1", p.Cuts())
	}
	t.Logf("cut after %d of %d bytes: %v", n, len(data), err)
	// A new connection passes normally.
	_, sc2, err := dial(t, p.Addr, s.User, p.KnownHostsFile, s.ClientSigner)
	if err != nil {
		t.Fatalf("dial after cut: %v", err)
	}
	if fi, err := sc2.Stat(s.Root + "/big"); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat after cut: %v, %v", fi, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
