package dropbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Errors of an upload.
var (
	// ErrTooLarge: the upload is over the feed's max_file_size.
	ErrTooLarge = errors.New("upload over the size limit")
	// ErrEmpty: the upload has no bytes.
	ErrEmpty = errors.New("empty upload")
	// ErrBadName: a file name the drop box does not take.
	ErrBadName = errors.New("invalid file name")
)

const (
	stampFormat = "20060102T150405.000000000Z"
	maxNameLen  = 200
)

// checkName refuses a name that is not one plain file name: empty, a
// folder part, a leading dot (hidden, or "..") or control characters.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadName, maxNameLen)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w %q: a file name only, no folder", ErrBadName, name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w %q: must not start with a dot", ErrBadName, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w %q: control or invalid characters", ErrBadName, name)
		}
	}
	return nil
}

// upload is one file being received: written to a temporary file in the
// feed's incoming folder, moved into the inbox by commit only.
type upload struct {
	feed *Feed
	name string
	now  func() time.Time

	mu     sync.Mutex
	f      *os.File
	size   int64 // highest offset written
	failed error // set by a write over the limit or a broken transfer
	done   bool
}

// begin opens a new upload of name for feed.
func begin(feed *Feed, name string, now func() time.Time) (*upload, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(feed.incoming(), 0o750); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(feed.Inbox(), 0o750); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(feed.incoming(), "upload-*")
	if err != nil {
		return nil, err
	}
	return &upload{feed: feed, name: name, now: now, f: f}, nil
}

// WriteAt writes p at off (SFTP writes may come in any order), refusing
// anything past the size limit.
func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failed != nil {
		return 0, u.failed
	}
	if u.done {
		return 0, os.ErrClosed
	}
	end := off + int64(len(p))
	if off < 0 || end > u.feed.MaxSize {
		u.failed = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, u.feed.MaxSize)
		return 0, u.failed
	}
	n, err := u.f.WriteAt(p, off)
	if int64(off)+int64(n) > u.size {
		u.size = off + int64(n)
	}
	if err != nil {
		u.failed = err
	}
	return n, err
}

// Write appends p (the HTTPS body).
func (u *upload) Write(p []byte) (int, error) {
	u.mu.Lock()
	off := u.size
	u.mu.Unlock()
	return u.WriteAt(p, off)
}

// written is the upload's size so far.
func (u *upload) written() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.size
}

// TransferError is how pkg/sftp says the connection ended with the file
// still open: the upload is then abandoned, whatever arrived.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failed == nil {
		u.failed = fmt.Errorf("transfer broken: %w", err)
	}
}

// fail marks the upload broken (the HTTPS body did not arrive whole).
func (u *upload) fail(err error) { u.TransferError(err) }

// Close is commit when the transfer went well, abort otherwise (pkg/sftp
// calls it on the client's close and on a dropped connection, after
// TransferError).
func (u *upload) Close() error {
	_, err := u.commit()
	return err
}

// commit moves the complete upload into the inbox and returns its name
// there. An upload that failed, or is empty, is removed instead and its
// error returned.
func (u *upload) commit() (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return "", os.ErrClosed
	}
	u.done = true
	tmp := u.f.Name()
	defer os.Remove(tmp) // after the link, the inbox holds the file
	err := u.failed
	if err == nil && u.size == 0 {
		err = ErrEmpty
	}
	if err == nil {
		err = u.f.Sync()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	stamp := u.now().UTC().Format(stampFormat)
	for n := 0; n < 100; n++ {
		name := stamp + "-" + u.name
		if n > 0 {
			name = stamp + "." + strconv.Itoa(n) + "-" + u.name
		}
		// A link never replaces a file, and the file appears whole.
		err := os.Link(tmp, filepath.Join(u.feed.Inbox(), name))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, syncDir(u.feed.Inbox())
	}
	return "", fmt.Errorf("no free name for %s in %s", u.name, u.feed.Inbox())
}

// abort removes an upload that will not be stored.
func (u *upload) abort(err error) {
	u.fail(err)
	u.commit()
}

// syncDir makes a rename or link into dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
