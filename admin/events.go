package admin

import (
	"errors"
	"net/http"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/store"
)

// listEvents is the pull side of the change feed: GET …/events?after=&limit=.
// A reader that keeps the last cursor and asks again sees every event once,
// in order; a cursor older than retention is 410.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request, tenant string) {
	if a.services.Events == nil {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the event feed is not configured")
		return
	}
	limit, ok := pageLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	after, err := store.ParseEventCursor(r.URL.Query().Get("after"))
	if err != nil {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "after", "after must be a cursor the feed handed out")
		return
	}
	events, err := a.services.Events.EventsAfter(r.Context(), tenant, after, limit)
	if errors.Is(err, store.ErrGone) {
		daemon.WriteError(w, http.StatusGone, "cursor_expired", "after",
			"events before this cursor were removed by retention: start again without a cursor and reconcile")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := after
	if len(events) > 0 {
		next = events[len(events)-1].Cursor
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"events": webhook.Wire(events), "next": next.String()})
}
