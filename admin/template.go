package admin

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rosterd/rosterd/sync/filefeed"
)

// importTemplate serves a CSV whose header row lists the columns an import
// recognises, for the admin's "download template".
func (a *API) importTemplate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rosterd-import-template.csv"`)
	w.Write(filefeed.Template())
}

// importTemplateXLSX serves the same header row as a workbook of one
// sheet, "People", every cell text, which the import reads as it reads
// the CSV.
func (a *API) importTemplateXLSX(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	sw, err := newSheetWriter(&buf, "People")
	if err == nil {
		err = sw.Row(filefeed.TemplateHeaders())
	}
	if err == nil {
		err = sw.Close()
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("writing the XLSX template: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="rosterd-import-template.xlsx"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
