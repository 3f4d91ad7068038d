package dropbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// handshakeTimeout bounds a connection's SSH handshake and login;
// idleTimeout how long a logged-in connection may send nothing.
const (
	handshakeTimeout = 30 * time.Second
	idleTimeout      = 10 * time.Minute
)

// idleConn ends a logged-in connection that sends nothing for
// idleTimeout: once armed, each read moves the read deadline on.
type idleConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.armed.Load() {
		c.Conn.SetReadDeadline(time.Now().Add(idleTimeout))
	}
	return c.Conn.Read(p)
}

// ServeSFTP serves SFTP on ln until ctx ends, then closes the listener and
// every connection (an upload in progress is abandoned, never stored) and
// returns once they are gone.
func (b *Box) ServeSFTP(ctx context.Context, ln net.Listener, hostKey ssh.Signer) error {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: b.publicKeyLogin,
		PasswordCallback:  b.passwordLogin,
		MaxAuthTries:      6,
		ServerVersion:     "SSH-2.0-rosterd-dropbox",
	}
	cfg.AddHostKey(hostKey)

	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			b.log.Warn("sftp: accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(conns, conn); mu.Unlock(); conn.Close() }()
			b.serveConn(conn, cfg)
		}()
	}
}

// userOf returns the feed whose SFTP user is name.
func (b *Box) userOf(name string) (*boxFeed, bool) {
	if b.opt.Refresh != nil {
		b.opt.Refresh()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	f, ok := b.users[name]
	return f, ok
}

var errLogin = errors.New("login refused")

func (b *Box) publicKeyLogin(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	f, ok := b.userOf(meta.User())
	if !ok {
		b.logins.WithLabelValues("publickey", "refused").Inc()
		return nil, errLogin
	}
	offered := key.Marshal()
	match := 0
	for _, k := range f.AuthorizedKeys {
		match |= subtle.ConstantTimeCompare(offered, k.Marshal())
	}
	if match != 1 {
		b.logins.WithLabelValues("publickey", "refused").Inc()
		return nil, errLogin
	}
	b.logins.WithLabelValues("publickey", "ok").Inc()
	return &ssh.Permissions{Extensions: map[string]string{"feed": f.Tenant + "/" + f.Name, "login": "publickey " + ssh.FingerprintSHA256(key)}}, nil
}

func (b *Box) passwordLogin(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	h := sha256.Sum256(password)
	f, ok := b.userOf(meta.User())
	if !ok || subtle.ConstantTimeCompare(h[:], f.passwordHash[:]) != 1 || !f.hasPassword {
		b.logins.WithLabelValues("password", "refused").Inc()
		return nil, errLogin
	}
	b.logins.WithLabelValues("password", "ok").Inc()
	return &ssh.Permissions{Extensions: map[string]string{"feed": f.Tenant + "/" + f.Name, "login": "password"}}, nil
}

func (b *Box) serveConn(conn net.Conn, cfg *ssh.ServerConfig) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	idle := &idleConn{Conn: conn}
	sc, chans, reqs, err := ssh.NewServerConn(idle, cfg)
	if err != nil {
		b.log.Info("sftp: login failed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	defer sc.Close()
	conn.SetDeadline(time.Time{})
	idle.armed.Store(true)
	tenant, name, _ := strings.Cut(sc.Permissions.Extensions["feed"], "/")
	f, ok := b.feed(tenant, name)
	if !ok { // removed by SetFeeds since the login
		return
	}
	remote := sc.RemoteAddr().String()
	b.log.Info("sftp: logged in", "tenant", f.Tenant, "feed", f.Name, "remote", remote, "login", sc.Permissions.Extensions["login"])
	go ssh.DiscardRequests(reqs) // tcpip-forward and the like: refused
	// The sessions end with the connection; waiting for them means an
	// upload cut off with it has been cleaned up when ServeSFTP returns.
	var sessions sync.WaitGroup
	defer sessions.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.Prohibited, "this server offers SFTP uploads only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			b.serveSession(f, remote, ch, creqs)
		}()
	}
}

// serveSession answers the sftp subsystem request and refuses all others
// (shell, exec, pty-req, env, forwarding).
func (b *Box) serveSession(f *boxFeed, remote string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	done := make(chan struct{})
	defer func() {
		if started {
			<-done
		}
	}()
	for req := range reqs {
		if req.Type == "subsystem" && !started && subsystemName(req.Payload) == "sftp" {
			started = true
			req.Reply(true, nil)
			go func() {
				defer close(done)
				b.serveSFTP(f, remote, ch)
				ch.Close()
			}()
			continue
		}
		if req.Type == "exec" || req.Type == "shell" {
			fmt.Fprintf(ch.Stderr(), "rosterd drop box: only SFTP uploads are served here\r\n")
		}
		req.Reply(false, nil)
	}
}

