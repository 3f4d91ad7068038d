package filefeed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/unicode"
)

// -update rewrites testdata/parse: the generated inputs (UTF-16, XLSX and
// other files whose bytes are awkward to write by hand) and every
// *.golden.json. The flag may be shared with other tests of the package.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and generated test inputs")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// parseGoldenCases are the messy inputs of testdata/parse and what to parse
// them with. gen, when set, makes the input; -update writes it, and every
// run checks the committed file is still what gen makes.
var parseGoldenCases = []struct {
	file string
	opt  ParseOptions
	gen  func(t *testing.T) []byte
}{
	{file: "utf8-bom-comma.csv", gen: func(*testing.T) []byte {
		return []byte("\uFEFFEmail,First Name,Last Name,Department,Title\r\n" +
			"juergen.mueller@example.com,Jürgen,Müller,Vertrieb,Leiter\r\n" +
			"zoe@example.com,Zoë,Ångström,R&D,\"Engineer, Platform\"\r\n")
	}},
	{file: "utf16le-tab.txt", gen: func(t *testing.T) []byte {
		return utf16Bytes(t, unicode.LittleEndian, true,
			"Email\tFirst Name\tLast Name\tDepartment\tTitle\r\n"+
				"yamada@example.com\t太郎\t山田\t営業\t\"課長\r\n(営業)\"\r\n"+
				"zoe@example.com\tZoë\tÅngström\tR&D\tEngineer, Platform\r\n"+
				"bad address\tNo\tOne\t\t\r\n")
	}},
	{file: "utf16be.csv", gen: func(t *testing.T) []byte {
		return utf16Bytes(t, unicode.BigEndian, true,
			"Email,Given Name,Family Name,Location\n"+
				"ana@example.com,Ana,Peña,Málaga\n"+
				"ole@example.com,Ole,Ødegård,Tromsø\n")
	}},
	{file: "utf16le-nobom.txt", gen: func(t *testing.T) []byte {
		return utf16Bytes(t, unicode.LittleEndian, false,
			"Email\tFirst Name\n"+
				"ann@example.com\tAnn\n")
	}},
	{file: "semicolon-quoted-newlines.csv"},
	{file: "pipe.csv"},
	{file: "duplicate-emails-different-case.csv"},
	{file: "missing-email-column.csv", opt: ParseOptions{Feed: "hr"}},
	{file: "bad-emails.csv"},
	{file: "status-terminated.csv"},
	{file: "custom-columns-config.csv", opt: ParseOptions{
		Feed: "hr",
		Key:  "employee_id",
		Columns: map[string]string{
			"Work Email":  "email",
			"Emp #":       "employee_id",
			"Cost Center": "custom.cost_center",
			"State":       "status",
		},
		InactiveValues: []string{"Left"},
	}},
	{file: "leading-zeros.xlsx", gen: genLeadingZerosXLSX, opt: ParseOptions{
		Key: "employee_id",
		Columns: map[string]string{
			"Start Date":  "custom.start_date",
			"Cost Center": "custom.cost_center",
			"Salary Band": "custom.salary_band",
			"Contractor":  "custom.contractor",
			"Updated":     "custom.updated",
		},
	}},
	{file: "trailing-empty-columns.csv"},
	{file: "blank-lines.csv"},
	{file: "truncated.csv", opt: ParseOptions{Feed: "hr"}},
	{file: "tsv-empty-fields.tsv"},
	// TSV: a " inside a value is text; a value opening with " that is
	// not closed properly is read literally, never losing the row.
	{file: "tsv-quotes.tsv"},
	// Excel's "Unicode Text": UTF-16 LE, CRLF, values with quotes or
	// line ends quoted (and "" inside), others as they are.
	{file: "utf16le-unicode-text-quotes.txt", gen: func(t *testing.T) []byte {
		return utf16Bytes(t, unicode.LittleEndian, true,
			"Email\tFirst Name\tTitle\tLocation\r\n"+
				"ann@example.com\tAnn\t\"Director, \"\"Apollo\"\" Software\"\tBerlin\r\n"+
				"bob@example.com\tBob\tDirector, \"Apollo\" Software\t\"Main St.\r\nBuilding 2\"\r\n"+
				"carol@example.com\tCarol\t\"Apollo\" lead\t\"Hamburg\r\n"+
				"dan@example.com\tDan\tEngineer\tK\u00f6ln\r\n")
	}},
	{file: "bad-quotes.csv"},
	{file: "ambiguous-email-columns.csv", opt: ParseOptions{Feed: "hr"}},
	{file: "employee-id-key.csv", opt: ParseOptions{Key: "employee_id"}},
	{file: "duplicate-attribute-columns.csv"},
	{file: "sep-line.csv"},
	{file: "cr-line-endings.csv", gen: func(*testing.T) []byte {
		return []byte("Email,First Name,Title\rann@example.com,Ann,\"Sales\rLead\"\rbob@example.com,Bob,Engineer\r")
	}},
	{file: "not-utf8.csv", opt: ParseOptions{Feed: "hr"}, gen: func(*testing.T) []byte {
		return []byte("Email,First Name,Last Name\nann@example.com,Ann,Lee\njm@example.com,J\xfcrgen,M\xfcller\n")
	}},
	{file: "legacy.xls", opt: ParseOptions{Feed: "hr"}, gen: func(*testing.T) []byte {
		return append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 504)...)
	}},
	{file: "header-only.csv"},
	{file: "empty.csv", opt: ParseOptions{Feed: "hr"}},
}

