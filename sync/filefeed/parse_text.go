package filefeed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// peekWindow is how much of a text file is looked at before reading it:
// enough for the byte order mark and for the header line.
const peekWindow = 64 << 10

func newPeekReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, peekWindow) }

// parseText reads CSV or TSV: it picks the encoding and the delimiter, then
// streams the rows through encoding/csv.
func (p *rosterParser) parseText(br *bufio.Reader) error {
	head, _ := br.Peek(4) // a read error resurfaces on the next read
	var text io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		br.Discard(3)
		p.checkUTF8 = true
	case bytes.HasPrefix(head, []byte("\xFF\xFE")):
		text = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	case bytes.HasPrefix(head, []byte("\xFE\xFF")):
		text = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder())
	// UTF-8 text has no NUL bytes: a zero byte beside a non-zero one at
	// the start is UTF-16 whose writer left out the byte order mark.
	case len(head) >= 2 && head[0] != 0 && head[1] == 0:
		text = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder())
	case len(head) >= 2 && head[0] == 0 && head[1] != 0:
		text = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder())
	default:
		p.checkUTF8 = true
	}

	tb := bufio.NewReaderSize(text, peekWindow)
	win, err := tb.Peek(peekWindow)
	if err != nil && err != io.EOF {
		return p.fail(0, err)
	}
	if bytes.IndexByte(win, 0) >= 0 {
		return p.fail(0, fmt.Errorf("%w: binary content", ErrFormat))
	}
	var src io.Reader = tb
	if bytes.IndexByte(win, '\n') < 0 && bytes.IndexByte(win, '\r') >= 0 {
		src = crToLF{tb}
	}
	delim, sepLine := detectDelimiter(win, strings.ToLower(path.Ext(p.file)))
	p.tooWideHint = fmt.Sprintf(" (a value with an unquoted %s?)", delimiterName(delim))

	if delim == '\t' {
		return p.readTSV(newTSVReader(src, p.limits.MaxLineLength, p.limits.MaxCellLength), sepLine)
	}
	return p.readCSV(src, delim, sepLine)
}

// readTSV reads tab-separated text (see tsvReader): every line is a row,
// none is refused for its quotes.
func (p *rosterParser) readTSV(tr *tsvReader, sepLine bool) error {
	first := true
	for {
		line, rec, err := tr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *limitError
			if errors.As(err, &le) {
				return p.fail(le.Line, le)
			}
			return p.fail(0, err)
		}
		if first && sepLine && line == 1 {
			first = false
			continue
		}
		first = false
		if err := p.record(line, rec); err != nil {
			return err
		}
	}
	if !p.haveHeader {
		return p.fail(0, ErrNoHeader)
	}
	return nil
}

// record hands a record read on line to the header or the rows.
func (p *rosterParser) record(line int, rec []string) error {
	if !p.haveHeader {
		if isBlankRow(rec) {
			return nil
		}
		return p.header(line, rec)
	}
	return p.row(line, rec)
}

// readCSV reads comma-, semicolon- or pipe-separated text through
// encoding/csv, by RFC 4180's rules.
func (p *rosterParser) readCSV(src io.Reader, delim byte, sepLine bool) error {
	// TrimLeadingSpace: `a, "b"` is a quoted value after a space, not a
	// bare quote. (It would take a tab for space, which is one reason TSV
	// has a reader of its own.)
	tracker := &csvQuoteTracker{r: src, delim: delim, trim: true, fieldStart: true, maxRecord: p.limits.MaxLineLength, line: 1, recStart: 1}
	cr := csv.NewReader(tracker)
	cr.Comma = rune(delim)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	// lastQuoteErr is an ErrQuote that no record has followed yet: at the
	// end of the file, with the tracker inside a quoted value, it was the
	// file's end that cut the value off.
	var lastQuoteErr *csv.ParseError
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *limitError
			if errors.As(err, &le) {
				return p.fail(le.Line, le)
			}
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return p.fail(0, err)
			}
			if !p.haveHeader {
				if errors.Is(pe.Err, csv.ErrQuote) && tracker.openAtEOF() {
					return p.fail(pe.StartLine, ErrTruncated)
				}
				return p.fail(pe.StartLine, fmt.Errorf("header row: %w", pe))
			}
			lastQuoteErr = nil
			if errors.Is(pe.Err, csv.ErrQuote) {
				lastQuoteErr = pe
			}
			p.flag(pe.StartLine, csvProblem(pe))
			continue
		}
		lastQuoteErr = nil
		line, _ := cr.FieldPos(0)
		if first && sepLine && line == 1 {
			first = false
			continue
		}
		first = false
		if err := p.record(line, rec); err != nil {
			return err
		}
	}
	if lastQuoteErr != nil && tracker.openAtEOF() {
		return p.fail(lastQuoteErr.StartLine, ErrTruncated)
	}
	if !p.haveHeader {
		return p.fail(0, ErrNoHeader)
	}
	return nil
}

func isBlankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// csvProblem is a Flag's reason for a row encoding/csv could not read.
func csvProblem(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf(`" inside an unquoted value (line %d, column %d): quote the whole value and double each " inside it`, pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf(`text after a quoted value's closing " (line %d, column %d): quote the whole value and double each " inside it`, pe.Line, pe.Column)
	}
	return pe.Error()
}

var delimiterCandidates = [...]byte{',', ';', '\t', '|'}

func delimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return fmt.Sprintf("%q", d)
}

// detectDelimiter picks the delimiter from the header line, the first line
// that is not blank: the candidate that occurs most often outside quotes.
// Ties go to the extension's delimiter (".tsv", ".tab": tab; ".csv":
// comma), then to the comma, then in the order , ; TAB |. A first line
// "sep=X", which Excel writes and reads, names the delimiter outright;
// sepLine says so, and that line is not the header.
func detectDelimiter(win []byte, ext string) (delim byte, sepLine bool) {
	if after, ok := bytes.CutPrefix(win, []byte("sep=")); ok && len(after) > 0 && bytes.IndexByte(delimiterCandidates[:], after[0]) >= 0 {
		if rest := after[1:]; len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' {
			return after[0], true
		}
	}
	rest := win
	for len(rest) > 0 {
		end := bytes.IndexAny(rest, "\r\n")
		if end < 0 {
			break
		}
		if len(bytes.TrimSpace(rest[:end])) > 0 {
			break
		}
		rest = rest[end+1:]
	}
	var counts [len(delimiterCandidates)]int
	inQuotes := false
scan:
	for _, c := range rest {
		switch {
		case c == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case c == '\r' || c == '\n':
			break scan
		default:
			if k := bytes.IndexByte(delimiterCandidates[:], c); k >= 0 {
				counts[k]++
			}
		}
	}
	best := 0
	for _, n := range counts {
		best = max(best, n)
	}
	var preferred []byte
	switch ext {
	case ".tsv", ".tab":
		preferred = append(preferred, '\t')
	case ".csv":
		preferred = append(preferred, ',')
	}
	preferred = append(preferred, delimiterCandidates[:]...)
	for _, d := range preferred {
		if counts[bytes.IndexByte(delimiterCandidates[:], d)] == best {
			return d, false
		}
	}
	return ',', false
}

// crToLF turns the bare CR line ends of a classic Mac OS text file into
// LF, which encoding/csv understands.
type crToLF struct{ r io.Reader }

func (c crToLF) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	for i, ch := range b[:n] {
		if ch == '\r' {
			b[i] = '\n'
		}
	}
	return n, err
}

// csvQuoteTracker follows, as encoding/csv reads through it, whether the
// text is inside a quoted value, so that an ErrQuote at the end of the file
// can be told apart: a value still open at EOF is a truncated file; text
// after a closing quote on the last line is one bad row. (encoding/csv
// reports both as ErrQuote at the same column.) It mirrors encoding/csv's
// grammar with LazyQuotes off, including how it resumes after an error:
// with the next line.
//
// Knowing where records end, it also bounds them: a record longer than
// maxRecord bytes (0: no bound), its quoted line ends included, makes
// Read fail with a *limitError before encoding/csv has buffered it — a
// 400 MB value is refused, not read.
type csvQuoteTracker struct {
	r     io.Reader
	delim byte
	trim  bool // TrimLeadingSpace: spaces may precede an opening quote
	state quoteState
	// fieldStart: in stateOutside, only (trimmable) space has come since
	// the last delimiter, line end or the start of the text.
	fieldStart bool
	eof        bool

	maxRecord int
	line      int // the line the next byte is on
	recStart  int // the line the current record started on
	recLen    int // bytes of the current record so far
	err       error
}

