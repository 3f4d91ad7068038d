package filefeed

import (
	"bytes"
	"fmt"
	"io"
)

// tsvReader reads tab-separated text by the rules Excel writes and reads
// it ("Text (Tab delimited)", "Unicode Text"), which are not CSV's:
//
//   - A " inside a value is an ordinary character: Director, "Apollo"
//     Software is a value as it stands.
//   - Only a value that begins with " is read as quoted: up to the " that
//     is followed by a tab, a line end or the end of the text, with ""
//     inside it for one ". Such a value may hold tabs and line ends.
//   - A value that begins with " but is not closed that way — another "
//     comes first, followed by anything else; the text ends; no closing
//     quote within maxCell bytes — is not quoted after all: it is the
//     literal text up to the next tab or line end, and the row is read
//     like any other. (CSV refuses such a row; a TSV writer that never
//     quotes leaves such values about.)
//
// Lines end in LF or CRLF. A record may take at most maxLine bytes, its
// quoted line ends included: a longer one is a *limitError, and the whole
// file is refused, since memory for a row is what the cap bounds.
type tsvReader struct {
	r       io.Reader
	buf     []byte
	pos     int   // start of the unread text in buf
	eof     bool  // r is at its end: buf holds the rest
	err     error // r's error, returned once the text before it is read
	line    int   // the line buf[pos] is on, from 1
	maxLine int
	maxCell int

	text  []byte // the current record's values, one after another
	ends  []int  // end of each value in text
	cells []string
}

func newTSVReader(r io.Reader, maxLine, maxCell int) *tsvReader {
	return &tsvReader{r: r, line: 1, maxLine: maxLine, maxCell: maxCell, buf: make([]byte, 0, 64<<10)}
}

// have makes n bytes from pos available, unless the text ends first, and
// reports whether they are.
func (t *tsvReader) have(n int) bool {
	for len(t.buf)-t.pos < n && !t.eof && t.err == nil {
		if t.pos > 0 {
			t.buf = t.buf[:copy(t.buf, t.buf[t.pos:])]
			t.pos = 0
		}
		if cap(t.buf)-len(t.buf) < 4<<10 {
			grown := make([]byte, len(t.buf), 2*cap(t.buf)+4<<10)
			copy(grown, t.buf)
			t.buf = grown
		}
		m, err := t.r.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+m]
		switch {
		case err == io.EOF:
			t.eof = true
		case err != nil:
			t.err = err
		}
	}
	return len(t.buf)-t.pos >= n
}

// at returns the byte off bytes into the unread text, if there is one.
func (t *tsvReader) at(off int) (byte, bool) {
	if !t.have(off + 1) {
		return 0, false
	}
	return t.buf[t.pos+off], true
}