// goldenOf is what a golden file holds: the snapshot less Fetched, with
// its records and flags in file order, or the error.
func goldenOf(snap reconcile.Snapshot, err error) []byte {
	var v any = struct {
		Name    string             `json:"name"`
		Size    int64              `json:"size"`
		Hash    string             `json:"hash"`
		Records []reconcile.Record `json:"records"`
		Flagged []reconcile.Flag   `json:"flagged"`
	}{snap.Name, snap.Size, snap.Hash, snap.Records, snap.Flagged}
	if err != nil {
		v = struct {
			Error string `json:"error"`
		}{err.Error()}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestParseGolden(t *testing.T) {
	dir := filepath.Join("testdata", "parse")
	for _, tc := range parseGoldenCases {
		t.Run(tc.file, func(t *testing.T) {
			in := filepath.Join(dir, tc.file)
			if tc.gen != nil {
				want := tc.gen(t)
				if updating() {
					if err := os.WriteFile(in, want, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				got, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s is not what its generator makes; run go test -run ParseGolden -update", in)
				}
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := Parse(tc.file, data, tc.opt)
			got := goldenOf(snap, err)

			goldenPath := filepath.Join(dir, strings.TrimSuffix(tc.file, filepath.Ext(tc.file))+".golden.json")
			if updating() {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(goldenPath)
			if rerr != nil {
				t.Fatalf("%v (run go test -run ParseGolden -update)", rerr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s:\n--- got\n%s\n--- want\n%s", tc.file, goldenPath, got, want)
			}

			if err == nil {
				sum := sha256.Sum256(data)
				if snap.Hash != hex.EncodeToString(sum[:]) || snap.Size != int64(len(data)) || snap.Name != tc.file {
					t.Errorf("snapshot identity = %q %d %s, want %q %d %x", snap.Name, snap.Size, snap.Hash, tc.file, len(data), sum)
				}
			}

			// The streaming path, fed a byte at a time, must agree byte
			// for byte: it exercises every chunk boundary of the readers.
			snap2, err2 := ParseReader(tc.file, iotest.OneByteReader(bytes.NewReader(data)), tc.opt)
			if got2 := goldenOf(snap2, err2); !bytes.Equal(got2, got) {
				t.Errorf("ParseReader(%s) differs from Parse:\n--- ParseReader\n%s\n--- Parse\n%s", tc.file, got2, got)
			}
		})
	}
}

func utf16Bytes(t *testing.T, e unicode.Endianness, bom bool, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(e, unicode.IgnoreBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if !bom {
		return b
	}
	mark := []byte{0xFF, 0xFE}
	if e == unicode.BigEndian {
		mark = []byte{0xFE, 0xFF}
	}
	return append(mark, b...)
}

// genLeadingZerosXLSX makes a workbook whose first sheet is hidden (a
// decoy: the roster is the first visible sheet) and whose roster sheet
// starts with an empty row and mixes text, numbers, dates and booleans.
func genLeadingZerosXLSX(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Notes"))
	must(f.SetSheetRow("Notes", "A1", &[]any{"Employee ID", "Email"}))
	must(f.SetSheetRow("Notes", "A2", &[]any{"999", "decoy@example.com"}))
	roster, err := f.NewSheet("Roster")
	must(err)
	f.SetActiveSheet(roster)
	must(f.SetSheetVisible("Notes", false))

	date, err := f.NewStyle(&excelize.Style{NumFmt: 14}) // built-in m/d/yy
	must(err)
	dmy := "dd.mm.yyyy"
	german, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dmy})
	must(err)
	stamp := "yyyy-mm-dd hh:mm"
	dateTime, err := f.NewStyle(&excelize.Style{CustomNumFmt: &stamp})
	must(err)
	sci, err := f.NewStyle(&excelize.Style{NumFmt: 11}) // 0.00E+00
	must(err)
	textFmt, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // @
	must(err)

	// Row 1 is left empty: the header is the first non-empty row.
	must(f.SetSheetRow("Roster", "A2", &[]any{"Employee ID", "Email", "First Name", "Start Date", "Cost Center", "Salary Band", "Contractor", "Updated"}))
	must(f.SetCellStr("Roster", "A3", "00123"))
	must(f.SetCellStyle("Roster", "A3", "A3", textFmt))
	must(f.SetSheetRow("Roster", "B3", &[]any{"ann@example.com", "Ann"}))
	must(f.SetCellValue("Roster", "D3", time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)))
	must(f.SetCellStyle("Roster", "D3", "D3", date))
	must(f.SetCellStr("Roster", "E3", "0042"))
	must(f.SetCellInt("Roster", "F3", 1234567890123))
	must(f.SetCellBool("Roster", "G3", false))
	must(f.SetCellFloat("Roster", "H3", 45292.75, -1, 64))
	must(f.SetCellStyle("Roster", "H3", "H3", dateTime))

	must(f.SetCellInt("Roster", "A4", 123))
	must(f.SetSheetRow("Roster", "B4", &[]any{"bob@example.com", "Bob"}))
	must(f.SetCellFloat("Roster", "D4", 44561, -1, 64)) // 2021-12-31
	must(f.SetCellStyle("Roster", "D4", "D4", german))
	must(f.SetCellFloat("Roster", "E4", 4.5, -1, 64))
	must(f.SetCellFloat("Roster", "F4", 123, -1, 64))
	must(f.SetCellStyle("Roster", "F4", "F4", sci))
	must(f.SetCellBool("Roster", "G4", true))

	// Row 5 is empty; row 6 repeats an id as a number, row 7 has none.
	must(f.SetSheetRow("Roster", "A6", &[]any{123, "carol@example.com", "Carol"}))
	must(f.SetSheetRow("Roster", "B7", &[]any{"dan@example.com", "Dan"}))
	must(f.SetCellFloat("Roster", "A8", 124.0, -1, 64))
	must(f.SetSheetRow("Roster", "B8", &[]any{"erin@example.com", "Erin"}))

	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
