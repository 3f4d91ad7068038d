package admin

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestSheetWriterRoundTrip: what sheetWriter writes, excelize (the
// import's reader) reads back as it was: spaces at the ends, line feeds,
// markup, a literal _xHHHH_, control characters; a value over a cell's
// 32,767 characters is cut there.
func TestSheetWriterRoundTrip(t *testing.T) {
	long := strings.Repeat("é", 40_000)
	rows := [][]string{
		{"email", "given_name", "note"},
		{"ann@example.com", " padded ", "two\nlines"},
		{"<b>&amp;</b>", "_x0041_ stays", "bell\x07 and nul\x00"},
		{"=1+1", "007", "日本語 😀"},
		{"", "tab\tinside", long},
	}
	var buf bytes.Buffer
	sw, err := newSheetWriter(&buf, "Cards")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := sw.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	got := readXLSX(t, buf.String())
	rows[4][2] = strings.Repeat("é", 32_767)
	if len(got) != len(rows) {
		t.Fatalf("%d rows read back, want %d", len(got), len(rows))
	}
	for i := range rows {
		for j := range rows[i] {
			if got[i][j] != rows[i][j] {
				g, w := got[i][j], rows[i][j]
				if len(g) > 60 || len(w) > 60 {
					g, w = g[:min(len(g), 60)]+"…", w[:min(len(w), 60)]+"…"
				}
				t.Errorf("row %d cell %d: read %q (%d bytes), wrote %q (%d bytes)", i, j, g, len(got[i][j]), w, len(rows[i][j]))
			}
		}
	}
}

// TestSheetWriterFull: the row after a worksheet's last is refused.
func TestSheetWriterFull(t *testing.T) {
	sw, err := newSheetWriter(io.Discard, "Cards")
	if err != nil {
		t.Fatal(err)
	}
	for i := range excelize.TotalRows {
		if err := sw.Row([]string{""}); err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
	}
	if err := sw.Row([]string{""}); !errors.Is(err, errSheetFull) {
		t.Fatalf("row %d: %v, want errSheetFull", excelize.TotalRows+1, err)
	}
}
