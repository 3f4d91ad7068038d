package filefeed

// The fetch side of a file feed: find the newest export in a drop folder
// (local or SFTP), decide whether it is complete, read it whole, and move it
// to the archive folder after a run.
//
// Decisions written down here:
//
//   - The glob applies to file names in one folder: wildcards in the folder
//     part of the source are refused (dir:///srv/*/x.csv). Only regular
//     files count; with a done marker configured, names ending in the
//     marker's suffix are markers, never candidates.
//   - A folder that cannot be listed (missing, no permission) is an error,
//     not ErrNoFile: "nobody dropped a file" and "the mount is gone" are
//     different problems.
//   - Newest is by modification time, ties broken by the greater name. When
//     the newest file is not ready, Newest says so (ErrNotReady) and does
//     not fall back to an older file, which a previous run has most likely
//     applied already.
//   - Ready = the marker (when configured) present, and size and mtime equal
//     on two looks StableFor apart. Both looks are made every time; the
//     file's own mtime is not trusted against our clock (an SFTP server's
//     clock may be off). SFTP (v3) reports mtime in whole seconds.
//   - Read checks that the file still has the size and mtime Newest saw
//     (else ErrNotReady: it changed), then requires exactly that many bytes:
//     a lost connection or a short read is an error, never a shorter file.
//   - Archive moves the marker first, then the file, to
//     <archive>/<name>.<20060102T150405Z> (the marker: <name><marker>.<ts>);
//     an existing target is never overwritten (a ".1", ".2"… suffix is
//     added), nothing is deleted. ArchiveDir "" makes Archive a no-op.
//   - SFTP: the connection is made by OpenSource (so a bad key, password or
//     host key fails at once) and made again by the next call after it
//     broke (a long apply between Read and Archive may outlive it).
//     Timeout bounds the dial and handshake, and every operation's wait for
//     progress; a read that keeps moving is not cut off.

