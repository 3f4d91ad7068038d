package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/rosterd/rosterd/admin"
)

// The Users page's exports: every card its filter selects (its sort
// too, no paging), written by the admin API's own export writers
// (admin.WriteCardsCSV and WriteCardsXLSX), so the files are those of
// GET …/cards/export.csv|xlsx and the import reads them back.

// usersExportCSV: GET /console/t/{t}/users/export.csv?<the page's filter>.
func (c *Console) usersExportCSV(w http.ResponseWriter, r *http.Request, t Tenant) {
	f, ok := c.exportFilter(w, r, t)
	if !ok {
		return
	}
	begun := false
	err := admin.WriteCardsCSV(r.Context(), c.deps.Directory, f.Query, w, func() {
		begun = true
		c.exportHeaders(w, t, "csv", "text/csv; charset=utf-8")
	})
	switch {
	case err == nil:
	case !begun:
		c.exportFailed(w, r, err)
	case r.Context().Err() != nil:
		// The browser went away.
	default:
		// Part of the file is out: cut the connection, so that a truncated
		// export never looks complete.
		c.deps.Logger.Error("console export failed", "tenant", t.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// usersExportXLSX: GET /console/t/{t}/users/export.xlsx?<the page's
// filter> — written to a temporary file first, so that a failure is a
// clean error page, never a truncated workbook.
func (c *Console) usersExportXLSX(w http.ResponseWriter, r *http.Request, t Tenant) {
	f, ok := c.exportFilter(w, r, t)
	if !ok {
		return
	}
	spool, err := admin.SpoolCardsXLSX(r.Context(), c.deps.Directory, f.Query)
	if err != nil {
		c.exportFailed(w, r, err)
		return
	}
	defer spool.Close()
	c.exportHeaders(w, t, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Length", strconv.FormatInt(spool.Size, 10))
	if _, err := io.Copy(w, spool); err != nil {
		c.deps.Logger.Error("console export failed", "tenant", t.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportFilter reads the users page's filter; its cursor is ignored (an
// export is every page).
func (c *Console) exportFilter(w http.ResponseWriter, r *http.Request, t Tenant) (usersFilter, bool) {
	v := r.URL.Query()
	v.Del("cursor")
	f, problem := parseUsersFilter(t.ID, v)
	if problem != "" {
		c.errorPage(w, r, http.StatusBadRequest, problem)
		return f, false
	}
	return f, true
}

func (c *Console) exportHeaders(w http.ResponseWriter, t Tenant, ext, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rosterd-%s-cards.%s"`, t.ID, ext))
	h.Set("Cache-Control", "no-store")
}

// exportFailed answers an export that wrote nothing yet.
func (c *Console) exportFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, admin.ErrTooManyCustomAttributes) || errors.Is(err, admin.ErrTooManyRows) {
		c.errorPage(w, r, http.StatusBadRequest, "No export: "+err.Error()+".")
		return
	}
	c.fail(w, r, err)
}
