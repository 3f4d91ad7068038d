package admin

import (
	"net/http"

	"github.com/rosterd/rosterd/sync/filefeed"
)

// importTemplate serves a CSV whose header row lists the columns an import
// recognises, for the admin's "download template".
func (a *API) importTemplate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rosterd-import-template.csv"`)
	w.Write(filefeed.Template())
}