type quoteState uint8

const (
	stateOutside     quoteState = iota // in an unquoted value, or between values
	stateQuoted                        // inside a quoted value
	stateQuoteSeen                     // a " inside a quoted value: closing, or the first of ""
	stateQuoteSeenCR                   // a CR after a closing "
	stateSkipLine                      // after an error, up to the next line
)

func (t *csvQuoteTracker) Read(b []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(b)
	t.scan(b[:n])
	if t.err != nil {
		return 0, t.err
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

func (t *csvQuoteTracker) openAtEOF() bool { return t.eof && t.state == stateQuoted }

// consume counts seg into the current record; with ends, a line end in
// seg ends the record (outside quotes), else it is part of a value.
func (t *csvQuoteTracker) consume(seg []byte, ends bool) {
	if ends {
		for {
			k := bytes.IndexByte(seg, '\n')
			if k < 0 {
				break
			}
			t.recLen += k
			t.checkRecord()
			t.line++
			t.recStart, t.recLen = t.line, 0
			seg = seg[k+1:]
		}
	} else {
		t.line += bytes.Count(seg, []byte{'\n'})
	}
	t.recLen += len(seg)
	t.checkRecord()
}

func (t *csvQuoteTracker) checkRecord() {
	if t.maxRecord > 0 && t.recLen > t.maxRecord && t.err == nil {
		t.err = &limitError{Line: t.recStart, What: "line", Key: "max_line_length", Limit: t.maxRecord}
	}
}

// scan advances the state over b. It looks only at quotes, and at the few
// bytes around them, so most of the text passes at IndexByte's speed.
func (t *csvQuoteTracker) scan(b []byte) {
	i := 0
	for i < len(b) {
		switch t.state {
		case stateOutside:
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				t.fieldStart = t.atFieldStart(b, i, len(b))
				t.consume(b[i:], true)
				return
			}
			j += i
			if t.atFieldStart(b, i, j) {
				t.state = stateQuoted
			} else {
				t.state = stateSkipLine // encoding/csv: ErrBareQuote
			}
			t.consume(b[i:j+1], true)
			i = j + 1
		case stateQuoted:
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				t.consume(b[i:], false)
				return
			}
			t.consume(b[i:i+j+1], false)
			t.state = stateQuoteSeen
			i += j + 1
		case stateQuoteSeen:
			c := b[i]
			t.consume(b[i:i+1], true)
			i++
			switch c {
			case '"':
				t.state = stateQuoted
			case t.delim, '\n':
				t.state, t.fieldStart = stateOutside, true
			case '\r':
				t.state = stateQuoteSeenCR
			default:
				t.state = stateSkipLine // encoding/csv: ErrQuote
			}
		case stateQuoteSeenCR:
			// encoding/csv takes CRLF for a line end, and a CR before
			// anything else for text after the closing quote.
			if b[i] == '\n' {
				t.state, t.fieldStart = stateOutside, true
			} else {
				t.state = stateSkipLine
				continue // the byte may be the line's end for stateSkipLine
			}
			t.consume(b[i:i+1], true)
			i++
		case stateSkipLine:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				t.consume(b[i:], true)
				return
			}
			t.consume(b[i:i+j+1], true)
			i += j + 1
			t.state, t.fieldStart = stateOutside, true
		}
	}
}

// atFieldStart reports whether position end of b, in stateOutside since
// position from, is at the start of a value: only trimmable space between
// it and the last delimiter or line end.
func (t *csvQuoteTracker) atFieldStart(b []byte, from, end int) bool {
	for k := end - 1; k >= from; k-- {
		switch c := b[k]; {
		case c == t.delim || c == '\n':
			return true
		case t.trim && (c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'):
		default:
			return false
		}
	}
	return t.fieldStart
}
