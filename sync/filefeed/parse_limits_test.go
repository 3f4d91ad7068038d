package filefeed

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// smallWorkbook is a valid roster workbook of a few rows.
func smallWorkbook(t *testing.T, rows ...[]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetRow("Sheet1", "A1", &[]any{"Email", "First Name"}); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+2), &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rezip copies a workbook, letting edit replace an entry's content (nil:
// keep it) and adding extra entries.
func rezip(t *testing.T, data []byte, edit func(name string, content []byte) []byte, extra map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	write := func(name string, content []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			if c := edit(f.Name, content); c != nil {
				content = c
			}
		}
		write(f.Name, content)
	}
	for name, content := range extra {
		write(name, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// wantTooLarge checks err is a refusal of file naming the setting.
func wantTooLarge(t *testing.T, err error, file, setting string) {
	t.Helper()
	var pe *ParseError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.File != file || !strings.Contains(err.Error(), setting) {
		t.Fatalf("err = %v, want ErrTooLarge for %s naming %s", err, file, setting)
	}
}

// TestParseXLSXZipBomb: a sheet that expands a thousandfold, or parts
// beyond xlsx_max_expanded_size, refuse the workbook before it is
// unzipped; a bomb in a part no sheet needs (an image) is never read.
func TestParseXLSXZipBomb(t *testing.T) {
	base := smallWorkbook(t, []any{"ann@example.com", "Ann"})
	// 32 MiB of blanks inside the sheet's XML: valid, and some 32 KiB
	// compressed.
	padding := bytes.Repeat([]byte{' '}, 32<<20)
	bomb := rezip(t, base, func(name string, c []byte) []byte {
		if name == "xl/worksheets/sheet1.xml" {
			return bytes.Replace(c, []byte("</worksheet>"), append(padding, "</worksheet>"...), 1)
		}
		return nil
	}, nil)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes; want it small", len(bomb))
	}
	_, err := Parse("bomb.xlsx", bomb, ParseOptions{Feed: "hr"})
	wantTooLarge(t, err, "bomb.xlsx", "xlsx_max_compression_ratio 100")
	if !strings.Contains(err.Error(), "xl/worksheets/sheet1.xml") {
		t.Errorf("err = %v, want it to name the part", err)
	}

	// Expanded size: 3 MiB of text that does not compress, against a cap
	// of 2 MiB.
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 3<<20)
	for i := range noise {
		noise[i] = 'a' + byte(rng.IntN(26))
	}
	big := rezip(t, base, func(name string, c []byte) []byte {
		if name == "xl/worksheets/sheet1.xml" {
			return bytes.Replace(c, []byte("</worksheet>"), append([]byte("<!--"+string(noise)+"-->"), "</worksheet>"...), 1)
		}
		return nil
	}, nil)
	_, err = Parse("big.xlsx", big, ParseOptions{Limits: Limits{XLSXMaxExpandedSize: 2 << 20}})
	wantTooLarge(t, err, "big.xlsx", "xlsx_max_expanded_size 2MiB")

	// The same bomb in a hidden sheet: not the roster sheet, so not read.
	hidden := func() []byte {
		f, err := excelize.OpenReader(bytes.NewReader(base))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.NewSheet("Notes"); err != nil {
			t.Fatal(err)
		}
		if err := f.SetSheetVisible("Notes", false); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	hiddenBomb := rezip(t, hidden, func(name string, c []byte) []byte {
		if name == "xl/worksheets/sheet2.xml" {
			return bytes.Replace(c, []byte("</worksheet>"), append(padding, "</worksheet>"...), 1)
		}
		return nil
	}, nil)
	if zr, err := zip.NewReader(bytes.NewReader(hiddenBomb), int64(len(hiddenBomb))); err != nil || !slices.ContainsFunc(zr.File, func(f *zip.File) bool {
		return f.Name == "xl/worksheets/sheet2.xml" && f.UncompressedSize64 > 32<<20
	}) {
		t.Fatalf("the hidden sheet holds no bomb: %v", err)
	}
	if snap, err := Parse("hidden.xlsx", hiddenBomb, ParseOptions{}); err != nil || len(snap.Records) != 1 {
		t.Fatalf("a workbook with a bomb in a hidden sheet: %d records, %v; want the roster sheet read", len(snap.Records), err)
	}

	// The same bomb as an image: not a part a sheet needs, so not read.
	withImage := rezip(t, base, nil, map[string][]byte{"xl/media/image1.png": padding})
	snap, err := Parse("image.xlsx", withImage, ParseOptions{})
	if err != nil || len(snap.Records) != 1 {
		t.Fatalf("a workbook with a bomb in an image: %d records, %v; want the sheet read", len(snap.Records), err)
	}
}

// TestParseCellAndLineLimits: a value over max_cell_length and a row over
// max_line_length refuse the file, naming its line and the setting; CSV,
// TSV and XLSX alike.
func TestParseCellAndLineLimits(t *testing.T) {
	huge := strings.Repeat("x", 100<<10) // over the default 64 KiB
	for _, tc := range []struct {
		name, data string
		opt        ParseOptions
		line       int
		setting    string
	}{
		{"big.csv", "Email,First Name\nann@example.com,Ann\nbob@example.com," + huge + "\n", ParseOptions{}, 3, "max_cell_length 64KiB"},
		{"big.tsv", "Email\tFirst Name\nann@example.com\tAnn\nbob@example.com\t" + huge + "\n", ParseOptions{}, 3, "max_cell_length 64KiB"},
		{"long.csv", "Email,Notes\nann@example.com,\"" + strings.Repeat("line\n", 300) + "\"\n", ParseOptions{Limits: Limits{MaxLineLength: 1000, MaxCellLength: 500}}, 2, "max_line_length 1000B"},
		{"long.tsv", "Email\tA\tB\tC\nann@example.com\t" + strings.Repeat("y", 600) + "\t" + strings.Repeat("z", 600) + "\n", ParseOptions{Limits: Limits{MaxLineLength: 1000, MaxCellLength: 1000}}, 2, "max_line_length 1000B"},
		{"header.csv", "Email," + huge + "\n", ParseOptions{}, 1, "max_cell_length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.name, []byte(tc.data), tc.opt)
			wantTooLarge(t, err, tc.name, tc.setting)
			var pe *ParseError
			if errors.As(err, &pe); pe.Line != tc.line {
				t.Errorf("err = %v, want it on line %d", err, tc.line)
			}
		})
	}
	t.Run("xlsx", func(t *testing.T) {
		data := smallWorkbook(t, []any{"ann@example.com", strings.Repeat("x", 2000)})
		_, err := Parse("big.xlsx", data, ParseOptions{Limits: Limits{MaxCellLength: 1000}})
		wantTooLarge(t, err, "big.xlsx", "max_cell_length 1000B")
	})
}

// TestParseMaxFileSize: a file over max_file_size is refused, and a
// stream is not read past the limit.
func TestParseMaxFileSize(t *testing.T) {
	data := []byte("Email\n" + strings.Repeat("someone@example.com\n", 100))
	_, err := Parse("hr.csv", data, ParseOptions{Feed: "hr", Limits: Limits{MaxFileSize: 1000}})
	wantTooLarge(t, err, "hr.csv", "max_file_size 1000B")

	src := &rosterStream{rows: 1_000_000, filler: "x", sample: func() {}}
	_, err = ParseReader("stream.csv", src, ParseOptions{Limits: Limits{MaxFileSize: 64 << 10}})
	wantTooLarge(t, err, "stream.csv", "max_file_size 64KiB")
	if src.next > 10_000 {
		t.Errorf("read %d rows of a stream over the limit; want it stopped near 64 KiB", src.next)
	}
}
