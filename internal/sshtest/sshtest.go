package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/internal/testenv"
)

const (
	installHint  = "apt-get install openssh-server"
	readyTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	// connStopTimeout bounds the wait for per-connection processes to exit
	// and be reaped after a signal.
	connStopTimeout = 2 * time.Second
	privsepDir      = "/run/sshd" // compiled into Debian's sshd; needed when it runs as root
)

// Server is a running sshd.
type Server struct {
	// Addr is "127.0.0.1:PORT"; Host and Port are its parts.
	Addr string
	Host string
	Port int
	// User is the account a client logs in as: root when the tests run as
	// root, else the current user.
	User string
	// ClientKeyFile is an unencrypted ed25519 private key (OpenSSH format,
	// mode 0600) that sshd accepts for User; ClientSigner is the same key.
	ClientKeyFile string
	ClientSigner  ssh.Signer
	// KnownHostsFile holds one line, "[127.0.0.1]:PORT ssh-ed25519 …", for
	// the server's host key.
	KnownHostsFile string
	// HostKey is the server's public host key (ed25519).
	HostKey ssh.PublicKey
	// Root is an empty temp dir for the test's files; the SFTP server sees it
	// at the same absolute path.
	Root string

	dir     string // temp dir: config, keys, pid file, log
	logPath string
	cmd     *exec.Cmd
	proc    *testenv.Process
	exited  <-chan struct{}
	stopped sync.Once
}

// Option changes how Start configures sshd.
type Option func(*config)

type config struct {
	extra []string
}

// Config appends lines to sshd_config. sshd keeps the first value it reads
// for most keywords, so these lines cannot change a keyword Start already
// sets (see sshdConfig); use them for the others (DenyUsers, Ciphers,
// MaxSessions, Match blocks…).
func Config(lines ...string) Option {
	return func(c *config) { c.extra = append(c.extra, lines...) }
}

// Start starts sshd for the test and stops it in t.Cleanup. A missing or
// failing sshd goes through testenv.Unavailable.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := testenv.Find("sshd", "/usr/sbin")
	if err != nil {
		testenv.Unavailable(t, "sshd not installed: %s (not found on PATH or in /usr/sbin)", installHint)
		return nil
	}
	if !filepath.IsAbs(bin) { // sshd re-executes itself and insists on an absolute path
		if bin, err = filepath.Abs(bin); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	login, err := loginUser()
	if err != nil {
		testenv.Unavailable(t, "sshtest: %v", err)
		return nil
	}
	if lockedAccount(login) {
		testenv.Unavailable(t, "sshtest: the account %q is locked (its /etc/shadow password field starts with '!'), and sshd without PAM "+
			"refuses locked accounts even for key logins: usermod -p '*' %s (no password login, not locked)", login, login)
		return nil
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(privsepDir, 0o755); err != nil {
			testenv.Unavailable(t, "sshtest: sshd needs %s: %v", privsepDir, err)
			return nil
		}
	}

	dir := t.TempDir()
	s := &Server{User: login, dir: dir, Host: "127.0.0.1", Root: filepath.Join(dir, "root"), logPath: filepath.Join(dir, "sshd.log")}
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	hostSigner, err := writeKey(hostKeyFile, "sshtest host key")
	if err != nil {
		t.Fatalf("sshtest: host key: %v", err)
	}
	s.HostKey = hostSigner.PublicKey()
	s.ClientKeyFile = filepath.Join(dir, "client_ed25519")
	if s.ClientSigner, err = writeKey(s.ClientKeyFile, "sshtest client key"); err != nil {
		t.Fatalf("sshtest: client key: %v", err)
	}
	authorizedKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorizedKeys, ssh.MarshalAuthorizedKey(s.ClientSigner.PublicKey()), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	version := sshdVersion(bin)

	// A port found free may be taken before sshd binds it: try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.Port = testenv.FreePort(t)
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		conf := sshdConfig(s, hostKeyFile, authorizedKeys, version, cfg.extra)
		confPath := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		if lastErr = s.start(bin, confPath); lastErr == nil {
			break
		}
		if !strings.Contains(s.Log(), "Address already in use") {
			break
		}
	}
	if lastErr != nil {
		testenv.Unavailable(t, "sshtest: sshd did not start: %v; log tail:\n%s", lastErr, tail(s.Log()))
		return nil
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("sshtest: %v", err)
		}
		if t.Failed() {
			t.Logf("sshtest: sshd log (%s):\n%s", s.Addr, tail(s.Log()))
		}
	})

	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(s.KnownHostsLine(s.Addr)+"\n"), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return s
}

// URL returns sftp://USER@127.0.0.1:PORT<Root>/<rel>, rel being a slash path
// relative to Root (a glob is fine: "drop/*.csv").
func (s *Server) URL(rel string) string {
	return "sftp://" + s.User + "@" + s.Addr + filepath.ToSlash(s.Root) + "/" + strings.TrimPrefix(rel, "/")
}

