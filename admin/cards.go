package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// CardBody is a card as the API shows it: the stored card, its derived
// status, and (where asked for) the sources that list the person.
type CardBody struct {
	directory.Card
	Status  directory.Status `json:"status"`
	Sources []string         `json:"sources,omitempty"`
	// Links are the manager and relations, linked to their cards or
	// pending (a single card's GET only).
	Links map[string]directory.Link `json:"links,omitempty"`
}

func (a *API) cardBody(c directory.Card) CardBody {
	return CardBody{Card: c, Status: directory.StatusOf(c, a.services.Directory.Now())}
}

// liveSources names the sources whose claims still list the person.
func liveSources(claims []directory.Claim) []string {
	var out []string
	for _, c := range claims {
		if c.State != store.Withdrawn {
			out = append(out, c.Source)
		}
	}
	return out
}

// listCards: GET …/cards with the filters, sort, cursor and limit (see
// filters.go).
func (a *API) listCards(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant, listParams)
	if !ok {
		return
	}
	page, err := a.services.Directory.List(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cards := make([]CardBody, len(page.Cards))
	for i, c := range page.Cards {
		cards[i] = a.cardBody(c)
	}
	daemon.WriteJSON(w, http.StatusOK, struct {
		Cards []CardBody `json:"cards"`
		Next  string     `json:"next,omitempty"`
	}{cards, page.Next})
}

// cardStats: GET …/cards/stats — the number of cards per status, of the
// cards the filters select: one counting query.
func (a *API) cardStats(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant, statsParams)
	if !ok {
		return
	}
	got, err := a.services.Directory.Count(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	counts := map[directory.Status]int{}
	total := 0
	for _, s := range directory.Statuses {
		counts[s] = got[s]
		total += got[s]
	}
	body := map[string]any{"counts": counts, "enabled": directory.EnabledCount(counts), "total": total}
	if rs, ok := a.services.Directory.(interface {
		RoleAndGroupStats(ctx context.Context, q directory.ListQuery) (map[string]int, map[string]int, error)
	}); ok {
		roles, groups, err := rs.RoleAndGroupStats(r.Context(), q)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		body["roles"], body["groups"] = roles, groups
	}
	daemon.WriteJSON(w, http.StatusOK, body)
}

func (a *API) getCard(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	card, err := a.services.Directory.Get(r.Context(), tenant, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	claims, err := a.services.Directory.Claims(r.Context(), tenant, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body := a.cardBody(card)
	body.Sources = liveSources(claims)
	if body.Links, err = a.services.Directory.Links(r.Context(), card); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%d"`, card.Version))
	daemon.WriteJSON(w, http.StatusOK, body)
}

func (a *API) explainCard(w http.ResponseWriter, r *http.Request, tenant string) {
	e, err := a.services.Directory.Explain(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, e)
}

// editCard: PATCH …/cards/{id} with attributes. The fields sent replace
// those of the admin's own claim (an empty string clears one); the fields
// left out keep the admin's value. Admin attributes come first by
// precedence.
func (a *API) editCard(w http.ResponseWriter, r *http.Request, tenant string) {
	id := r.PathValue("id")
	claims, err := a.services.Directory.Claims(r.Context(), tenant, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var attrs directory.Attributes
	for _, c := range claims {
		if c.Source == directory.KindAdmin && c.State != store.Withdrawn {
			attrs = c.Attributes
		}
	}
	if _, err := a.services.Directory.Get(r.Context(), tenant, id); err != nil {
		a.fail(w, r, err)
		return
	}
	// Decoding into the current attributes merges: only the fields present
	// in the body change.
	if !decodeJSON(w, r, &attrs, false) {
		return
	}
	card, err := a.services.Directory.Edit(r.Context(), actor(r), tenant, id, attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, a.cardBody(card))
}

// disableCard: POST …/cards/{id}/disable {"reason": "…"} — the admin pin.
func (a *API) disableCard(w http.ResponseWriter, r *http.Request, tenant string) {
	a.reasonedAction(w, r, tenant, a.services.Directory.Disable)
}

// reasonedAction runs a card action that takes a reason from the body
// ({"reason": "…"}, at most 1,000 characters): disable, reject.
func (a *API) reasonedAction(w http.ResponseWriter, r *http.Request, tenant string,
	fn func(ctx context.Context, ac directory.Actor, tenant, cardID, reason string) (directory.Card, error)) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeJSON(w, r, &body, true) {
		return
	}
	if len(body.Reason) > 1000 {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "reason", "reason is longer than 1000 characters")
		return
	}
	card, err := fn(r.Context(), actor(r), tenant, r.PathValue("id"), body.Reason)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, a.cardBody(card))
}

