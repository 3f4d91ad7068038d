package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/rosterd/rosterd/internal/daemon"
)

// exportCardsXLSX: GET …/cards/export.xlsx — export.csv's columns
// (custom.<name> ones too, see exportHeader), filters and sort as a
// workbook (WriteCardsXLSX), written to a temporary file and sent once
// every row is in, so a failure on the way answers a clean 500, never a
// truncated file.
func (a *API) exportCardsXLSX(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant, exportParams)
	if !ok {
		return
	}
	spool, err := SpoolCardsXLSX(r.Context(), a.services.Directory, q)
	switch {
	case errors.Is(err, ErrTooManyRows):
		daemon.WriteError(w, http.StatusBadRequest, "too_many_rows", "", err.Error())
		return
	case err != nil:
		a.exportHeaderFailed(w, r, err)
		return
	}
	defer spool.Close()
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rosterd-%s-cards.xlsx"`, tenant))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.FormatInt(spool.Size, 10))
	if _, err := io.Copy(w, spool); err != nil {
		// Part of the file may be out: cut the connection so that it never
		// looks complete.
		a.logger.Error("exporting cards as XLSX", "tenant", tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
}
