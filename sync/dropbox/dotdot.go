package dropbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// pkg/sftp cleans every path before the handlers see it, so that
// "/../x.csv" arrives as "/x.csv": a path that names ".." would be taken
// for another. dotDotReader sits between the SSH channel and the request
// server and replaces each path of a client's request that has a ".."
// element by refusedPath, which every handler refuses: such a request
// fails with "permission denied" instead of landing somewhere the client
// did not name.

// refusedPath stands for a path with "..": a hidden name, which no
// handler takes.
const refusedPath = "/.dotdot-refused"

// maxClientPacket bounds one SFTP packet from a client (OpenSSH sends at
// most 256 KiB of data a write).
const maxClientPacket = 1 << 20

// SFTP packet types whose body (after the request id) starts with paths,
// and how many.
var pathCounts = map[byte]int{
	3:  1, // OPEN
	7:  1, // LSTAT
	9:  1, // SETSTAT
	11: 1, // OPENDIR
	13: 1, // REMOVE
	14: 1, // MKDIR
	15: 1, // RMDIR
	16: 1, // REALPATH
	17: 1, // STAT
	18: 2, // RENAME
	19: 1, // READLINK
	20: 2, // SYMLINK
}

// extended requests (type 200) that carry paths after their name.
var extendedPathCounts = map[string]int{
	"posix-rename@openssh.com": 2,
	"hardlink@openssh.com":     2,
	"statvfs@openssh.com":      1,
	"lsetstat@openssh.com":     1,
	"expand-path@openssh.com":  1,
}

type dotDotReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (d *dotDotReader) Read(p []byte) (int, error) {
	if d.buf.Len() == 0 {
		if err := d.next(); err != nil {
			return 0, err
		}
	}
	return d.buf.Read(p)
}

// next reads one packet and queues it, its paths checked.
func (d *dotDotReader) next() error {
	var hdr [4]byte
	if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxClientPacket {
		return fmt.Errorf("sftp packet of %d bytes: too long", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(d.r, body); err != nil {
		return err
	}
	body = refuseDotDot(body)
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	d.buf.Write(hdr[:])
	d.buf.Write(body)
	return nil
}

// refuseDotDot returns the packet body with each of its paths that has a
// ".." element replaced by refusedPath. A body too short for its type is
// returned as it is, for the server to refuse.
func refuseDotDot(body []byte) []byte {
	if len(body) < 5 {
		return body
	}
	off := 5 // type, request id
	count := pathCounts[body[0]]
	if body[0] == 200 {
		name, next, ok := sshString(body, off)
		if !ok {
			return body
		}
		count, off = extendedPathCounts[string(name)], next
	}
	if count == 0 {
		return body
	}
	out := append([]byte(nil), body[:off]...)
	changed := false
	for i := 0; i < count; i++ {
		p, next, ok := sshString(body, off)
		if !ok {
			return body
		}
		if hasDotDot(string(p)) {
			p, changed = []byte(refusedPath), true
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
		off = next
	}
	if !changed {
		return body
	}
	return append(out, body[off:]...)
}

// sshString reads an SSH string (uint32 length, bytes) at off.
func sshString(b []byte, off int) (s []byte, next int, ok bool) {
	if off+4 > len(b) {
		return nil, 0, false
	}
	n := int(binary.BigEndian.Uint32(b[off:]))
	if n < 0 || off+4+n > len(b) {
		return nil, 0, false
	}
	return b[off+4 : off+4+n], off + 4 + n, true
}

func hasDotDot(p string) bool {
	for _, el := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return true
		}
	}
	return false
}
