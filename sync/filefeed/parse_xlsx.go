package filefeed

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxRatioGrace is the size up to which a zip entry may expand by any
// ratio: a small part of blanks compresses far better than 100 to 1.
const xlsxRatioGrace = 1 << 20

// xlsxParts checks a workbook's zip directory against the limits and
// returns a zip of only the parts the roster sheet is read from — the
// content types, the relationships, the workbook, its styles and shared
// strings, and the first visible worksheet — with that sheet's name and
// part. Other sheets, images, drawings, pivot caches, macros, embedded
// files and the like are dropped unread, so they neither count against
// the limits nor take memory. The entries are copied as they are,
// compressed; archive/zip, as excelize reads them, fails an entry whose
// data expands beyond the size its directory declares, so a directory
// that understates them gains nothing.
func xlsxParts(data []byte, lim Limits) (parts []byte, sheet, sheetPath string, err error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrFormat, err)
	}
	var (
		keep  []*zip.File
		total uint64
	)
	take := func(f *zip.File) error {
		size := f.UncompressedSize64
		if size > xlsxRatioGrace && size/max(f.CompressedSize64, 1) > uint64(lim.XLSXMaxCompressionRatio) {
			return fmt.Errorf("%w: the workbook's part %s expands %d times (%d bytes from %d), over xlsx_max_compression_ratio %d",
				ErrTooLarge, f.Name, size/max(f.CompressedSize64, 1), size, f.CompressedSize64, lim.XLSXMaxCompressionRatio)
		}
		if total += size; total > uint64(lim.XLSXMaxExpandedSize) || total < size {
			return fmt.Errorf("%w: the workbook's parts for its sheet unzip to more than xlsx_max_expanded_size %s (at %s)",
				ErrTooLarge, byteSize(lim.XLSXMaxExpandedSize), f.Name)
		}
		keep = append(keep, f)
		return nil
	}
	for _, f := range zr.File {
		if xlsxPartNeeded(f.Name) {
			if err := take(f); err != nil {
				return nil, "", "", err
			}
		}
	}
	// The workbook and its relationships are among the parts checked.
	if sheet, sheetPath, err = xlsxFirstVisibleSheet(zr); err != nil {
		return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrFormat, err)
	}
	found := false
	for _, f := range zr.File {
		if !found && strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), sheetPath) {
			if err := take(f); err != nil {
				return nil, "", "", err
			}
			found = true
		}
	}
	if !found {
		return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: sheet %q has no part %s", ErrFormat, sheet, sheetPath)
	}

	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range keep {
		raw, err := f.OpenRaw()
		if err != nil {
			return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %s: %w", ErrFormat, f.Name, err)
		}
		fh := f.FileHeader
		w, err := zw.CreateRaw(&fh)
		if err != nil {
			return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %s: %w", ErrFormat, f.Name, err)
		}
		if _, err := io.Copy(w, raw); err != nil {
			return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %s: %w", ErrFormat, f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, "", "", fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrFormat, err)
	}
	return out.Bytes(), sheet, sheetPath, nil
}

