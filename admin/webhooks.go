package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// WebhookDeliveries reads the record of webhook batches that did not go
// through at the first attempt (the store).
type WebhookDeliveries interface {
	ListWebhookDeliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error)
}

// delivery is one record as the API shows it.
type delivery struct {
	ID           int64   `json:"id"`
	Endpoint     string  `json:"endpoint"`
	Tenant       string  `json:"tenant"`
	EventIDs     []int64 `json:"event_ids"`
	FirstCursor  string  `json:"first_cursor"`
	LastCursor   string  `json:"last_cursor"`
	Status       string  `json:"status"`
	Attempts     int     `json:"attempts"`
	LastStatus   int     `json:"last_status,omitempty"`
	LastError    string  `json:"last_error,omitempty"`
	FirstAttempt string  `json:"first_attempt"`
	LastAttempt  string  `json:"last_attempt"`
}

// listWebhookDeliveries: GET …/webhooks/deliveries?status=&endpoint=&limit=&cursor=,
// newest first.
func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, tenant string) {
	if a.services.Webhooks == nil {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "webhook deliveries are not configured")
		return
	}
	limit, ok := pageLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	q := store.WebhookDeliveryQuery{Tenant: tenant, Endpoint: r.URL.Query().Get("endpoint"), Limit: limit}
	switch s := r.URL.Query().Get("status"); s {
	case "", store.WebhookFailed, store.WebhookPending, store.WebhookDelivered:
		q.Status = s
	default:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "status", "status must be failed, pending or delivered")
		return
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n <= 0 {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "cursor", "cursor must be the next of an earlier page")
			return
		}
		q.BeforeID = n
	}
	recs, err := a.services.Webhooks.ListWebhookDeliveries(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]delivery, 0, len(recs))
	for _, d := range recs {
		ids := d.EventIDs
		if ids == nil {
			ids = []int64{}
		}
		out = append(out, delivery{ID: d.ID, Endpoint: d.Endpoint, Tenant: d.Tenant, EventIDs: ids, FirstCursor: d.First.String(),
			LastCursor: d.Last.String(), Status: d.Status, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError,
			FirstAttempt: d.FirstAttempt.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			LastAttempt:  d.LastAttempt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")})
	}
	next := ""
	if len(recs) == limit {
		next = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": out, "next": next})
}
