package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/csvsafe"
)

// The card exports, export.csv and export.xlsx, as functions of the
// directory and a card query, so that the console's Users page exports
// what it shows with the same writer as GET …/cards/export.csv|xlsx,
// without calling the API over HTTP.

// ExportDirectory is what an export reads of the directory
// (*directory.Service).
type ExportDirectory interface {
	Now() time.Time
	List(ctx context.Context, q directory.ListQuery) (directory.Page, error)
	CustomAttributeNames(ctx context.Context, q directory.ListQuery, limit int) ([]string, error)
	Claims(ctx context.Context, tenant, cardID string) ([]directory.Claim, error)
}

// ErrTooManyCustomAttributes: the selected cards have more custom
// attribute names than an export writes as columns.
var ErrTooManyCustomAttributes = fmt.Errorf("the cards the filters select have more than %d distinct custom attributes, "+
	"more than an export writes as columns: narrow the filters", maxExportCustomAttributes)

// ErrTooManyRows: an XLSX export of more cards than a worksheet holds.
var ErrTooManyRows = fmt.Errorf("the filters select more than %d cards, more than a worksheet holds: narrow them, or export CSV",
	excelize.TotalRows-1)

// exportPage is how many cards an export reads at a time.
const exportPage = 1000

// WriteCardsCSV writes the cards q selects (its filters and sort; every
// page, whatever its Cursor and Limit) as CSV to w, every cell made safe
// for spreadsheets, one page of cards in memory at a time; a w with a
// Flush() error method is flushed after each page. begin is called
// before the first byte is written: an error before it means nothing
// was (the caller may still answer cleanly), one after it a truncated
// file. Export, edit, import is lossless: see exportHeader.
func WriteCardsCSV(ctx context.Context, dir ExportDirectory, q directory.ListQuery, w io.Writer, begin func()) error {
	q.Cursor, q.Limit = "", exportPage
	header, custom, err := exportHeader(ctx, dir, q)
	if err != nil {
		return err
	}
	page, err := dir.List(ctx, q)
	if err != nil {
		return err
	}
	begin()
	cw := csvsafe.NewWriter(w) // every cell made safe for spreadsheets
	cw.Write(header)
	now := dir.Now()
	for {
		sources, err := sourcesOf(ctx, dir, q.Tenant, page.Cards)
		if err != nil {
			return err
		}
		for _, c := range page.Cards {
			cw.Write(exportRow(c, sources[c.ID], now, custom)) // the writer guards every cell
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if f, ok := w.(interface{ Flush() error }); ok {
			_ = f.Flush()
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
		if page, err = dir.List(ctx, q); err != nil {
			return err
		}
	}
}

// WriteCardsXLSX writes the cards q selects as a workbook of one sheet,
// "Cards", with export.csv's columns, to out: rows go through
// sheetWriter straight into the zip, so memory stays flat however many
// cards there are. The workbook is whole only when it returns nil, so
// callers write it to a temporary file and send that, never a truncated
// file. Every cell is text (an employee id keeps its leading zeros, a
// value starting with "=" is no formula), and the import reads the file
// back.
func WriteCardsXLSX(ctx context.Context, dir ExportDirectory, q directory.ListQuery, out io.Writer) error {
	q.Cursor, q.Limit = "", exportPage
	header, custom, err := exportHeader(ctx, dir, q)
	if err != nil {
		return err
	}
	sw, err := newSheetWriter(out, "Cards")
	if err == nil {
		err = sw.Row(header)
	}
	if err != nil {
		return fmt.Errorf("writing the XLSX export: %w", err)
	}
	now := dir.Now()
	for {
		page, err := dir.List(ctx, q)
		if err != nil {
			return err
		}
		sources, err := sourcesOf(ctx, dir, q.Tenant, page.Cards)
		if err != nil {
			return err
		}
		for _, c := range page.Cards {
			if err := sw.Row(exportRow(c, sources[c.ID], now, custom)); errors.Is(err, errSheetFull) {
				return ErrTooManyRows
			} else if err != nil {
				return fmt.Errorf("writing the XLSX export: %w", err)
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if err := sw.Close(); err != nil {
		return fmt.Errorf("writing the XLSX export: %w", err)
	}
	return nil
}

// exportHeader is the header of an export of the cards q selects:
// exportColumns, then one custom.<name> column per custom attribute name
// any of them has, sorted by name, which the import reads back as that
// custom attribute without a mapping. It also returns the names, for
// exportRow.
//
// The export streams page by page, so the names must be known before the
// first row: one query for the distinct names of the selected cards (see
// store.CustomAttributeNames), which the database answers in one pass
// over them keeping only the names, rather than a first pass here over
// every page. The custom columns come after the others so that every
// other column keeps its place whatever the custom attributes are. A name
// first written while the export runs is not in its header (pages are
// read one after another, the file is no snapshot of one instant).
func exportHeader(ctx context.Context, dir ExportDirectory, q directory.ListQuery) (header, custom []string, err error) {
	custom, err = dir.CustomAttributeNames(ctx, q, maxExportCustomAttributes+1)
	if err != nil {
		return nil, nil, err
	}
	if len(custom) > maxExportCustomAttributes {
		return nil, nil, ErrTooManyCustomAttributes
	}
	header = make([]string, 0, len(exportColumns)+len(custom))
	header = append(header, exportColumns...)
	for _, name := range custom {
		header = append(header, "custom."+name)
	}
	return header, custom, nil
}

// ClaimsOfCards is the batch read a store may offer: the claims of many
// cards in one query. Without it the export reads each card's claims.
type ClaimsOfCards interface {
	ClaimsOfCards(ctx context.Context, tenant string, cardIDs []string) (map[string][]directory.Claim, error)
}

func sourcesOf(ctx context.Context, dir ExportDirectory, tenant string, cards []directory.Card) (map[string][]string, error) {
	out := make(map[string][]string, len(cards))
	if batch, ok := dir.(ClaimsOfCards); ok {
		ids := make([]string, len(cards))
		for i, c := range cards {
			ids[i] = c.ID
		}
		claims, err := batch.ClaimsOfCards(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		for id, cs := range claims {
			out[id] = liveSources(cs)
		}
		return out, nil
	}
	for _, c := range cards {
		claims, err := dir.Claims(ctx, tenant, c.ID)
		if err != nil {
			return nil, err
		}
		out[c.ID] = liveSources(claims)
	}
	return out, nil
}

// Spool is a finished export in a temporary file, at its start; Close
// removes it.
type Spool struct {
	*os.File
	Size int64
}

// Close closes and removes the file.
func (s *Spool) Close() error {
	s.File.Close()
	return os.Remove(s.Name())
}

// SpoolCardsXLSX writes the workbook of WriteCardsXLSX to a temporary
// file, so that a caller sends it, with its length, only once it is
// whole: a failure on the way is a clean error, never a truncated file.
// WriteCardsXLSX's errors come back as they are.
func SpoolCardsXLSX(ctx context.Context, dir ExportDirectory, q directory.ListQuery) (*Spool, error) {
	tmp, err := os.CreateTemp("", "rosterd-export-*.xlsx")
	if err != nil {
		return nil, fmt.Errorf("writing the XLSX export: %w", err)
	}
	s := &Spool{File: tmp}
	if err := WriteCardsXLSX(ctx, dir, q, tmp); err != nil {
		s.Close()
		return nil, err
	}
	if s.Size, err = tmp.Seek(0, io.SeekEnd); err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("writing the XLSX export: %w", err)
	}
	return s, nil
}
