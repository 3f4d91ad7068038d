package admin

import (
	"errors"
	"net/http"
	"slices"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
)

// The card list, its stats and its export take directory.ListQuery's
// parameters, parsed and checked in package directory (so that the
// console accepts the same): each endpoint names the ones it takes, and
// any other is a 400 naming it — a typo such as ?stauts= never widens a
// list to everyone.
var (
	listParams   = slices.Concat(directory.FilterParams, directory.PageParams)
	exportParams = slices.Concat(directory.FilterParams, []string{"sort"})
	statsParams  = directory.FilterParams
)

// listQuery reads a card query from the URL; on a bad parameter it
// answers 400 (code unknown_parameter or invalid_value, field the
// parameter) and returns false.
func listQuery(w http.ResponseWriter, r *http.Request, tenant string, allowed []string) (directory.ListQuery, bool) {
	q, err := directory.ParseListQuery(tenant, r.URL.Query(), allowed, "")
	if err != nil {
		writeQueryError(w, err)
		return q, false
	}
	return q, true
}

func writeQueryError(w http.ResponseWriter, err error) {
	var qe *directory.QueryError
	if !errors.As(err, &qe) {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "", err.Error())
		return
	}
	code := "invalid_value"
	if qe.Unknown {
		code = "unknown_parameter"
	}
	daemon.WriteError(w, http.StatusBadRequest, code, qe.Param, qe.Message)
}
