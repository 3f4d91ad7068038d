package admin

import (
	"errors"
	"net/http"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// event is one change as the feed hands it out.
type event struct {
	// ID identifies the event, to deduplicate (deliveries are at least once).
	ID     int64  `json:"id"`
	Cursor string `json:"cursor"`
	Type   string `json:"type"`
	Tenant string `json:"tenant"`
	CardID string `json:"card_id"`
	At     string `json:"at"`
	Actor  string `json:"actor,omitempty"`
	Source string `json:"source,omitempty"`
	// Data: the card after the change, what changed, and the reason.
	Data rawJSON `json:"data"`
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

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
	out := make([]event, 0, len(events))
	next := after
	for _, e := range events {
		out = append(out, event{ID: e.ID, Cursor: e.Cursor.String(), Type: e.Type, Tenant: e.Tenant, CardID: e.CardID,
			At: e.At.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), Actor: e.Actor, Source: e.Source, Data: e.Data})
		next = e.Cursor
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"events": out, "next": next.String()})
}