// KnownHostsLine returns a known_hosts line that pins the server's host key
// for hostport ("127.0.0.1:PORT", or a proxy's address).
func (s *Server) KnownHostsLine(hostport string) string {
	return knownHostsLine(hostport, s.HostKey)
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// KillConnections ends every per-connection sshd process (SIGKILL), as if
// the server had crashed; the listener stays up and accepts new
// connections. It returns how many connections it ended.
func (s *Server) KillConnections() int {
	return s.endConnections()
}

// endConnections SIGKILLs sshd's per-connection processes bottom-up: the
// deepest first (the SFTP session, which ignores SIGTERM), waiting until
// each level has exited and been reaped by its parent before killing the
// parents. Killing a parent first would orphan its children: they would
// run on, or stay zombies of a PID 1 that may never reap them (as in
// containers). It returns how many connections there were.
func (s *Server) endConnections() int {
	procs := descendants(s.cmd.Process.Pid)
	conns, maxDepth := 0, 0
	for _, p := range procs {
		if p.depth == 1 {
			conns++
		}
		maxDepth = max(maxDepth, p.depth)
	}
	for d := maxDepth; d >= 1; d-- {
		var level []proc
		for _, p := range procs {
			if p.depth == d && !p.zombie {
				level = append(level, p)
			}
		}
		for _, p := range level {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		waitGone(level, connStopTimeout)
	}
	return conns
}

// waitGone waits until every process of procs has exited and been reaped
// by its parent, or has become the zombie of another parent (its own died
// without reaping it: nothing left for us to wait for).
func waitGone(procs []proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		alive := false
		for _, p := range procs {
			state, ppid, ok := procStat(p.pid)
			if ok && (state != "Z" || ppid == p.ppid) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// procStat reads a process's state letter and parent from /proc.
func procStat(pid int) (state string, ppid int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// "pid (comm) S ppid ...": fields after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 || f[0] == "X" {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return f[0], ppid, true
}

func knownHostsLine(hostport string, key ssh.PublicKey) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "22"
	}
	pattern := host
	if port != "22" {
		pattern = "[" + host + "]:" + port
	}
	return pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func loginUser() (string, error) {
	if os.Geteuid() == 0 {
		return "root", nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("current user: %v", err)
	}
	return u.Username, nil
}

// lockedAccount reports whether /etc/shadow, when we can read it, marks
// name as locked ("!…"), which sshd with UsePAM no refuses outright.
func lockedAccount(name string) bool {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return false // not root: sshd cannot read it either
	}
	for _, line := range strings.Split(string(b), "\n") {
		if user, rest, ok := strings.Cut(line, ":"); ok && user == name {
			return strings.HasPrefix(rest, "!")
		}
	}
	return false
}

// writeKey makes a fresh ed25519 key and writes it, OpenSSH format, 0600.
func writeKey(path, comment string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

var versionRE = regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`)

// sshdVersion returns major*100+minor (902 for 9.2), 0 when unknown.
func sshdVersion(bin string) int {
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return major*100 + minor
}

func sshdConfig(s *Server, hostKey, authorizedKeys string, version int, extra []string) string {
	lines := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(s.dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorizedKeys,
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"UseDNS no",
		"LogLevel VERBOSE",
		"Subsystem sftp internal-sftp",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		"PrintMotd no",
		"MaxStartups 100",
		"LoginGraceTime 30",
	}
	if version >= 908 {
		// 9.8 penalizes sources that fail to authenticate; tests refuse
		// host keys on purpose, from loopback.
		lines = append(lines, "PerSourcePenalties no")
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\n") + "\n"
}

func (s *Server) start(bin, confPath string) error {
	logf, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(bin, "-D", "-e", "-f", confPath)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd = cmd
	proc, err := testenv.StartProcess(cmd) // dies with the test binary
	if err != nil {
		return fmt.Errorf("starting %s: %v", bin, err)
	}
	s.proc, s.exited = proc, proc.Exited()
	if err := s.waitReady(); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		return err
	}
	return nil
}

// waitReady dials until sshd sends its banner, exits, or the deadline passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("sshd exited during startup (%v)", s.proc.Err())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			_, err = io.ReadFull(c, buf)
			c.Close()
			if err == nil && bytes.HasPrefix(buf, []byte("SSH-2.0-")) {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("unexpected banner %q", buf)
			}
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("sshd not ready after %v (last error: %v)", readyTimeout, lastErr)
}

// stop kills the connections, then stops the listener (SIGTERM, then
// SIGKILL after stopTimeout), and waits for it.
func (s *Server) stop() error {
	var err error
	s.stopped.Do(func() {
		select {
		case <-s.exited:
			err = fmt.Errorf("sshd had exited before the test ended (%v)", s.proc.Err())
			return
		default:
		}
		s.endConnections()
		pid := s.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			err = fmt.Errorf("sshd did not stop within %v of SIGTERM; killed", stopTimeout)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-s.exited
		}
	})
	return err
}

type proc struct {
	pid, ppid, depth int // depth 1: a child of the listener
	zombie           bool
}

// descendants returns every descendant of pid, zombies included, read from
// /proc (sshd's per-connection processes call setsid, so they leave our
// process group).
func descendants(pid int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]proc{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(p); ok {
			children[ppid] = append(children[ppid], proc{pid: p, ppid: ppid, zombie: state == "Z"})
		}
	}
	var out []proc
	queue := []proc{{pid: pid}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p.pid] {
			c.depth = p.depth + 1
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// tail returns the last 40 lines of s, indented.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