type cardFunc func(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)

func (a *API) enable(ctx context.Context, ac directory.Actor, t, id string) (directory.Card, error) {
	return a.services.Directory.Enable(ctx, ac, t, id)
}

func (a *API) release(ctx context.Context, ac directory.Actor, t, id string) (directory.Card, error) {
	return a.services.Directory.Release(ctx, ac, t, id)
}

func (a *API) reinvite(ctx context.Context, ac directory.Actor, t, id string) (directory.Card, error) {
	return a.services.Directory.Reinvite(ctx, ac, t, id)
}

func (a *API) remind(ctx context.Context, ac directory.Actor, t, id string) (directory.Card, error) {
	return a.services.Directory.Remind(ctx, ac, t, id)
}

// cardAction serves the POSTs on one card that take no body: enable,
// release, reinvite, remind.
func (a *API) cardAction(fn cardFunc) tenantHandler {
	return func(w http.ResponseWriter, r *http.Request, tenant string) {
		var body struct{}
		if !decodeJSON(w, r, &body, true) {
			return
		}
		card, err := fn(r.Context(), actor(r), tenant, r.PathValue("id"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		daemon.WriteJSON(w, http.StatusOK, a.cardBody(card))
	}
}

// exportColumns is the export's header, before its custom.<name>
// columns (exportHeader). The columns up to status are the import's (POST
// …/imports reads each of them back under these names, and status as its
// status column: a disabled card comes back disabled); the rest are facts
// the import ignores.
var exportColumns = []string{"email", "given_name", "family_name", "display_name", "title", "department", "location",
	"employee_id", "manager_email", "role", "groups", "status", "sources", "last_login", "created",
	"last_known_source", "last_known_at", "role_source", "relations"}

// maxExportCustomAttributes caps the custom.<name> columns of an export.
// The names are few in practice (each comes from a feed's mapping, an
// import's column or an admin's edit); the cap keeps a header, and every
// row, bounded whatever was written, at the price of an export refused
// with too_many_custom_attributes rather than one that silently leaves
// some out.
const maxExportCustomAttributes = 100

// exportRow is one card's row under exportHeader's columns, custom its
// custom attribute names, the values as they are (the CSV writer guards
// them for spreadsheets; an XLSX cell is text).
func exportRow(c directory.Card, sources []string, now time.Time, custom []string) []string {
	row := make([]string, 0, len(exportColumns)+len(custom))
	row = append(row, c.Email)
	for _, name := range store.TextAttributes {
		row = append(row, *c.Attributes.Text(name))
	}
	last, lastKnownSource, lastKnownAt := "", "", ""
	if !c.LastLoginAt.IsZero() {
		last = c.LastLoginAt.UTC().Format(time.RFC3339)
	}
	if c.LastKnown != nil {
		lastKnownSource, lastKnownAt = c.LastKnown.Source, c.LastKnown.At.UTC().Format(time.RFC3339)
	}
	row = append(row, strings.Join(c.Attributes.Groups, ";"), string(directory.StatusOf(c, now)),
		strings.Join(sources, ";"), last, c.CreatedAt.UTC().Format(time.RFC3339), lastKnownSource, lastKnownAt,
		c.RoleSource, relationsCell(c.Attributes.Relations))
	for _, name := range custom {
		row = append(row, c.Attributes.Custom[name])
	}
	return row
}

// exportHeaderFailed answers an export whose header could not be made;
// nothing of the file is written yet.
func (a *API) exportHeaderFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrTooManyCustomAttributes) {
		daemon.WriteError(w, http.StatusBadRequest, "too_many_custom_attributes", "", err.Error())
		return
	}
	a.fail(w, r, err)
}

// exportCards: GET …/cards/export.csv, the list's filters, every page,
// streamed (WriteCardsCSV).
func (a *API) exportCards(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant, exportParams)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	begun := false
	err := WriteCardsCSV(r.Context(), a.services.Directory, q, flushWriter{w, rc}, func() {
		begun = true
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rosterd-%s-cards.csv"`, tenant))
		w.Header().Set("X-Content-Type-Options", "nosniff")
	})
	switch {
	case err == nil:
	case !begun:
		a.exportHeaderFailed(w, r, err) // nothing is written yet: a clean error
	case r.Context().Err() != nil:
		// The client went away.
	default:
		// Part of the file is out: cut the connection rather than end it
		// normally, so that a truncated export never looks complete.
		a.logger.Error("exporting cards", "tenant", tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// flushWriter sends what is written so far at each Flush.
type flushWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Flush() error { return f.rc.Flush() }
