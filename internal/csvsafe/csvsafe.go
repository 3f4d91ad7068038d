package csvsafe

import (
	"bufio"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Cell returns s as a cell no spreadsheet runs as a formula: s itself, or
// s with a leading apostrophe (see the package doc). Apply it once per
// cell: Uncell(Cell(s)) is s for every s, so Cell is not idempotent.
func Cell(s string) string {
	if guarded(s) {
		return "'" + s
	}
	return s
}

// Uncell undoes Cell: a value with the apostrophe Cell puts before a
// formula is read back without it, so that a file rosterd exported
// imports as it was. Any other value is returned as it is.
func Uncell(s string) string {
	if s != "" && s[0] == '\'' && guarded(s[1:]) {
		return s[1:]
	}
	return s
}

// guarded: Cell puts an apostrophe before s. That is so for a formula,
// and for a value that begins with apostrophes before one ("'=1"): were
// it written as it is, Uncell would read it back without its first
// apostrophe.
func guarded(s string) bool {
	t := strings.TrimLeft(s, "'")
	if t == s {
		return startsFormula(s) || splitsIntoFormula(s)
	}
	return t != "" && (startsFormula(t) || splitsIntoFormula(t))
}

// startsFormula: s begins, after white space, with what makes a formula.
func startsFormula(s string) bool {
	if s != "" && (s[0] == '\t' || s[0] == '\r') {
		return true
	}
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	return t != "" && strings.ContainsRune("=+-@", rune(t[0]))
}

// splitsIntoFormula: a part of s after a ";", "," or tab would begin a
// formula, were the line split there.
func splitsIntoFormula(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ';' || c == ',' || c == '\t' {
			if startsFormula(s[i+1:]) {
				return true
			}
		}
	}
	return false
}

// Writer writes CSV records as encoding/csv does (comma-separated, "\n"
// line ends, fields quoted where they must be), with every field passed
// through Cell, and a field that would turn into a formula when split on
// ";" or "," always quoted.
type Writer struct {
	w   *bufio.Writer
	err error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w)}
}

// Write writes one record. Like csv.Writer, it buffers: call Flush.
func (w *Writer) Write(record []string) error {
	if w.err != nil {
		return w.err
	}
	for i, field := range record {
		if i > 0 {
			w.w.WriteByte(',')
		}
		field = Cell(field)
		if !needsQuotes(field) {
			w.w.WriteString(field)
			continue
		}
		w.w.WriteByte('"')
		w.w.WriteString(strings.ReplaceAll(field, `"`, `""`))
		w.w.WriteByte('"')
	}
	_, w.err = w.w.WriteString("\n")
	return w.err
}

// needsQuotes is encoding/csv's rule (a comma, a quote, a line break, a
// leading space, or `\.`), plus a field that splitting on ";" or a tab
// would turn into a formula.
func needsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` || strings.ContainsAny(field, ",\"\r\n") || splitsIntoFormula(field) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r)
}

// Flush writes what is buffered to the underlying writer.
func (w *Writer) Flush() {
	if err := w.w.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// Error is the first error of a Write or Flush.
func (w *Writer) Error() error {
	if w.err != nil {
		return w.err
	}
	_, err := w.w.Write(nil)
	return err
}
