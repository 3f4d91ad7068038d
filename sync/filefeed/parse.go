package filefeed

// The roster parser: an HR export (CSV, TSV or XLSX) in, a
// reconcile.Snapshot out. Decisions a reader of a plan may need to know:
//
//   - The format is told by content, never by name alone: a zip is XLSX; an
//     OLE2 file (Excel 97-2003 .xls, or a password-protected .xlsx) is
//     refused with a message saying to save it as .xlsx or CSV; anything
//     else is text. The name's extension only breaks a tie in delimiter
//     detection (".tsv" and ".tab" prefer a tab).
//   - Text is UTF-8 with or without BOM, or UTF-16 LE/BE (with BOM, as
//     Excel's "Unicode text" writes it; without BOM when the first
//     character's high byte is zero). Bytes that are not UTF-8 in a column
//     the feed reads fail the whole file (a Windows-1252 export would
//     otherwise skip every person with an accent in their name, and skipped
//     people are withdrawn).
//   - The delimiter is the most frequent of , ; TAB | outside quotes in the
//     header line; ties go to the extension's delimiter, then to the comma.
//     An Excel "sep=;" first line names it outright. Old-Mac files whose
//     lines end in a bare CR are read as if they ended in LF.
//   - The header is the first row with a non-empty cell; earlier blank rows
//     are skipped, and lines are still counted from the top of the file.
//     Header matching: see mapHeader.
//   - A row with a value beyond the header's last column is flagged, not
//     read: it is almost always a value with an unquoted delimiter, whose
//     other values have shifted into the wrong columns. Missing trailing
//     values are empty.
//   - CSV (comma, semicolon, pipe): a row that encoding/csv cannot read (a
//     bare " inside an unquoted value, text after a closing quote) is
//     flagged, without a key, with the line its record starts on, and
//     reading goes on with the next line. A quoted value still open at the
//     end of the file is ErrTruncated: the whole file is refused.
//   - TSV (tab, and so Excel's "Unicode Text") follows the tab-separated
//     rules instead (tsvReader): a " inside a value is text, only a value
//     that begins with " is quoted, and one not closed properly is read
//     literally. No TSV row is lost to its quotes.
//   - Limits (ParseOptions.Limits) refuse, with ErrTooLarge, a file, a row
//     or a value beyond them, and a workbook whose parts expand too far.
//   - Line numbers count the file's lines from 1 (for XLSX: the sheet's row
//     numbers); a record with a quoted newline is reported at its first line.
//     Record.Line and Flag.Line are "<base name>:<line>".
//   - The key is the normalized email (directory.NormalizeEmail), or, with
//     Key "employee_id", the trimmed employee id compared exactly. Either
//     way the row needs a valid email — a card is one per email. A row
//     flagged for a bad cell carries its key when it has one (a bad email
//     under an employee id key), so the plan keeps that person as they
//     are; a row without a readable key (a broken line, a missing or
//     invalid email when the email is the key) is flagged without one, and
//     may hold the plan (reconcile.Hold).
//   - Rows that share a key, or (keyed by employee id) an email, are all
//     flagged, each naming the others' lines, and none is applied: which of
//     them is right is for HR to say. The person keeps their card as it
//     is, neither updated nor withdrawn.
//   - Status: a value equal (case-insensitive, trimmed) to one of
//     InactiveValues makes the record Deactivated; any other value, or none,
//     leaves it present. manager_email is kept as written (not validated).
//   - Groups split on ";" and ","; empty and repeated names are dropped.
//   - A value of an apostrophe then = + - or @ is read without the
//     apostrophe: the guard against formulas rosterd's export adds.
//   - Snapshot.Columns names the attributes the mapped columns fill: a
//     partial feed and an import assert those only.
//   - XLSX: the first visible sheet. Cells are read raw: a date-formatted
//     number becomes "2006-01-02" (the time of day is dropped), a number
//     becomes its shortest decimal ("123", never "123.0" or "1.23E+02"), and
//     text stays text ("00123").

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/csvsafe"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// ParseOptions is what a feed's configuration says about its files
// (config.FileFeed's Key, Columns, StatusColumn and InactiveValues).
type ParseOptions struct {
	// Feed is the feed's name, for messages.
	Feed string
	// Key is "email" (the default when empty) or "employee_id".
	Key string
	// Columns maps header text to an attribute name: store.Attributes' JSON
	// names, "email", "status", or "custom.<name>" for a custom attribute.
	// These add to and override the default headers (see mapHeader), and
	// each configured header must be present in the file.
	Columns map[string]string
	// StatusColumn is the header of the status column; "" means a column
	// headed "Status" is used if there is one. Setting it is the same as
	// mapping it to "status" in Columns.
	StatusColumn string
	// InactiveValues are the status values (case-insensitive, trimmed) that
	// mean the person left. nil means the defaults: terminated, inactive,
	// leaver, disabled; an empty non-nil slice means no value does.
	InactiveValues []string
	// Limits bound what the file may make the parser hold; zero fields
	// take the defaults.
	Limits Limits
	// ColumnsOptional: a header of Columns that the file lacks is not
	// required; its attribute is read from a default header if there is
	// one (an import's remembered mapping, applied to another file).
	ColumnsOptional bool
}