// xlsxPartNeeded reports whether a zip entry is one a sheet is read from.
func xlsxPartNeeded(name string) bool {
	name = strings.ToLower(strings.ReplaceAll(name, `\`, "/"))
	dir, file := path.Split(name)
	switch {
	case name == "[content_types].xml" || name == "_rels/.rels":
		return true
	case dir == "xl/_rels/":
		return strings.HasSuffix(file, ".rels")
	case dir == "xl/":
		return strings.HasSuffix(file, ".xml") && file != "calcchain.xml"
	}
	return false
}

// parseXLSX reads the first visible sheet of a workbook. Its header is the
// first row with a non-empty cell; lines are the sheet's row numbers.
func (p *rosterParser) parseXLSX(data []byte) (err error) {
	// The workbook is untrusted input to a large library: a panic in it
	// refuses the file, it does not take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			err = p.fail(0, fmt.Errorf("%w: unreadable XLSX workbook: %v", ErrFormat, r))
		}
	}()
	parts, sheet, sheetPath, err := xlsxParts(data, p.limits)
	if err != nil {
		return p.fail(0, err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(parts), excelize.Options{
		UnzipSizeLimit: p.limits.XLSXMaxExpandedSize, UnzipXMLSizeLimit: min(excelize.StreamChunkSize, p.limits.XLSXMaxExpandedSize)})
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrFormat, err))
	}
	defer f.Close()

	props, err := f.GetWorkbookProps()
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: %w", ErrFormat, err))
	}
	zr, err := zip.NewReader(bytes.NewReader(parts), int64(len(parts)))
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: %w", ErrFormat, err))
	}
	attrs, err := openXLSXCellAttrs(zr, sheetPath)
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: %w", ErrFormat, err))
	}
	defer attrs.Close()
	cells := xlsxCells{f: f, attrs: attrs, date1904: props.Date1904 != nil && *props.Date1904, dateStyle: map[int]bool{}}

	// Rows rather than GetRows: GetRows stops quietly at a row it cannot
	// read, and a roster cut short must fail, not lose its tail.
	rows, err := f.Rows(sheet)
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: sheet %q: %w", ErrFormat, sheet, err))
	}
	defer rows.Close()
	for line := 1; rows.Next(); line++ {
		if line > excelize.TotalRows {
			return p.fail(line, fmt.Errorf("%w: sheet %q: more than %d rows", ErrFormat, sheet, excelize.TotalRows))
		}
		row, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return p.fail(line, fmt.Errorf("%w: sheet %q: %w", ErrFormat, sheet, err))
		}
		for i, v := range row {
			if row[i], err = cells.value(i+1, line, v); err != nil {
				return p.fail(line, fmt.Errorf("%w: sheet %q: %w", ErrFormat, sheet, err))
			}
		}
		if !p.haveHeader {
			if isBlankRow(row) {
				continue
			}
			if err := p.header(line, row); err != nil {
				return err
			}
			continue
		}
		if err := p.row(line, row); err != nil {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		return p.fail(0, fmt.Errorf("%w: sheet %q: %w", ErrFormat, sheet, err))
	}
	if !p.haveHeader {
		return p.fail(0, ErrNoHeader)
	}
	return nil
}

// xlsxCells turns raw cell values into text. excelize's formatted values
// apply the cell's number format — "1.23E+02", "01-15-24" — so cells are
// read raw and only numbers are looked at again: their type (a number, or
// text that looks like one, "00123") and, for numbers, whether their
// format is a date.
type xlsxCells struct {
	f         *excelize.File
	attrs     *xlsxCellAttrs
	date1904  bool
	dateStyle map[int]bool // style id → its number format shows a date
}

func (c *xlsxCells) value(col, row int, raw string) (string, error) {
	if raw == "" {
		return raw, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil {
		return raw, nil // text, an error value (#N/A), a boolean
	}
	typ, style, err := c.attrs.cell(col, row)
	if err != nil {
		return "", err
	}
	switch typ {
	case "", "n":
	case "b":
		if n != 0 {
			return "TRUE", nil
		}
		return "FALSE", nil
	default:
		return raw, nil // text typed as text keeps its leading zeros
	}
	isDate, ok := c.dateStyle[style]
	if !ok {
		isDate = c.styleIsDate(style)
		c.dateStyle[style] = isDate
	}
	if isDate {
		if t, err := excelize.ExcelDateToTime(n, c.date1904); err == nil {
			return t.Format("2006-01-02"), nil
		}
	}
	if math.IsInf(n, 0) || math.IsNaN(n) {
		return raw, nil
	}
	return strconv.FormatFloat(n, 'f', -1, 64), nil
}

// xlsxBuiltInDateFormats are the built-in number formats (ECMA-376
// §18.8.30, and the East Asian ones) that show a date.
var xlsxBuiltInDateFormats = map[int]bool{
	14: true, 15: true, 16: true, 17: true, 22: true,
	27: true, 28: true, 29: true, 30: true, 31: true, 36: true,
	50: true, 51: true, 54: true, 57: true, 58: true,
}

func (c *xlsxCells) styleIsDate(id int) bool {
	st, err := c.f.GetStyle(id)
	if err != nil || st == nil {
		return false
	}
	if st.CustomNumFmt != nil {
		return formatShowsDate(*st.CustomNumFmt)
	}
	return xlsxBuiltInDateFormats[st.NumFmt]
}

// formatShowsDate reports whether a custom number format code shows a day
// or a year: "yyyy-mm-dd", "d.m.yy", "[$-409]mmmm d, yyyy". Quoted text,
// escaped characters and [bracketed] parts (colours, locales, elapsed
// hours) do not count; "m" alone does not either, since it is also minutes.
func formatShowsDate(code string) bool {
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			} else {
				return false
			}
		case '\\', '_', '*':
			i++ // the next character is literal, or padding
		case '[':
			if j := strings.IndexByte(code[i:], ']'); j >= 0 {
				i += j
			}
		case 'd', 'D', 'y', 'Y':
			return true
		}
	}
	return false
}
