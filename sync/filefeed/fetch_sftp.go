package filefeed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	skknownhosts "github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sftpFS is a folder on an SFTP server (sftp:// sources). It holds one
// connection and makes a new one when the last one broke.
type sftpFS struct {
	loc            sourceLoc
	auth           []ssh.AuthMethod
	authDesc       string // "private key /etc/rosterd/hr_ed25519 and password"
	knownHostsFile string
	knownHosts     string // the lines themselves, when knownHostsFile is ""
	timeout        time.Duration

	mu  sync.Mutex
	cur *sftpConn
}

type sftpConn struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	dead atomic.Bool
	once sync.Once
}

// kill closes the connection; the next operation makes a new one.
func (c *sftpConn) kill() {
	c.dead.Store(true)
	c.once.Do(func() {
		// The socket first: sftp's Close waits for its reader, which a
		// server that stopped answering would keep blocked.
		c.ssh.Close()
		c.sftp.Close()
	})
}

func openSFTP(ctx context.Context, loc sourceLoc, opt SourceOptions) (*sftpFS, error) {
	if opt.KnownHostsFile == "" && opt.KnownHosts == "" {
		return nil, errors.New("a known_hosts file is required for an sftp:// source: rosterd never trusts an unknown host key")
	}
	s := &sftpFS{loc: loc, knownHostsFile: opt.KnownHostsFile, knownHosts: opt.KnownHosts, timeout: opt.Timeout}
	var desc []string
	if opt.PrivateKeyFile != "" {
		signer, err := loadPrivateKey(opt.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		s.auth = append(s.auth, ssh.PublicKeys(signer))
		desc = append(desc, "private key "+opt.PrivateKeyFile)
	}
	if opt.PrivateKey != "" {
		signer, err := parsePrivateKey([]byte(opt.PrivateKey), "sftp.private_key")
		if err != nil {
			return nil, err
		}
		s.auth = append(s.auth, ssh.PublicKeys(signer))
		desc = append(desc, "private key (sftp.private_key)")
	}
	if opt.Password != "" {
		pw := opt.Password
		s.auth = append(s.auth,
			ssh.Password(pw),
			// Servers that take passwords through PAM often ask for them
			// as keyboard-interactive: answer every hidden prompt.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if i < len(echos) && !echos[i] {
						answers[i] = pw
					}
				}
				return answers, nil
			}))
		desc = append(desc, "password")
	}
	if len(s.auth) == 0 {
		return nil, errors.New("a private key file or a password is required for an sftp:// source")
	}
	s.authDesc = strings.Join(desc, " and ")
	if _, err := s.conn(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func loadPrivateKey(file string) (ssh.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the private key: %w", err)
	}
	return parsePrivateKey(b, file)
}

// parsePrivateKey reads an unencrypted key; file names it in errors.
func parsePrivateKey(b []byte, file string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(b)
	var pme *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pme):
		return nil, fmt.Errorf("private key %s is encrypted with a passphrase; rosterd needs an unencrypted key (remove the passphrase on a copy: ssh-keygen -p -N '' -f COPY)", file)
	case err != nil:
		return nil, fmt.Errorf("private key %s: %v (want an unencrypted ed25519, RSA or ECDSA key in OpenSSH or PEM format)", file, err)
	}
	return signer, nil
}