import (
	"context"
	"errors"
	"fmt"
	"github.com/rosterd/rosterd/config"
	"io/fs"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is where a feed's files come from: a local folder (dir://) or an
// SFTP drop box (sftp://). A Source is meant for one goroutine at a time.
type Source interface {
	// Newest finds the newest file matching the feed's glob that is ready to
	// read: its size and mtime unchanged for StableFor (measured by looking
	// twice, StableFor apart) and, when a done marker is configured, the
	// marker "<file name><marker>" present. It returns an error wrapping
	// ErrNoFile when nothing matches, and one wrapping ErrNotReady (naming
	// the file and why) when the newest file is not ready.
	Newest(ctx context.Context) (FileInfo, error)
	// Read returns the file's whole content. A lost connection or a short
	// read is an error, never a shorter file. A file whose size or mtime
	// changed since Newest is ErrNotReady.
	Read(ctx context.Context, f FileInfo) ([]byte, error)
	// Archive moves a processed file (and its marker) to the archive folder
	// (relative to the file's folder unless absolute), named
	// "<name>.<UTC time 20060102T150405Z>", creating the folder. It never
	// deletes or overwrites. With no archive folder configured it does
	// nothing.
	Archive(ctx context.Context, f FileInfo, now time.Time) error
	// Close releases the connection, if any.
	Close() error
}

// FileInfo describes a file a Source found.
type FileInfo struct {
	// Path is the absolute path: local for dir://, on the server for sftp://.
	Path string
	// Name is the file name, the last element of Path.
	Name string
	// Size is in bytes.
	Size int64
	// ModTime is the file's modification time (whole seconds over SFTP).
	ModTime time.Time
}

// SourceOptions configures OpenSource. Only URL is required, and for an
// sftp:// URL KnownHostsFile and a credential.
type SourceOptions struct {
	// URL is dir:///abs/folder/glob or sftp://user@host[:port]/abs/folder/glob
	// (port 22 by default). Wildcards are allowed in the last element only.
	URL string
	// PrivateKeyFile is an unencrypted SSH private key (ed25519, RSA or
	// ECDSA; OpenSSH or PEM format). sftp:// only.
	PrivateKeyFile string
	// Password is tried after the key, as "password" and as
	// "keyboard-interactive" authentication. sftp:// only.
	Password string
	// KnownHostsFile pins the server's host key (OpenSSH known_hosts
	// format). Required for sftp:// unless KnownHosts is given; there is
	// no way to skip the check.
	KnownHostsFile string
	// KnownHosts and PrivateKey are the known_hosts lines and the key
	// themselves, for a feed the admin API made (it reads no files).
	KnownHosts string
	PrivateKey string
	// DoneMarker, e.g. ".done", names the file whose presence says the
	// export "<name>" is complete: "<name>.done". "" = no marker.
	DoneMarker string
	// StableFor is how long size and mtime must stay unchanged. 0 means
	// 30s; a negative value skips the second look.
	StableFor time.Duration
	// ArchiveDir is the folder processed files move to, relative to the
	// file's folder unless absolute. "" = do not archive.
	ArchiveDir string
	// Timeout bounds connecting and each remote operation's wait for
	// progress. Default 30s.
	Timeout time.Duration
	// MaxFileSize is the largest file Read reads: a larger one is refused
	// by its listed size, before a byte of it is fetched. 0 means the
	// default, config.DefaultMaxFileSize.
	MaxFileSize int64
	// Sleep waits between the two looks. Default: time.Sleep, cut short when
	// the context ends. Tests pass a fake.
	Sleep func(time.Duration)
}

// Errors Newest wraps.
var (
	// ErrNoFile: no file matches the feed's glob.
	ErrNoFile = errors.New("no file to read")
	// ErrNotReady: the newest file is still being written (it grew or
	// changed, or its done marker is missing). Try again later.
	ErrNotReady = errors.New("file not ready")
)

const (
	defaultStableFor = 30 * time.Second
	defaultTimeout   = 30 * time.Second
	archiveTimeFmt   = "20060102T150405Z"
)

// OpenSource checks opt and opens the source: for sftp:// it connects,
// authenticates and verifies the host key, so that configuration problems
// show here.
func OpenSource(ctx context.Context, opt SourceOptions) (Source, error) {
	loc, err := splitSourceURL(opt.URL)
	if err != nil {
		return nil, err
	}
	if opt.StableFor == 0 {
		opt.StableFor = defaultStableFor
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if strings.ContainsAny(opt.DoneMarker, `/\`) {
		return nil, fmt.Errorf("%s: done marker %q must be a file name suffix like \".done\"", loc.display, opt.DoneMarker)
	}
	s := &feedSource{opt: opt, loc: loc}
	switch loc.scheme {
	case "dir":
		if err := s.checkArchive(); err != nil {
			return nil, err
		}
		s.fs = dirFS{}
		return s, nil
	case "sftp":
		if err := s.checkArchive(); err != nil {
			return nil, err
		}
		sf, err := openSFTP(ctx, loc, opt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc.display, err)
		}
		s.fs = sf
		return s, nil
	}
	return nil, fmt.Errorf("%s: unknown source scheme %q (want dir:// or sftp://)", loc.display, loc.scheme)
}

// sourceLoc is a parsed source URL.
type sourceLoc struct {
	scheme  string // "dir" or "sftp"
	user    string // sftp
	host    string // sftp, without brackets
	port    string // sftp, default "22"
	dir     string // the folder, slash-separated, absolute
	pattern string // the glob for names in dir
	display string // the URL for messages: never a password
}

// hostport is "host:port" for dialing and for known_hosts.
func (l sourceLoc) hostport() string { return net.JoinHostPort(l.host, l.port) }

// splitSourceURL splits dir:///folder/glob and sftp://user@host:port/folder/glob.
// It does not hand the path to url.Parse, which would take a '?' wildcard
// for the start of a query; the path is percent-decoded like a URL path.
func splitSourceURL(raw string) (sourceLoc, error) {
	var loc sourceLoc
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return loc, fmt.Errorf("file feed source %q: want dir:///path/glob or sftp://user@host:port/path/glob", redactRaw(raw))
	}
	loc.scheme = strings.ToLower(scheme)
	authority, p := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, p = rest[:i], rest[i:]
	}
	if dp, err := url.PathUnescape(p); err == nil {
		p = dp
	}
	switch loc.scheme {
	case "dir":
		loc.display = redactRaw("dir://" + authority + p)
		if authority != "" || !path.IsAbs(p) {
			return loc, fmt.Errorf("file feed source %s: dir:// needs an absolute path, like dir:///srv/drop/*.csv (three slashes)", loc.display)
		}
	case "sftp":
		u, err := url.Parse("sftp://" + authority)
		if err != nil {
			var ue *url.Error // its message repeats the URL, password and all
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return loc, fmt.Errorf("file feed source %s: %v", redactRaw(raw), err)
		}
		if u.User != nil {
			loc.user = u.User.Username()
		}
		loc.host, loc.port = u.Hostname(), u.Port()
		if loc.port == "" {
			loc.port = "22"
		}
		loc.display = "sftp://" + loc.user + "@" + loc.hostport() + p
		if _, hasPassword := u.User.Password(); hasPassword {
			return loc, fmt.Errorf("file feed source %s: put the password in the sftp password setting, not in the URL", loc.display)
		}
		if loc.user == "" {
			return loc, fmt.Errorf("file feed source %s: sftp:// needs a user, like sftp://user@host:22/path/*.csv", loc.display)
		}
		if loc.host == "" {
			return loc, fmt.Errorf("file feed source %s: sftp:// needs a host, like sftp://user@host:22/path/*.csv", loc.display)
		}
		if n, err := strconv.Atoi(loc.port); err != nil || n < 1 || n > 65535 {
			return loc, fmt.Errorf("file feed source %s: invalid port %q", loc.display, loc.port)
		}
		if !path.IsAbs(p) {
			return loc, fmt.Errorf("file feed source %s: sftp:// needs an absolute path and file pattern, like sftp://user@host:22/outbox/*.csv", loc.display)
		}
	default:
		return loc, fmt.Errorf("file feed source %s: unknown scheme %q (want dir:///path/glob or sftp://user@host:port/path/glob)", redactRaw(raw), scheme)
	}
	loc.dir, loc.pattern = path.Split(p)
	loc.dir = path.Clean(loc.dir)
	switch {
	case loc.pattern == "":
		return loc, fmt.Errorf("file feed source %s: the path must end in a file name or pattern, like /outbox/*.csv", loc.display)
	case globMeta(loc.dir):
		return loc, fmt.Errorf("file feed source %s: wildcards are allowed in the file name only, not in the folder %s", loc.display, loc.dir)
	}
	if _, err := path.Match(loc.pattern, ""); err != nil {
		return loc, fmt.Errorf("file feed source %s: invalid file pattern %q", loc.display, loc.pattern)
	}
	return loc, nil
}

func globMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// redactRaw hides the password of a user:password@ in a URL that did not
// parse far enough to know its parts.
func redactRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority, p := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, p = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if user, _, hasPw := strings.Cut(authority[:at], ":"); hasPw {
			authority = user + "@" + authority[at+1:]
		}
	}
	return scheme + "://" + authority + p
}

// fileSystem is what a source needs from a folder, local or remote. Paths
// are slash-separated and absolute.
type fileSystem interface {
	// list returns the regular files in dir.
	list(ctx context.Context, dir string) ([]FileInfo, error)
	// stat returns a file's info; a missing file is an error wrapping
	// fs.ErrNotExist.
	stat(ctx context.Context, p string) (FileInfo, error)
	// read returns the content of f, which must still have f's size and
	// mtime (else changedError), and exactly f.Size bytes.
	read(ctx context.Context, f FileInfo) ([]byte, error)
	mkdirAll(ctx context.Context, dir string) error
	// rename moves oldp to newp, failing when newp exists.
	rename(ctx context.Context, oldp, newp string) error
	close() error
}

// changedError is returned by fileSystem.read when the file's size or mtime
// differ from the FileInfo it was given.
type changedError struct{ was, now FileInfo }

func (e *changedError) Error() string {
	return fmt.Sprintf("changed since it was found ready (size %d → %d bytes, mtime %s → %s)",
		e.was.Size, e.now.Size, e.was.ModTime.UTC().Format(time.RFC3339Nano), e.now.ModTime.UTC().Format(time.RFC3339Nano))
}

type feedSource struct {
	opt SourceOptions
	loc sourceLoc
	fs  fileSystem
}

func (s *feedSource) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.loc.display}, args...)...)
}

// checkArchive refuses an archive folder that is the drop folder itself,
// where archived names could match the glob again.
func (s *feedSource) checkArchive() error {
	a := s.opt.ArchiveDir
	if a == "" {
		return nil
	}
	if path.Clean(a) == "." || (path.IsAbs(a) && path.Clean(a) == s.loc.dir) {
		return s.errorf("archive folder %q is the drop folder itself: name a subfolder such as \"processed\"", s.opt.ArchiveDir)
	}
	return nil
}

func (s *feedSource) isMarker(name string) bool {
	return s.opt.DoneMarker != "" && strings.HasSuffix(name, s.opt.DoneMarker)
}

func (s *feedSource) Newest(ctx context.Context) (FileInfo, error) {
	files, err := s.fs.list(ctx, s.loc.dir)
	if err != nil {
		return FileInfo{}, s.errorf("listing %s: %w", s.loc.dir, err)
	}
	var cands []FileInfo
	for _, f := range files {
		if s.isMarker(f.Name) {
			continue
		}
		if ok, _ := path.Match(s.loc.pattern, f.Name); ok {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return FileInfo{}, s.errorf("%w: nothing in %s matches %s", ErrNoFile, s.loc.dir, s.loc.pattern)
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].ModTime.Equal(cands[j].ModTime) {
			return cands[i].ModTime.After(cands[j].ModTime)
		}
		return cands[i].Name > cands[j].Name
	})
	first := cands[0]

	if m := s.opt.DoneMarker; m != "" {
		if _, err := s.fs.stat(ctx, first.Path+m); errors.Is(err, fs.ErrNotExist) {
			return FileInfo{}, s.errorf("%s: %w: no %s marker (waiting for %s)", first.Path, ErrNotReady, m, first.Name+m)
		} else if err != nil {
			return FileInfo{}, s.errorf("checking the %s marker of %s: %w", m, first.Path, err)
		}
	}
	if s.opt.StableFor < 0 {
		return first, nil
	}
	if err := s.sleep(ctx, s.opt.StableFor); err != nil {
		return FileInfo{}, s.errorf("waiting to look at %s again: %w", first.Path, err)
	}
	second, err := s.fs.stat(ctx, first.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return FileInfo{}, s.errorf("%s: %w: it disappeared while we waited %v to see it stable", first.Path, ErrNotReady, s.opt.StableFor)
	case err != nil:
		return FileInfo{}, s.errorf("looking at %s again: %w", first.Path, err)
	case second.Size != first.Size:
		return FileInfo{}, s.errorf("%s: %w: still growing (%d → %d bytes within %v)", first.Path, ErrNotReady, first.Size, second.Size, s.opt.StableFor)
	case !second.ModTime.Equal(first.ModTime):
		return FileInfo{}, s.errorf("%s: %w: still growing (modified again within %v)", first.Path, ErrNotReady, s.opt.StableFor)
	}
	return second, nil
}

func (s *feedSource) sleep(ctx context.Context, d time.Duration) error {
	if s.opt.Sleep != nil {
		s.opt.Sleep(d)
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *feedSource) Read(ctx context.Context, f FileInfo) ([]byte, error) {
	max := s.opt.MaxFileSize
	if max <= 0 {
		max = config.DefaultMaxFileSize
	}
	if f.Size > max {
		return nil, s.errorf("%s: %w: the file has %d bytes, over max_file_size %s", f.Path, ErrTooLarge, f.Size, byteSize(max))
	}
	b, err := s.fs.read(ctx, f)
	var ch *changedError
	switch {
	case errors.As(err, &ch):
		return nil, s.errorf("%s: %w: %v", f.Path, ErrNotReady, err)
	case err != nil:
		return nil, s.errorf("reading %s: %w", f.Path, err)
	}
	return b, nil
}

func (s *feedSource) Archive(ctx context.Context, f FileInfo, now time.Time) error {
	if s.opt.ArchiveDir == "" {
		return nil
	}
	dir := path.Dir(f.Path)
	archive := s.opt.ArchiveDir
	if !path.IsAbs(archive) {
		archive = path.Join(dir, archive)
	}
	if err := s.fs.mkdirAll(ctx, archive); err != nil {
		return s.errorf("archiving %s: creating %s: %w", f.Path, archive, err)
	}

	type move struct{ from, name string }
	moves := []move{{f.Path, f.Name}}
	if m := s.opt.DoneMarker; m != "" {
		_, err := s.fs.stat(ctx, f.Path+m)
		switch {
		case err == nil:
			moves = []move{{f.Path + m, f.Name + m}, moves[0]} // marker first: a file left without one is not read again
		case !errors.Is(err, fs.ErrNotExist):
			return s.errorf("archiving %s: checking its marker: %w", f.Path, err)
		}
	}

	// One suffix for file and marker, free for both.
	ts := now.UTC().Format(archiveTimeFmt)
	suffix := ""
	for n := 0; ; n++ {
		if n > 0 {
			suffix = "." + strconv.Itoa(n)
		}
		free := true
		for _, mv := range moves {
			_, err := s.fs.stat(ctx, path.Join(archive, mv.name+"."+ts+suffix))
			if err == nil {
				free = false
				break
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return s.errorf("archiving %s: %w", f.Path, err)
			}
		}
		if free {
			break
		}
		if n >= 1000 {
			return s.errorf("archiving %s: no free name for %s.%s in %s", f.Path, f.Name, ts, archive)
		}
	}
	for _, mv := range moves {
		to := path.Join(archive, mv.name+"."+ts+suffix)
		if err := s.fs.rename(ctx, mv.from, to); err != nil {
			return s.errorf("archiving %s: moving %s to %s: %w", f.Path, mv.from, to, err)
		}
	}
	return nil
}

func (s *feedSource) Close() error {
	if err := s.fs.close(); err != nil {
		return s.errorf("closing: %w", err)
	}
	return nil
}