// Limits bound a roster file and what reading it may take: an HR export
// is a few MB, and a file far beyond that is a mistake or an attack, to be
// refused before it is held in memory. A file over a limit is a
// ParseError wrapping ErrTooLarge that names the setting. Zero fields take
// the defaults (config.Default*: the same for feeds and admin imports).
type Limits struct {
	// MaxFileSize is the largest file read, in bytes (config
	// max_file_size). Default 200 MiB.
	MaxFileSize int64
	// MaxLineLength is the most bytes one row may take, line ends inside
	// quoted values included (max_line_length). Default 1 MiB.
	MaxLineLength int
	// MaxCellLength is the most bytes one value may have
	// (max_cell_length). Default 64 KiB.
	MaxCellLength int
	// XLSXMaxExpandedSize is the most a workbook's parts that are read may
	// unzip to, together (xlsx_max_expanded_size). Default 128 MiB.
	XLSXMaxExpandedSize int64
	// XLSXMaxCompressionRatio is the most one zip entry may expand, as
	// uncompressed to compressed size, once it is over 1 MiB
	// (xlsx_max_compression_ratio). Default 100, as Apache POI's.
	XLSXMaxCompressionRatio int
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = config.DefaultMaxFileSize
	}
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = config.DefaultMaxLineLength
	}
	if l.MaxCellLength <= 0 {
		l.MaxCellLength = config.DefaultMaxCellLength
	}
	if l.XLSXMaxExpandedSize <= 0 {
		l.XLSXMaxExpandedSize = config.DefaultXLSXMaxExpandedSize
	}
	if l.XLSXMaxCompressionRatio <= 0 {
		l.XLSXMaxCompressionRatio = config.DefaultXLSXMaxCompressionRatio
	}
	return l
}

// LimitsOf is a file feed's configured limits.
func LimitsOf(f config.FileFeed) Limits {
	return Limits{MaxFileSize: int64(f.MaxFileSize), MaxLineLength: int(f.MaxLineLength), MaxCellLength: int(f.MaxCellLength),
		XLSXMaxExpandedSize: int64(f.XLSXMaxExpandedSize), XLSXMaxCompressionRatio: f.XLSXMaxCompressionRatio}
}

// DefaultInactiveValues are the status values that mean "left" when
// ParseOptions.InactiveValues is nil.
var DefaultInactiveValues = []string{"terminated", "inactive", "leaver", "disabled"}