// Read returns the next record and the line it starts on. The cells are
// valid until the next Read. At the end it returns io.EOF, or the
// source's read error.
func (t *tsvReader) Read() (line int, cells []string, err error) {
	if !t.have(1) {
		if t.err != nil {
			return 0, nil, t.err
		}
		return 0, nil, io.EOF
	}
	line = t.line
	t.text, t.ends = t.text[:0], t.ends[:0]
	off, lines := 0, 0 // bytes of the record read, line ends inside quoted values
	for {
		// A value starts at off.
		if c, ok := t.at(off); ok && c == '"' {
			if n, nl, ok := t.quoted(off); ok {
				off += n
				lines += nl
				t.ends = append(t.ends, len(t.text))
				c, ok := t.at(off)
				if ok && c == '\t' {
					off++
					continue
				}
				if ok && c == '\r' {
					off++ // quoted() saw the LF after it
				}
				if ok {
					off++ // the LF
				}
				break
			}
		}
		// Unquoted, or quoted and not closed: the text to the next tab or
		// line end.
		sep := byte(0)
		for {
			if off > t.maxLine {
				return line, nil, &limitError{Line: line, What: "line", Key: "max_line_length", Limit: t.maxLine}
			}
			if !t.have(off + 1) {
				break
			}
			seg := t.buf[t.pos+off:]
			if len(seg) > t.maxLine+1 {
				seg = seg[:t.maxLine+1]
			}
			i := indexTabOrLF(seg)
			if i >= 0 {
				t.text = append(t.text, seg[:i]...)
				off += i + 1
				sep = seg[i]
				break
			}
			t.text = append(t.text, seg...)
			off += len(seg)
		}
		if off > t.maxLine+1 {
			return line, nil, &limitError{Line: line, What: "line", Key: "max_line_length", Limit: t.maxLine}
		}
		if sep != '\t' {
			t.text = bytes.TrimSuffix(t.text, []byte{'\r'})
		}
		t.ends = append(t.ends, len(t.text))
		if sep != '\t' {
			break
		}
	}
	if off > t.maxLine+1 {
		return line, nil, &limitError{Line: line, What: "line", Key: "max_line_length", Limit: t.maxLine}
	}
	t.pos += min(off, len(t.buf)-t.pos)
	t.line += lines + 1

	s := string(t.text)
	t.cells = t.cells[:0]
	start := 0
	for _, end := range t.ends {
		t.cells = append(t.cells, s[start:end])
		start = end
	}
	return line, t.cells, nil
}

// quoted reads the quoted value whose opening " is off bytes into the
// unread text, appending its content to t.text. It reports how many bytes
// the value took, quotes included, and how many line ends it holds; ok is
// false when the value is not closed properly (see tsvReader), and then
// t.text is as it was.
func (t *tsvReader) quoted(off int) (n, lines int, ok bool) {
	mark := len(t.text)
	i := off + 1
	limit := off + 1 + min(t.maxCell, t.maxLine-off)
	for {
		if i > limit {
			break
		}
		if !t.have(i + 1) {
			break // the text ended inside the value
		}
		seg := t.buf[t.pos+i : t.pos+min(len(t.buf)-t.pos, limit+1)]
		q := bytes.IndexByte(seg, '"')
		if q < 0 {
			t.text = append(t.text, seg...)
			lines += bytes.Count(seg, []byte{'\n'})
			i += len(seg)
			continue
		}
		t.text = append(t.text, seg[:q]...)
		lines += bytes.Count(seg[:q], []byte{'\n'})
		i += q + 1 // past the "
		c, more := t.at(i)
		closed := !more || c == '\t' || c == '\n'
		if !closed && c == '\r' {
			c2, ok := t.at(i + 1)
			closed = ok && c2 == '\n'
		}
		if closed {
			// A line end inside the value is LF, as encoding/csv gives it.
			if v := t.text[mark:]; bytes.IndexByte(v, '\r') >= 0 {
				t.text = append(t.text[:mark], bytes.ReplaceAll(v, []byte("\r\n"), []byte("\n"))...)
			}
			return i - off, lines, true
		}
		if c == '"' {
			t.text = append(t.text, '"')
			i++
			continue
		}
		break // a " followed by text: not a closing quote
	}
	t.text = t.text[:mark]
	return 0, 0, false
}

func indexTabOrLF(b []byte) int {
	for i, c := range b {
		if c == '\t' || c == '\n' {
			return i
		}
	}
	return -1
}

// limitError is a file over one of the parser's caps (ParseOptions'
// limits): What is "line" or "value", Key the setting that raises it.
type limitError struct {
	Line   int
	Column int // for a value
	What   string
	Key    string
	Limit  int
}

func (e *limitError) Error() string {
	where := ""
	if e.Column > 0 {
		where = fmt.Sprintf(" in column %d", e.Column)
	}
	return fmt.Sprintf("%v: a %s%s is longer than %s %s", ErrTooLarge, e.What, where, e.Key, byteSize(int64(e.Limit)))
}

func (e *limitError) Unwrap() error { return ErrTooLarge }

// byteSize writes a size as config accepts it: "200MiB", "64KiB", "100B".
func byteSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%dB", n)
}
