package admin

import (
	"archive/zip"
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// sheetWriter writes a workbook of one sheet of text cells straight into
// a zip stream, row by row: nothing of it is held in memory but a bufio
// buffer and the compressor's window. (excelize's StreamWriter keeps up to
// 16 MiB of the sheet in memory before it spills to a file, a third of
// the export's heap.) Cells are inline strings, as excelize's stream
// writer makes them, so excelize and the import read them the same way.
type sheetWriter struct {
	zw   *zip.Writer
	w    *bufio.Writer
	row  int
	cols []string // column letters, A, B, …
}

// errSheetFull: a row past the 1,048,576 a worksheet holds.
var errSheetFull = fmt.Errorf("more than %d rows, which a worksheet cannot hold", excelize.TotalRows)

// The fixed parts of the workbook.
const (
	xlsxContentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>`
	xlsxRootRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	xlsxWorkbookRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`
	xlsxStyles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`
	xlsxSheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	xlsxSheetTail = `</sheetData></worksheet>`
)

// newSheetWriter starts a workbook whose one sheet is named sheet.
func newSheetWriter(out io.Writer, sheet string) (*sheetWriter, error) {
	zw := zip.NewWriter(out)
	var workbook strings.Builder
	workbook.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="`)
	if err := xml.EscapeText(&workbook, []byte(sheet)); err != nil {
		return nil, err
	}
	workbook.WriteString(`" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	for _, part := range []struct{ name, body string }{
		{"[Content_Types].xml", xlsxContentTypes},
		{"_rels/.rels", xlsxRootRels},
		{"xl/workbook.xml", workbook.String()},
		{"xl/_rels/workbook.xml.rels", xlsxWorkbookRels},
		{"xl/styles.xml", xlsxStyles},
	} {
		w, err := zw.Create(part.name)
		if err == nil {
			_, err = io.WriteString(w, part.body)
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", part.name, err)
		}
	}
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return nil, err
	}
	s := &sheetWriter{zw: zw, w: bufio.NewWriterSize(w, 64<<10)}
	_, err = s.w.WriteString(xlsxSheetHead)
	return s, err
}

// Row appends a row of text cells.
func (s *sheetWriter) Row(cells []string) error {
	s.row++
	if s.row > excelize.TotalRows {
		return errSheetFull
	}
	r := strconv.Itoa(s.row)
	w := s.w
	w.WriteString(`<row r="`)
	w.WriteString(r)
	w.WriteString(`">`)
	for i, v := range cells {
		for len(s.cols) <= i {
			name, err := excelize.ColumnNumberToName(len(s.cols) + 1)
			if err != nil {
				return err
			}
			s.cols = append(s.cols, name)
		}
		w.WriteString(`<c r="`)
		w.WriteString(s.cols[i])
		w.WriteString(r)
		w.WriteString(`" t="inlineStr"><is><t`)
		if v != "" && (isXMLSpace(v[0]) || isXMLSpace(v[len(v)-1])) {
			w.WriteString(` xml:space="preserve"`)
		}
		w.WriteString(`>`)
		if err := writeCellText(w, v); err != nil {
			return err
		}
		w.WriteString(`</t></is></c>`)
	}
	_, err := w.WriteString(`</row>`)
	return err
}

// Close ends the sheet and the zip.
func (s *sheetWriter) Close() error {
	if _, err := s.w.WriteString(xlsxSheetTail); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	return s.zw.Close()
}

func isXMLSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// escapedLiteral is text that a reader of the sheet would take for an
// escaped character (_x0041_ reads as "A").
var escapedLiteral = regexp.MustCompile(`_x[0-9A-Fa-f]{4}_`)

// writeCellText writes v as a cell's text the way excelize does: at most
// the 32,767 UTF-16 units a cell holds; a literal _xHHHH_ escaped as
// _x005F_xHHHH_ and a control character as _xHHHH_ (XML has no place for
// them), so that a reader gets v back; the rest XML-escaped, line feeds
// kept as they are.
func writeCellText(w *bufio.Writer, v string) error {
	if len(v) > excelize.TotalCellChars {
		v = truncateUTF16(v, excelize.TotalCellChars)
	}
	if strings.Contains(v, "_x") {
		v = escapedLiteral.ReplaceAllStringFunc(v, func(m string) string { return "_x005F" + m })
	}
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if err := escapeText(w, v[start:i]); err != nil {
			return err
		}
		fmt.Fprintf(w, "_x%04X_", c)
		start = i + 1
	}
	return escapeText(w, v[start:])
}

// escapeText is xml.EscapeText with line feeds left as they are (as
// excelize leaves them).
func escapeText(w *bufio.Writer, s string) error {
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return xml.EscapeText(w, []byte(s))
		}
		if err := xml.EscapeText(w, []byte(s[:i])); err != nil {
			return err
		}
		w.WriteByte('\n')
		s = s[i+1:]
	}
	return nil
}

// truncateUTF16 cuts s to at most n UTF-16 code units, at a rune boundary.
func truncateUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return s[:i]
		}
	}
	return s
}