// Errors a ParseError may wrap (besides *ColumnError, *csv.ParseError for
// a header row encoding/csv cannot read, and read errors of the source).
var (
	// ErrTruncated: a quoted value is still open at the end of the file —
	// the file was cut short (or has a stray quote that swallowed the rest).
	ErrTruncated = errors.New("a quoted value starting in this record is still open at the end of the file (truncated file?)")
	// ErrNoHeader: the file has no row with a non-empty cell.
	ErrNoHeader = errors.New("no header row (the file is empty)")
	// ErrEncoding: text that is neither UTF-8 nor UTF-16.
	ErrEncoding = errors.New(`not UTF-8 text (export it as "CSV UTF-8" or "Unicode text")`)
	// ErrFormat: content that is not CSV, TSV or XLSX.
	ErrFormat = errors.New("not a CSV, TSV or XLSX file")
	// ErrTooLarge: the file, a line, a value or a workbook's content is
	// over one of the Limits.
	ErrTooLarge = errors.New("over a size limit")
	// ErrOptions: ParseOptions the parser cannot use (config validation
	// should have caught them).
	ErrOptions = errors.New("invalid feed options")
)

// ParseError is why a whole file was refused. Rows that are merely bad are
// not errors: they are the snapshot's Flagged.
type ParseError struct {
	Feed string
	// File is the file's base name.
	File string
	// Line is the line (XLSX: row) the problem is on, 0 when it is about the
	// file as a whole.
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.Feed != "" {
		fmt.Fprintf(&b, "feed %q: ", e.Feed)
	}
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads a whole roster file and returns its snapshot: Records,
// Flagged, Name (name as given), Size and Hash (hex SHA-256 of data);
// Fetched is left for the caller. It fails, with a *ParseError, only when
// the file as a whole is unusable; bad rows are flagged.
func Parse(name string, data []byte, opt ParseOptions) (reconcile.Snapshot, error) {
	// Newlines bound the rows from above; sizing for them up front spares
	// the growth copies of a million-row file (a hint only: for UTF-16 and
	// XLSX it is a guess).
	if max := opt.Limits.withDefaults().MaxFileSize; int64(len(data)) > max {
		return reconcile.Snapshot{}, fileTooLarge(opt.Feed, name, int64(len(data)), max)
	}
	hint := min(bytes.Count(data, []byte{'\n'}), len(data)/8, 1<<24)
	return parseRoster(name, bytes.NewReader(data), opt, hint)
}

// ParseReader is Parse over a reader. CSV and TSV are streamed: memory
// beyond the records themselves stays bounded however long the file. XLSX
// is read into memory whole (a zip must be).
func ParseReader(name string, r io.Reader, opt ParseOptions) (reconcile.Snapshot, error) {
	return parseRoster(name, r, opt, 0)
}

// Template returns a CSV file with a header row only: one recognised
// default header per attribute. It starts with a UTF-8 byte order mark so
// that Excel opens it as UTF-8 (and names with accents survive the round
// trip), and ends its line with CRLF as RFC 4180 does.
func Template() []byte {
	var b bytes.Buffer
	b.WriteString("\uFEFF")
	for i, h := range TemplateHeaders() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(h)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// TemplateHeaders is the template's header row: one recognised default
// header per attribute.
func TemplateHeaders() []string {
	out := make([]string, len(rosterDefaultHeaders))
	for i, d := range rosterDefaultHeaders {
		out[i] = d.headers[0]
	}
	return out
}

// fileTooLarge is the refusal of a file over MaxFileSize; size is what is
// known of it (at least this many bytes).
func fileTooLarge(feed, name string, size, max int64) error {
	return &ParseError{Feed: feed, File: name[strings.LastIndexAny(name, `/\`)+1:],
		Err: fmt.Errorf("%w: the file has %d bytes or more, over max_file_size %s", ErrTooLarge, size, byteSize(max))}
}

func parseRoster(name string, r io.Reader, opt ParseOptions, hint int) (reconcile.Snapshot, error) {
	snap, _, err := parseRosterHeader(name, r, opt, hint)
	return snap, err
}

// parseRosterHeader is parseRoster that also says how the header row
// mapped (nil when the file has none, or no parser could be made).
func parseRosterHeader(name string, r io.Reader, opt ParseOptions, hint int) (reconcile.Snapshot, []HeaderColumn, error) {
	p, err := newRosterParser(name, opt, hint)
	if err != nil {
		return reconcile.Snapshot{}, nil, err
	}
	snap, err := p.run(name, r)
	return snap, p.plan.header, err
}

func (p *rosterParser) run(name string, r io.Reader) (reconcile.Snapshot, error) {
	h := sha256.New()
	src := &hashingReader{r: r, h: h, max: p.limits.MaxFileSize}
	if err := p.parse(src); err != nil {
		if errors.Is(err, errFileTooLarge) {
			return reconcile.Snapshot{}, fileTooLarge(p.feed, name, src.n, p.limits.MaxFileSize)
		}
		return reconcile.Snapshot{}, err
	}
	p.flagDuplicates()
	// The readers above stop at EOF, but hash everything whatever they did.
	if _, err := io.Copy(io.Discard, src); err != nil {
		if errors.Is(err, errFileTooLarge) {
			return reconcile.Snapshot{}, fileTooLarge(p.feed, name, src.n, p.limits.MaxFileSize)
		}
		return reconcile.Snapshot{}, p.fail(0, err)
	}
	return reconcile.Snapshot{
		Name:    name,
		Size:    src.n,
		Hash:    hex.EncodeToString(h.Sum(nil)),
		Records: p.records,
		Flagged: p.flagged,
		Columns: p.columns(),
	}, nil
}

// columns names the attributes the mapped header columns fill (not email
// or status): what a partial feed or an import asserts.
func (p *rosterParser) columns() []string {
	out := []string{}
	for _, c := range p.cols {
		if c.field != fieldEmail && c.field != fieldStatus {
			out = append(out, c.attr)
		}
	}
	return out
}

// hashingReader hashes and counts what passes through it, and fails with
// errFileTooLarge past max bytes.
type hashingReader struct {
	r   io.Reader
	h   io.Writer
	n   int64
	max int64
}

var errFileTooLarge = errors.New("file over max_file_size")

func (hr *hashingReader) Read(b []byte) (int, error) {
	if hr.n > hr.max {
		return 0, errFileTooLarge
	}
	n, err := hr.r.Read(b)
	hr.h.Write(b[:n])
	hr.n += int64(n)
	if hr.n > hr.max {
		return 0, errFileTooLarge
	}
	return n, err
}

// rosterParser holds one parse: the header mapping, the rows so far, and
// the keys seen.
type rosterParser struct {
	feed     string
	file     string // the name's last element, for lines and messages
	limits   Limits
	plan     *rosterColumnPlan
	inactive []string
	hint     int

	// checkUTF8 is set for text that was not decoded from UTF-16.
	checkUTF8 bool
	// tooWideHint ends the message for a row wider than its header.
	tooWideHint string

	haveHeader bool
	cols       []rosterColumn
	width      int
	emailCol   int // index into cols
	idCol      int // index into cols, -1 if none
	keyIsEmail bool

	seenKey   map[string]int     // key → line of its first row
	seenEmail map[string]seenRow // normalized email → its first row, when the key is not the email
	// dupKeys and dupEmails are the keys and emails on more than one row,
	// with all their rows; dupOrder lists them as they were found.
	dupKeys   map[string]*dupGroup
	dupEmails map[string]*dupGroup
	dupOrder  []*dupGroup
	records   []reconcile.Record
	flagged   []reconcile.Flag

	vals []string // per-row scratch, one per col
	offs []int
}

func newRosterParser(name string, opt ParseOptions, hint int) (*rosterParser, error) {
	p := &rosterParser{
		feed:     opt.Feed,
		file:     name[strings.LastIndexAny(name, `/\`)+1:],
		limits:   opt.Limits.withDefaults(),
		inactive: opt.InactiveValues,
		hint:     hint,
		records:  []reconcile.Record{},
		flagged:  []reconcile.Flag{},
	}
	if p.inactive == nil {
		p.inactive = DefaultInactiveValues
	}
	p.inactive = slices.Clone(p.inactive)
	for i, v := range p.inactive {
		p.inactive[i] = strings.TrimSpace(v)
	}
	plan, err := newRosterColumnPlan(opt)
	if err != nil {
		return nil, p.fail(0, fmt.Errorf("%w: %w", ErrOptions, err))
	}
	p.plan = plan
	p.keyIsEmail = plan.key == "email"
	return p, nil
}

func (p *rosterParser) fail(line int, err error) error {
	return &ParseError{Feed: p.feed, File: p.file, Line: line, Err: err}
}

func (p *rosterParser) lineOf(line int) string {
	return p.file + ":" + strconv.Itoa(line)
}

func (p *rosterParser) flag(line int, reason string) {
	p.flagged = append(p.flagged, reconcile.Flag{Line: p.lineOf(line), Reason: reason})
}

// flagKey flags a row whose person is known by key: the plan keeps that
// person as they are rather than withdrawing them for a bad cell.
func (p *rosterParser) flagKey(line int, key, reason string) {
	p.flagged = append(p.flagged, reconcile.Flag{Line: p.lineOf(line), Key: strings.Clone(key), Reason: reason})
}

// parse tells the format apart by the first bytes and reads the file.
func (p *rosterParser) parse(src io.Reader) error {
	br := newPeekReader(src)
	head, err := br.Peek(8)
	if err != nil && err != io.EOF {
		return p.fail(0, err)
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		data, err := io.ReadAll(br)
		if err != nil {
			return p.fail(0, err)
		}
		return p.parseXLSX(data)
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return p.fail(0, fmt.Errorf("%w: an Excel 97-2003 .xls or a password-protected workbook; save it as .xlsx (without a password) or CSV", ErrFormat))
	}
	return p.parseText(br)
}

// header maps the header row.
func (p *rosterParser) header(line int, cells []string) error {
	if err := p.checkCells(line, cells); err != nil {
		return err
	}
	if p.checkUTF8 {
		for _, c := range cells {
			if !utf8.ValidString(c) {
				return p.fail(line, ErrEncoding)
			}
		}
	}
	cols, width, notes, err := p.plan.mapHeader(cells)
	if err != nil {
		return p.fail(0, err)
	}
	p.haveHeader, p.cols, p.width = true, cols, width
	p.idCol = -1
	for i, c := range cols {
		switch c.field {
		case fieldEmail:
			p.emailCol = i
		case fieldEmployeeID:
			p.idCol = i
		}
	}
	for _, n := range notes {
		p.flagged = append(p.flagged, reconcile.Flag{Line: p.lineOf(line), Reason: n, Header: true})
	}
	p.vals = make([]string, len(cols))
	p.offs = make([]int, len(cols))
	p.records = make([]reconcile.Record, 0, p.hint)
	p.seenKey = make(map[string]int, p.hint)
	if !p.keyIsEmail {
		p.seenEmail = make(map[string]seenRow, p.hint)
	}
	return nil
}

// seenRow is a row that has a key: its line, and its key.
type seenRow struct {
	line int
	key  string
}

// dupGroup is a key (what "email" or "employee id") or an email found on
// more than one row.
type dupGroup struct {
	what, value string
	rows        []seenRow
}

// seeKey notes that the row on line has key, and reports whether an
// earlier row had it too.
func (p *rosterParser) seeKey(key string, line int) bool {
	first, dup := p.seenKey[key]
	if !dup {
		p.seenKey[key] = line
		return false
	}
	g := p.dupKeys[key]
	if g == nil {
		what := "employee id"
		if p.keyIsEmail {
			what = "email"
		}
		g = &dupGroup{what: what, value: key, rows: []seenRow{{first, key}}}
		if p.dupKeys == nil {
			p.dupKeys = map[string]*dupGroup{}
		}
		p.dupKeys[key] = g
		p.dupOrder = append(p.dupOrder, g)
	}
	g.rows = append(g.rows, seenRow{line, key})
	return true
}

// seeEmail is seeKey for the normalized email of a row keyed by employee
// id: one email is one card, whatever ids the rows give.
func (p *rosterParser) seeEmail(norm, key string, line int) bool {
	first, dup := p.seenEmail[norm]
	if !dup {
		p.seenEmail[norm] = seenRow{line, key}
		return false
	}
	g := p.dupEmails[norm]
	if g == nil {
		g = &dupGroup{what: "email", value: norm, rows: []seenRow{first}}
		if p.dupEmails == nil {
			p.dupEmails = map[string]*dupGroup{}
		}
		p.dupEmails[norm] = g
		p.dupOrder = append(p.dupOrder, g)
	}
	g.rows = append(g.rows, seenRow{line, key})
	return true
}

// flagDuplicates, once the whole file is read, flags every row of a key
// (or email) that more than one row has, and drops the record the first
// of them made: rosterd cannot know which row is right, so none is
// applied, and each flag's key keeps its person as they are.
func (p *rosterParser) flagDuplicates() {
	if len(p.dupOrder) == 0 {
		return
	}
	drop := map[string]bool{}
	for _, g := range p.dupOrder {
		for i, r := range g.rows {
			others := make([]int, 0, len(g.rows)-1)
			for j, o := range g.rows {
				if j != i && (len(others) == 0 || others[len(others)-1] != o.line) {
					others = append(others, o.line)
				}
			}
			p.flagKey(r.line, r.key, fmt.Sprintf("duplicate %s %s, also on %s: none of these rows is applied", g.what, g.value, lineList(others)))
			drop[p.lineOf(r.line)] = true
		}
	}
	p.records = slices.DeleteFunc(p.records, func(r reconcile.Record) bool { return drop[r.Line] })
	slices.SortStableFunc(p.flagged, func(a, b reconcile.Flag) int { return flagLine(a) - flagLine(b) })
}

// flagLine is the line number of a flag this parser made.
func flagLine(f reconcile.Flag) int {
	n, _ := strconv.Atoi(f.Line[strings.LastIndexByte(f.Line, ':')+1:])
	return n
}

// lineList names lines for a message: "line 4", "lines 2 and 4", "lines
// 2, 4 and 9"; past ten, "lines 2, 3, …, 11 and 40 more".
func lineList(lines []int) string {
	const show = 10
	if len(lines) == 1 {
		return "line " + strconv.Itoa(lines[0])
	}
	var b strings.Builder
	b.WriteString("lines ")
	n := min(len(lines), show)
	for i, l := range lines[:n] {
		switch {
		case i == 0:
		case i == n-1 && n == len(lines):
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(l))
	}
	if n < len(lines) {
		fmt.Fprintf(&b, " and %d more", len(lines)-n)
	}
	return b.String()
}

// row reads one data row that starts on line. It returns an error only when
// the whole file must be refused.
func (p *rosterParser) row(line int, cells []string) error {
	if err := p.checkCells(line, cells); err != nil {
		return err
	}
	if isBlankRow(cells) {
		return nil
	}
	for i := p.width; i < len(cells); i++ {
		if v := strings.TrimSpace(cells[i]); v != "" {
			p.flag(line, fmt.Sprintf("value %q in column %d, beyond the header's %d columns%s", clip(v), i+1, p.width, p.tooWideHint))
			return nil
		}
	}
	size := 0
	for j, c := range p.cols {
		v := ""
		if c.index < len(cells) {
			v = strings.TrimSpace(cells[c.index])
		}
		if p.checkUTF8 && !utf8.ValidString(v) {
			return p.fail(line, ErrEncoding)
		}
		p.vals[j] = unguard(v)
		size += len(v)
	}

	id := ""
	if p.idCol >= 0 {
		id = p.vals[p.idCol]
	}
	if !p.keyIsEmail && id == "" {
		p.flag(line, "missing employee id")
		return nil
	}
	// When the key is the email, a row without a valid one names nobody:
	// it is flagged without a key (and may hold the plan, see
	// reconcile.Hold). With an employee id, the id still names the person.
	email := p.vals[p.emailCol]
	if email == "" {
		if p.keyIsEmail {
			p.flag(line, "missing email")
		} else {
			p.flagKey(line, id, "missing email")
			p.seeKey(strings.Clone(id), line)
		}
		return nil
	}
	_, norm, err := directory.NormalizeEmail(email)
	if err != nil {
		if p.keyIsEmail {
			p.flag(line, err.Error())
		} else {
			p.flagKey(line, id, err.Error())
			p.seeKey(strings.Clone(id), line)
		}
		return nil
	}
	key := id
	if p.keyIsEmail {
		key = norm
	}
	// The key and the email are substrings of the row as encoding/csv read
	// it; the maps get copies (below, or cloned here for a duplicate).
	_, dupKey := p.seenKey[key]
	dupEmail := false
	if !p.keyIsEmail {
		_, dupEmail = p.seenEmail[norm]
	}
	if dupKey || dupEmail {
		p.seeKey(strings.Clone(key), line)
		if !p.keyIsEmail {
			p.seeEmail(strings.Clone(norm), strings.Clone(id), line)
		}
		return nil // flagged when the file is read, with every line of the key
	}

	// Copy what the record keeps into one string of its own: the values
	// are substrings of the row as encoding/csv read it, which holds every
	// column, and a record must not keep the columns nobody reads alive.
	var b strings.Builder
	b.Grow(len(p.file) + 21 + size)
	b.WriteString(p.file)
	b.WriteByte(':')
	var nb [20]byte
	b.Write(strconv.AppendInt(nb[:0], int64(line), 10))
	lineEnd := b.Len()
	for j, v := range p.vals {
		p.offs[j] = b.Len()
		b.WriteString(v)
	}
	s := b.String()
	for j, v := range p.vals {
		p.vals[j] = s[p.offs[j] : p.offs[j]+len(v)]
	}
	email = p.vals[p.emailCol]
	if norm == email {
		norm = email // the same text: keep the copy, not the row's
	}
	rec := reconcile.Record{Email: email, Line: s[:lineEnd]}
	if p.keyIsEmail {
		rec.Key = norm
		p.seenKey[norm] = line
	} else {
		rec.Key = p.vals[p.idCol]
		p.seenKey[rec.Key] = line
		p.seenEmail[norm] = seenRow{line, rec.Key}
	}
	a := &rec.Attributes
	for j, c := range p.cols {
		v := p.vals[j]
		if v == "" {
			continue
		}
		switch c.field {
		case fieldGroups:
			a.Groups = splitGroups(v)
		case fieldStatus:
			for _, iv := range p.inactive {
				if strings.EqualFold(v, iv) {
					rec.Deactivated = true
					break
				}
			}
		default:
			a.Set(c.attr, v) // text attributes and custom.<name>; email is rec.Email
		}
	}
	p.records = append(p.records, rec)
	return nil
}

// unguard undoes the guard against formulas that rosterd's CSV writers
// put on a cell (csvsafe.Cell), so that an exported file imports as it
// was: "'=Ann" is read as "=Ann", "' =1" as " =1", "'a;=1" as "a;=1".
func unguard(v string) string { return csvsafe.Uncell(v) }

// checkCells refuses the file for a value over MaxCellLength, read or not:
// no roster has one, and a file that does is not a roster.
func (p *rosterParser) checkCells(line int, cells []string) error {
	for i, c := range cells {
		if len(c) > p.limits.MaxCellLength {
			return p.fail(line, &limitError{Line: line, Column: i + 1, What: "value", Key: "max_cell_length", Limit: p.limits.MaxCellLength})
		}
	}
	return nil
}

// splitGroups splits a groups cell on ";" and ",", dropping empty and
// repeated names.
func splitGroups(v string) []string {
	groups := make([]string, 0, 1+strings.Count(v, ";")+strings.Count(v, ","))
	for v != "" {
		part := v
		if i := strings.IndexAny(v, ";,"); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		if part = strings.TrimSpace(part); part != "" && !slices.Contains(groups, part) {
			groups = append(groups, part)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	return groups
}

// clip shortens a value quoted in a message.
func clip(v string) string {
	const max = 40
	if len(v) <= max {
		return v
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}
