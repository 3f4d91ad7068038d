package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// AuditBody is one audit line, its card snapshots as JSON.
type AuditBody struct {
	ID     int64           `json:"id"`
	CardID string          `json:"card_id,omitempty"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Source string          `json:"source,omitempty"`
	Action string          `json:"action"`
	RunID  string          `json:"run_id,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Detail string          `json:"detail,omitempty"`
}

// listAudit: GET …/audit?card=&actor=&run=&since=&until=&cursor=&limit=,
// oldest first: a card's lines, or without card the tenant's whole trail
// (lines of no card included: logins refused before they reached one,
// emails given up). actor, run (a sync run's or bulk job's id), since and
// until filter the lines read.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, tenant string) {
	v := r.URL.Query()
	card := v.Get("card")
	limit, ok := pageLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	var since, until time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &since}, {"until", &until}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", p.name, p.name+" must be an RFC 3339 time, like 2026-11-20T09:00:00Z")
				return
			}
			*p.t = t
		}
	}
	var after int64
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "cursor", "cursor must be the next value of the previous page")
			return
		}
		after = n
	}
	read := func(after int64) ([]store.AuditEvent, error) {
		return a.services.Store.ListTenantAudit(r.Context(), tenant, after, 1000)
	}
	if card != "" {
		if _, err := a.services.Directory.Get(r.Context(), tenant, card); err != nil {
			a.fail(w, r, err)
			return
		}
		read = func(after int64) ([]store.AuditEvent, error) {
			return a.services.Store.ListAudit(r.Context(), tenant, card, after, 1000)
		}
	}
	actorName, runID := v.Get("actor"), v.Get("run")
	var out []AuditBody
	next := ""
	// Filtering happens here, so a page may need several reads.
	for len(out) <= limit {
		events, err := read(after)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, e := range events {
			after = e.ID
			if (actorName != "" && e.Actor != actorName) || (runID != "" && e.RunID != runID) || (!since.IsZero() && e.At.Before(since)) || (!until.IsZero() && !e.At.Before(until)) {
				continue
			}
			out = append(out, auditBody(e))
			if len(out) > limit {
				break
			}
		}
		if len(events) < 1000 {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
		next = strconv.FormatInt(out[limit-1].ID, 10)
	}
	if out == nil {
		out = []AuditBody{}
	}
	daemon.WriteJSON(w, http.StatusOK, struct {
		Events []AuditBody `json:"events"`
		Next   string      `json:"next,omitempty"`
	}{out, next})
}

func auditBody(e store.AuditEvent) AuditBody {
	b := AuditBody{ID: e.ID, CardID: e.CardID, At: e.At, Actor: e.Actor, Source: e.Source, Action: e.Action, RunID: e.RunID, Detail: e.Detail}
	if json.Valid(e.Before) {
		b.Before = e.Before
	}
	if json.Valid(e.After) {
		b.After = e.After
	}
	return b
}