// hostKeys reads the known_hosts file, or the feed's own lines: knownhosts
// reads only files, so those go through a private temporary file that is
// gone once they are read.
func (s *sftpFS) hostKeys() (*skknownhosts.HostKeyDB, error) {
	if s.knownHostsFile != "" {
		return skknownhosts.NewDB(s.knownHostsFile)
	}
	f, err := os.CreateTemp("", "rosterd-known-hosts-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(s.knownHosts + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return skknownhosts.NewDB(f.Name())
}

// knownHostsName names the host keys in errors.
func (s *sftpFS) knownHostsName() string {
	if s.knownHostsFile != "" {
		return s.knownHostsFile
	}
	return "(the feed's sftp.known_hosts)"
}

// conn returns the live connection, connecting when there is none.
func (s *sftpFS) conn(ctx context.Context) (*sftpConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && !s.cur.dead.Load() {
		return s.cur, nil
	}
	if s.cur != nil {
		s.cur.kill()
		s.cur = nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.cur = c
	return c, nil
}

// dial connects, checks the host key, logs in and starts the SFTP
// subsystem, all within the timeout and the context.
func (s *sftpFS) dial(ctx context.Context) (_ *sftpConn, err error) {
	hostport := s.loc.hostport()
	// Read known_hosts on every connect: an admin's fix applies without a
	// restart.
	db, err := s.hostKeys()
	if err != nil {
		return nil, fmt.Errorf("known_hosts file: %w", err)
	}
	check := db.HostKeyCallback()
	var hostKeyErr error
	cfg := &ssh.ClientConfig{
		User: s.loc.user,
		Auth: s.auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(hostname, remote, key); err != nil {
				hostKeyErr = hostKeyError(hostport, s.knownHostsName(), key, err)
				return hostKeyErr
			}
			return nil
		},
		// Ask for the key types known_hosts holds for this host; otherwise the
		// server may show a key of another type, which knownhosts reports as
		// a mismatch. Unknown host: nil, the defaults, and the check refuses.
		HostKeyAlgorithms: db.HostKeyAlgorithms(hostport),
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	// The handshake and the SFTP start-up do not take a context: a deadline
	// on the socket bounds them, and a cancelled context closes it.
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer func() {
		if !stop() && err == nil { // the context ended and closed the socket
			err = ctx.Err()
		}
		if err != nil {
			nc.Close()
			// The socket's deadline may pass a moment before the context
			// reports it: look at the clock too.
			now := time.Now()
			parentDeadline, hasParentDeadline := parent.Deadline()
			switch {
			case hostKeyErr != nil:
			case parent.Err() != nil:
				err = fmt.Errorf("connecting to %s: %w", hostport, parent.Err())
			case hasParentDeadline && !now.Before(parentDeadline):
				err = fmt.Errorf("connecting to %s: %w", hostport, context.DeadlineExceeded)
			case ctx.Err() != nil || !now.Before(deadline):
				err = fmt.Errorf("no answer from %s within %v: %w", hostport, s.timeout, context.DeadlineExceeded)
			}
		}
	}()
	sc, chans, reqs, err := ssh.NewClientConn(nc, hostport, cfg)
	switch {
	case hostKeyErr != nil:
		return nil, hostKeyErr
	case err != nil && strings.Contains(err.Error(), "no common algorithm for host key"):
		// known_hosts holds keys of other types only: the server could
		// not show one of them.
		return nil, fmt.Errorf("host key of %s does not match known_hosts %s: the file lists only %s keys for it, and the server has none of those "+
			"(%v); the key changed or someone is in the middle: refusing to connect", hostport, s.knownHostsName(), strings.Join(cfg.HostKeyAlgorithms, "/"), err)
	case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
		return nil, fmt.Errorf("the server refused to log in %q with the %s: %w", s.loc.user, s.authDesc, err)
	case err != nil:
		return nil, fmt.Errorf("ssh handshake with %s: %w", hostport, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sf, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("starting the sftp subsystem: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &sftpConn{ssh: client, sftp: sf}
	go func() {
		_ = client.Wait()
		c.dead.Store(true)
	}()
	return c, nil
}

// hostKeyError says plainly why a host key was refused.
func hostKeyError(hostport, file string, key ssh.PublicKey, err error) error {
	presented := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		var want []string
		for _, k := range keyErr.Want {
			want = append(want, fmt.Sprintf("%s %s (line %d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Line))
		}
		return fmt.Errorf("host key of %s does not match known_hosts %s: the server presented %s, the file lists %s; "+
			"the key changed or someone is in the middle: refusing to connect", hostport, file, presented, strings.Join(want, ", "))
	case errors.As(err, &keyErr):
		return fmt.Errorf("host key of %s is not in known_hosts %s (the server presented %s; check that fingerprint "+
			"with the server's admin, then add the host's line, e.g. from ssh-keyscan): refusing to connect", hostport, file, presented)
	case errors.As(err, &revoked):
		return fmt.Errorf("host key of %s (%s) is revoked in known_hosts %s line %d: refusing to connect", hostport, presented, file, revoked.Revoked.Line)
	default:
		return fmt.Errorf("checking the host key of %s against known_hosts %s: %v: refusing to connect", hostport, file, err)
	}
}

// op runs fn on the live connection, connecting first when needed. It
// closes the connection when the context ends or when fn makes no progress
// for the timeout (fn calls kick to report progress), and after any error
// that is not a plain answer from the server, so that the next op starts
// on a fresh connection.
func (s *sftpFS) op(ctx context.Context, fn func(c *sftp.Client, kick func()) error) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(s.timeout, func() {
		timedOut.Store(true)
		c.kill()
	})
	stop := context.AfterFunc(ctx, c.kill)
	err = fn(c.sftp, func() { timer.Reset(s.timeout) })
	timer.Stop()
	stop()
	if err == nil {
		return nil // done, even if a timer fired just after
	}
	switch {
	case timedOut.Load():
		return fmt.Errorf("no progress for %v, connection closed: %w", s.timeout, os.ErrDeadlineExceeded)
	case ctx.Err() != nil:
		return ctx.Err()
	case !serverAnswer(err):
		c.kill()
	}
	return err
}

// serverAnswer reports whether err is the server's answer to a request
// (the connection is fine) rather than a broken connection.
func serverAnswer(err error) bool {
	var ch *changedError
	var st *sftp.StatusError
	switch {
	case errors.Is(err, sftp.ErrSSHFxConnectionLost), errors.Is(err, sftp.ErrSSHFxNoConnection):
		return false
	case errors.As(err, &ch), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrExist):
		return true
	case errors.As(err, &st):
		return st.FxCode() != sftp.ErrSSHFxConnectionLost && st.FxCode() != sftp.ErrSSHFxNoConnection
	}
	return false
}

func remoteInfo(p string, fi os.FileInfo) FileInfo {
	return FileInfo{Path: p, Name: path.Base(p), Size: fi.Size(), ModTime: fi.ModTime()}
}

func (s *sftpFS) list(ctx context.Context, dir string) (out []FileInfo, err error) {
	err = s.op(ctx, func(c *sftp.Client, kick func()) error {
		entries, err := c.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, fi := range entries {
			p := path.Join(dir, fi.Name())
			if fi.Mode()&os.ModeSymlink != 0 { // a link to a regular file counts
				kick()
				if fi, err = c.Stat(p); errors.Is(err, fs.ErrNotExist) {
					continue
				} else if err != nil {
					return err
				}
			}
			if fi.Mode().IsRegular() {
				out = append(out, remoteInfo(p, fi))
			}
		}
		return nil
	})
	return out, err
}

func (s *sftpFS) stat(ctx context.Context, p string) (info FileInfo, err error) {
	err = s.op(ctx, func(c *sftp.Client, _ func()) error {
		fi, err := c.Stat(p)
		if err != nil {
			return err
		}
		info = remoteInfo(p, fi)
		return nil
	})
	return info, err
}

func (s *sftpFS) read(ctx context.Context, want FileInfo) (data []byte, err error) {
	err = s.op(ctx, func(c *sftp.Client, kick func()) error {
		f, err := c.Open(want.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		kick()
		fi, err := f.Stat() // what the server says of the open file
		if err != nil {
			return err
		}
		if now := remoteInfo(want.Path, fi); now.Size != want.Size || !now.ModTime.Equal(want.ModTime) {
			return &changedError{was: want, now: now}
		}
		w := &progressBuffer{buf: make([]byte, 0, want.Size), kick: kick}
		n, err := f.WriteTo(w) // concurrent requests: much faster than Read
		switch {
		case err != nil:
			return fmt.Errorf("after %d of %d bytes: %w", n, want.Size, err)
		case n != want.Size || int64(len(w.buf)) != want.Size:
			return fmt.Errorf("read %d bytes, but the server reported %d", n, want.Size)
		}
		data = w.buf
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// progressBuffer collects bytes and reports progress. It takes no more
// than its capacity, the size the server listed: a server that sends
// more does not make it grow.
type progressBuffer struct {
	buf  []byte
	kick func()
}

var errLongerThanListed = errors.New("the server sent more bytes than it listed")

func (b *progressBuffer) Write(p []byte) (int, error) {
	if len(p) > cap(b.buf)-len(b.buf) {
		return 0, errLongerThanListed
	}
	b.buf = append(b.buf, p...)
	b.kick()
	return len(p), nil
}

func (s *sftpFS) mkdirAll(ctx context.Context, dir string) error {
	return s.op(ctx, func(c *sftp.Client, _ func()) error { return c.MkdirAll(dir) })
}

func (s *sftpFS) rename(ctx context.Context, oldp, newp string) error {
	return s.op(ctx, func(c *sftp.Client, kick func()) error {
		if _, err := c.Lstat(newp); err == nil {
			return fmt.Errorf("%s: %w", newp, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		kick()
		// SSH_FXP_RENAME (not posix-rename) fails when newp exists.
		return c.Rename(oldp, newp)
	})
}

func (s *sftpFS) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.kill()
		s.cur = nil
	}
	return nil
}
