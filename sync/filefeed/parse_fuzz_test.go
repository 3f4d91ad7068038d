package filefeed

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzLimits are small, so that what the caps guard is reached: no input
// may make a parse hold more than a few MB.
var fuzzLimits = Limits{MaxFileSize: 1 << 20, MaxLineLength: 4 << 10, MaxCellLength: 1 << 10, XLSXMaxExpandedSize: 4 << 20, XLSXMaxCompressionRatio: 100}

// checkLines: every record and flag names a line of the file, 1..lines.
func checkLines(t *testing.T, file string, lines int, recs, flags []string) {
	t.Helper()
	for _, l := range append(recs, flags...) {
		n, err := strconv.Atoi(strings.TrimPrefix(l, file+":"))
		if !strings.HasPrefix(l, file+":") || err != nil || n < 1 || n > lines {
			t.Fatalf("line %q is not a line of %s (1..%d)", l, file, lines)
		}
	}
}

// FuzzParseRows: the text readers never panic, and every row is accounted
// for: with no quote in the file (so that no value spans lines), each
// line after the header that is not blank is a record or is flagged, with
// its own line number.
func FuzzParseRows(f *testing.F) {
	for _, tc := range parseGoldenCases {
		if tc.gen != nil || strings.HasSuffix(tc.file, ".xlsx") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "parse", tc.file))
		if err != nil {
			continue
		}
		_, body, _ := bytes.Cut(data, []byte("\n"))
		delim := byte(',')
		if strings.HasSuffix(tc.file, ".tsv") {
			delim = '\t'
		}
		f.Add(delim, body)
	}
	f.Add(byte('\t'), []byte("ann@example.com\t\"Ann\nBob\t\"x\"y\nann@example.com\t\"open"))
	f.Add(byte(';'), []byte("a@example.com;Ann;extra\n;;\nA@EXAMPLE.COM;x\n"))
	f.Fuzz(func(t *testing.T, delim byte, body []byte) {
		switch delim {
		case ',', ';', '\t', '|':
		default:
			delim = ','
		}
		d := string(delim)
		data := append([]byte("Email"+d+"First Name"+d+"Employee ID\n"), body...)
		for _, opt := range []ParseOptions{{Limits: fuzzLimits}, {Key: "employee_id", Limits: fuzzLimits}} {
			snap, err := Parse("f.txt", data, opt)
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("error %T %v is not a *ParseError", err, err)
				}
				continue
			}
			lines := bytes.Count(data, []byte{'\n'}) + 1
			seen := map[string]bool{}
			var recs, flags []string
			for _, r := range snap.Records {
				recs = append(recs, r.Line)
				seen[r.Line] = true
			}
			for _, fl := range snap.Flagged {
				flags = append(flags, fl.Line)
				seen[fl.Line] = true
			}
			checkLines(t, "f.txt", lines, recs, flags)
			if bytes.IndexByte(data, '"') >= 0 {
				continue
			}
			for i, line := range strings.Split(string(body), "\n") {
				blank := true
				for _, c := range strings.Split(line, d) {
					if strings.TrimSpace(c) != "" {
						blank = false
					}
				}
				if n := "f.txt:" + strconv.Itoa(i+2); !blank && !seen[n] {
					t.Fatalf("line %d (%q) is neither a record nor flagged: records %v, flagged %v", i+2, line, recs, snap.Flagged)
				}
			}
		}
	})
}

// fuzzWorkbook wraps a sheet's XML in a workbook (stored, not deflated,
// so that the fuzzer's changes reach excelize's XML reading).
func fuzzWorkbook(sheet, shared []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, content []byte) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(content)
	}
	add("[Content_Types].xml", []byte(`<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`))
	add("_rels/.rels", []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`))
	add("xl/workbook.xml", []byte(`<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`))
	add("xl/_rels/workbook.xml.rels", []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`))
	add("xl/worksheets/sheet1.xml", sheet)
	add("xl/sharedStrings.xml", shared)
	zw.Close()
	return buf.Bytes()
}

const fuzzSheet = `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
	`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>` +
	`<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c><c r="B2"><v>00123</v></c></row>` +
	`<row r="3"><c r="A3" t="s"><v>2</v></c><c r="B3" t="n"><v>1.5E3</v></c></row></sheetData></worksheet>`

const fuzzShared = `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3">` +
	`<si><t>Email</t></si><si><t>Employee ID</t></si><si><t>bob@example.com</t></si></sst>`

// FuzzParseXLSX: no workbook panics the parser or gets past its caps;
// an error is always a *ParseError, and every record and flag names a
// row. wrap: data is the sheet's XML inside a workbook; otherwise data
// is the whole file.
func FuzzParseXLSX(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "parse", "leading-zeros.xlsx")); err == nil {
		f.Add(false, data, []byte{})
	}
	f.Add(true, []byte(fuzzSheet), []byte(fuzzShared))
	f.Add(true, []byte(strings.Replace(fuzzSheet, `<v>2</v>`, `<v>99</v>`, 1)), []byte(fuzzShared))
	f.Add(true, []byte(strings.Replace(fuzzSheet, `r="3"`, `r="1048577"`, 1)), []byte(fuzzShared))
	f.Fuzz(func(t *testing.T, wrap bool, data, shared []byte) {
		if wrap {
			data = fuzzWorkbook(data, shared)
		}
		if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
			return // not a zip: the text readers' business
		}
		snap, err := Parse("f.xlsx", data, ParseOptions{Limits: fuzzLimits})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		var recs, flags []string
		for _, r := range snap.Records {
			recs = append(recs, r.Line)
		}
		for _, fl := range snap.Flagged {
			flags = append(flags, fl.Line)
		}
		checkLines(t, "f.xlsx", 1<<20, recs, flags) // an XLSX sheet has at most 1,048,576 rows
	})
}
