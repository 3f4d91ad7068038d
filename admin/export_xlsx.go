package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/xuri/excelize/v2"

	"github.com/rosterd/rosterd/internal/daemon"
)

// exportCardsXLSX: GET …/cards/export.xlsx — export.csv's columns
// (custom.<name> ones too, see exportHeader),
// filters and sort as a workbook of one sheet, "Cards". Rows go through
// sheetWriter straight into a zip in a temporary file, so memory stays
// flat however many cards there are; the workbook is sent once every row
// is in, so a failure on the way answers a clean 500, never a truncated
// file. Every cell is text (an employee id keeps its leading zeros, a
// value starting with "=" is no formula), and the import reads the file
// back.
func (a *API) exportCardsXLSX(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant, exportParams)
	if !ok {
		return
	}
	q.Limit = 1000
	ctx := r.Context()
	dir := a.services.Directory
	header, custom, err := a.exportHeader(ctx, q)
	if err != nil {
		a.exportHeaderFailed(w, r, err)
		return
	}
	tmp, err := os.CreateTemp("", "rosterd-export-*.xlsx")
	if err != nil {
		a.fail(w, r, fmt.Errorf("writing the XLSX export: %w", err))
		return
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	sw, err := newSheetWriter(tmp, "Cards")
	if err == nil {
		err = sw.Row(header)
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("writing the XLSX export: %w", err))
		return
	}
	now := dir.Now()
	for {
		page, err := dir.List(ctx, q)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		sources, err := a.sourcesOf(ctx, tenant, page.Cards)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, c := range page.Cards {
			if err := sw.Row(exportRow(c, sources[c.ID], now, custom)); errors.Is(err, errSheetFull) {
				daemon.WriteError(w, http.StatusBadRequest, "too_many_rows", "", fmt.Sprintf(
					"the filters select more than %d cards, more than a worksheet holds: narrow them, or use export.csv", excelize.TotalRows-1))
				return
			} else if err != nil {
				a.fail(w, r, fmt.Errorf("writing the XLSX export: %w", err))
				return
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if err := sw.Close(); err != nil {
		a.fail(w, r, fmt.Errorf("writing the XLSX export: %w", err))
		return
	}
	size, err := tmp.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("writing the XLSX export: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rosterd-%s-cards.xlsx"`, tenant))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	if _, err := io.Copy(w, tmp); err != nil {
		// Part of the file may be out: cut the connection so that it never
		// looks complete.
		a.logger.Error("exporting cards as XLSX", "tenant", tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
}