func subsystemName(payload []byte) string {
	if len(payload) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(payload)
	if uint64(n) != uint64(len(payload)-4) {
		return ""
	}
	return string(payload[4:])
}

func (b *Box) serveSFTP(f *boxFeed, remote string, ch ssh.Channel) {
	h := &sftpHandlers{box: b, feed: f, remote: remote}
	rwc := struct {
		io.Reader
		io.Writer
		io.Closer
	}{&dotDotReader{r: ch}, ch, ch}
	srv := sftp.NewRequestServer(rwc, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		b.log.Info("sftp: session ended", "tenant", f.Tenant, "feed", f.Name, "remote", remote, "err", err)
	}
	srv.Close()
}

// sftpHandlers is one session's view of the drop box: the feed's inbox as
// "/", write-only.
type sftpHandlers struct {
	box    *Box
	feed   *boxFeed
	remote string
}

var errDenied = sftp.ErrSSHFxPermissionDenied

// fileName returns the file name of a path directly in the root, or an
// error for anything else. pkg/sftp hands over cleaned, absolute paths.
func fileName(p string) (string, error) {
	dir, name := path.Split(path.Clean("/" + p))
	if dir != "/" || checkName(name) != nil {
		return "", errDenied
	}
	return name, nil
}

func (h *sftpHandlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	h.box.uploads.WithLabelValues("sftp", resultRefused).Inc()
	h.box.log.Info("sftp: read refused (write-only drop box)", "tenant", h.feed.Tenant, "feed", h.feed.Name, "remote", h.remote)
	return nil, errDenied
}

func (h *sftpHandlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	name, err := fileName(r.Filepath)
	if err != nil {
		h.box.uploads.WithLabelValues("sftp", resultRefused).Inc()
		h.box.log.Info("sftp: write refused: not a file name in the inbox", "tenant", h.feed.Tenant, "feed", h.feed.Name, "remote", h.remote)
		return nil, err
	}
	// A session outlives a change of the feeds: each file is an upload
	// of the feed as it is now, and of none once the feed is removed.
	cur, ok := h.box.feed(h.feed.Tenant, h.feed.Name)
	if !ok {
		h.box.uploads.WithLabelValues("sftp", resultRefused).Inc()
		h.box.log.Info("sftp: write refused: the feed was removed", "tenant", h.feed.Tenant, "feed", h.feed.Name, "remote", h.remote)
		return nil, errDenied
	}
	up, err := begin(&cur.Feed, name, h.box.opt.Now)
	if err != nil {
		h.box.log.Error("sftp: starting an upload", "tenant", h.feed.Tenant, "feed", h.feed.Name, "err", err)
		return nil, sftp.ErrSSHFxFailure
	}
	return &sftpUpload{upload: up, h: h, feed: cur}, nil
}

// sftpUpload reports the upload when the client closes it.
type sftpUpload struct {
	*upload
	h    *sftpHandlers
	feed *boxFeed // as it was when the upload began
}

func (u *sftpUpload) Close() error {
	size := u.written()
	stored, err := u.commit()
	if err != nil {
		result := resultIncomplete
		if errors.Is(err, ErrTooLarge) {
			result = resultTooLarge
		}
		u.h.box.uploads.WithLabelValues("sftp", result).Inc()
		u.h.box.log.Warn("sftp: upload not stored", "tenant", u.h.feed.Tenant, "feed", u.h.feed.Name, "remote", u.h.remote, "bytes", size, "err", err)
		return sftp.ErrSSHFxFailure
	}
	u.h.box.stored(u.feed, "sftp", stored, size, u.h.remote)
	return nil
}

// Filecmd refuses every change but a Setstat of a file (clients set the
// mode or times after an upload; it is accepted and ignored).
func (h *sftpHandlers) Filecmd(r *sftp.Request) error {
	if r.Method == "Setstat" {
		if _, err := fileName(r.Filepath); err == nil {
			return nil
		}
	}
	return errDenied
}

// Filelist answers Stat of "/" (a folder) and List of "/" (empty: what was
// uploaded cannot be read back); a file in it does not exist as far as the
// client can tell, and anything else is refused.
func (h *sftpHandlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := path.Clean("/" + r.Filepath)
	switch r.Method {
	case "List":
		if p == "/" {
			return listerAt(nil), nil
		}
	case "Stat":
		if p == "/" {
			return listerAt{rootInfo{}}, nil
		}
		if _, err := fileName(p); err == nil {
			return nil, sftp.ErrSSHFxNoSuchFile
		}
	}
	return nil, errDenied
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// rootInfo is the inbox as the client sees it: a folder it may write to.
type rootInfo struct{}

func (rootInfo) Name() string       { return "/" }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o300 }
func (rootInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }
