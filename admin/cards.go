package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/csvsafe"
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

// statusFilters are the ?status= values, as directory.ListQuery takes them.
var statusFilters = []string{"active", "invite_pending", "invite_expired", "provisioned", "pending_approval", "disabled", "enabled"}

// listQuery reads the filters shared by the list and the export.
func listQuery(w http.ResponseWriter, r *http.Request, tenant string) (directory.ListQuery, bool) {
	v := r.URL.Query()
	q := directory.ListQuery{Tenant: tenant, Status: v.Get("status"), Source: v.Get("source"), Group: v.Get("group"),
		Query: v.Get("q"), Cursor: v.Get("cursor")}
	if q.Status != "" && !slices.Contains(statusFilters, q.Status) {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "status", "status must be one of "+strings.Join(statusFilters, ", "))
		return q, false
	}
	if !assignmentQuery(w, r, &q) {
		return q, false
	}
	return q, true
}

// listCards: GET …/cards?status=&source=&group=&q=&cursor=&limit=.
func (a *API) listCards(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant)
	if !ok {
		return
	}
	if q.Limit, ok = pageLimit(w, r, 100, 1000); !ok {
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

// cardStats: GET …/cards/stats — the number of cards per status.
//
// Without a store query that counts (see the package doc), this pages
// through every card of the tenant once, 1,000 at a time, and derives each
// status: O(cards), acceptable for tens of thousands.
func (a *API) cardStats(w http.ResponseWriter, r *http.Request, tenant string) {
	counts := map[directory.Status]int{}
	for _, s := range directory.Statuses {
		counts[s] = 0
	}
	total := 0
	if st, ok := a.services.Directory.(interface {
		Stats(ctx context.Context, tenant string) (map[directory.Status]int, error)
	}); ok {
		got, err := st.Stats(r.Context(), tenant)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for s, n := range got {
			counts[s] = n
			total += n
		}
		body := map[string]any{"counts": counts, "enabled": total - counts[directory.Disabled] - counts[directory.PendingApproval], "total": total}
		if rs, ok := a.services.Directory.(interface {
			RoleStats(ctx context.Context, tenant string) (map[string]int, error)
		}); ok {
			roles, err := rs.RoleStats(r.Context(), tenant)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			body["roles"] = roles
		}
		daemon.WriteJSON(w, http.StatusOK, body)
		return
	}
	// A directory without Stats: count by paging.
	now := a.services.Directory.Now()
	q := directory.ListQuery{Tenant: tenant, Limit: 1000}
	for {
		page, err := a.services.Directory.List(r.Context(), q)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, c := range page.Cards {
			counts[directory.StatusOf(c, now)]++
			total++
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	enabled := total - counts[directory.Disabled] - counts[directory.PendingApproval]
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"counts": counts, "enabled": enabled, "total": total})
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
	card, err := a.services.Directory.Disable(r.Context(), actor(r), tenant, r.PathValue("id"), body.Reason)
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

// InviteRequest invites one or many people: a list of emails, or a text
// of emails separated by commas, semicolons, spaces or newlines (pasted
// from a spreadsheet or a mail client), or both.
type InviteRequest struct {
	Emails []string `json:"emails"`
	Text   string   `json:"text"`
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
}

// InviteResult is the outcome for one address.
type InviteResult struct {
	Email   string     `json:"email"`
	Card    *CardBody  `json:"card,omitempty"`
	Created bool       `json:"created,omitempty"`
	Error   *ItemError `json:"error,omitempty"`
}

// ItemError is why one item of a batch was refused.
type ItemError struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// maxInvites bounds one invite request.
const maxInvites = 1000

// inviteCards: POST …/cards/invite. Every address is tried; the answer
// lists each one's outcome in order. Refused addresses do not stop the
// others; field names the address as "emails[i]", its index in the list
// (emails first, then those found in text).
func (a *API) inviteCards(w http.ResponseWriter, r *http.Request, tenant string) {
	var body InviteRequest
	if !decodeJSON(w, r, &body, false) {
		return
	}
	emails := slices.Clone(body.Emails)
	emails = append(emails, strings.FieldsFunc(body.Text, func(c rune) bool {
		return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
	})...)
	switch {
	case len(emails) == 0:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "emails", "give at least one address in emails or text")
		return
	case len(emails) > maxInvites:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "emails", fmt.Sprintf("at most %d addresses per request", maxInvites))
		return
	}
	results := make([]InviteResult, len(emails))
	failed := 0
	for i, email := range emails {
		results[i].Email = email
		field := fmt.Sprintf("emails[%d]", i)
		if _, _, err := directory.NormalizeEmail(email); err != nil {
			results[i].Error = &ItemError{Code: "invalid_email", Field: field, Message: err.Error()}
			failed++
			continue
		}
		out, err := a.services.Directory.Invite(r.Context(), actor(r), directory.AdminInput{Tenant: tenant, Email: email,
			Attributes: directory.Attributes{Role: body.Role, Groups: body.Groups}})
		if err != nil {
			var code string
			var invalid *directory.InvalidEmailError
			switch {
			case errors.As(err, &invalid):
				code = "invalid_email"
			case errors.Is(err, directory.ErrEmailTaken):
				code = "email_taken"
			case errors.Is(err, directory.ErrNotInvitable):
				code = "not_invitable"
			default:
				// The store failed: what was invited so far stays invited.
				a.fail(w, r, err)
				return
			}
			results[i].Error = &ItemError{Code: code, Field: field, Message: err.Error()}
			failed++
			continue
		}
		c := a.cardBody(out.Card)
		results[i].Card, results[i].Created = &c, out.Created
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"results": results, "invited": len(emails) - failed, "refused": failed})
}

// exportColumns is the export's header. The columns up to status are the
// import's (POST …/imports reads each of them back under these names, and
// status as its status column: a disabled card comes back disabled);
// the rest are facts the import ignores. Custom attributes are not
// exported; an import leaves what it has no column for as it is.
var exportColumns = []string{"email", "given_name", "family_name", "display_name", "title", "department", "location",
	"employee_id", "manager_email", "role", "groups", "status", "sources", "last_login", "created",
	"last_known_source", "last_known_at", "role_source", "relations"}

// exportCards: GET …/cards/export.csv, the list's filters, every page,
// streamed: one page of 1,000 cards in memory at a time, flushed as it
// goes. Export, edit, import is lossless: see exportColumns.
func (a *API) exportCards(w http.ResponseWriter, r *http.Request, tenant string) {
	q, ok := listQuery(w, r, tenant)
	if !ok {
		return
	}
	q.Limit = 1000
	ctx := r.Context()
	dir := a.services.Directory
	page, err := dir.List(ctx, q)
	if err != nil {
		a.fail(w, r, err) // nothing is written yet: a clean error
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rosterd-%s-cards.csv"`, tenant))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	cw := csvsafe.NewWriter(w) // every cell made safe for spreadsheets
	cw.Write(exportColumns)
	now := dir.Now()
	for {
		sources, err := a.sourcesOf(ctx, tenant, page.Cards)
		if err != nil {
			// Part of the file is out: cut the connection rather than end
			// it normally, so that a truncated export never looks complete.
			a.logger.Error("exporting cards", "tenant", tenant, "err", err)
			panic(http.ErrAbortHandler)
		}
		for _, c := range page.Cards {
			row := make([]string, 0, len(exportColumns))
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
				strings.Join(sources[c.ID], ";"), last, c.CreatedAt.UTC().Format(time.RFC3339), lastKnownSource, lastKnownAt,
				c.RoleSource, relationsCell(c.Attributes.Relations))
			cw.Write(row)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return // the client went away
		}
		_ = rc.Flush()
		if page.Next == "" {
			return
		}
		q.Cursor = page.Next
		if page, err = dir.List(ctx, q); err != nil {
			a.logger.Error("exporting cards", "tenant", tenant, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// ClaimsOfCards is the batch read a store may offer: the claims of many
// cards in one query. Without it the export reads each card's claims.
type ClaimsOfCards interface {
	ClaimsOfCards(ctx context.Context, tenant string, cardIDs []string) (map[string][]directory.Claim, error)
}

func (a *API) sourcesOf(ctx context.Context, tenant string, cards []directory.Card) (map[string][]string, error) {
	out := make(map[string][]string, len(cards))
	if batch, ok := a.services.Directory.(ClaimsOfCards); ok {
		ids := make([]string, len(cards))
		for i, c := range cards {
			ids[i] = c.ID
		}
		claims, err := batch.ClaimsOfCards(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		for id, cs := range claims {
			out[id] = liveSources(cs)
		}
		return out, nil
	}
	for _, c := range cards {
		claims, err := a.services.Directory.Claims(ctx, tenant, c.ID)
		if err != nil {
			return nil, err
		}
		out[c.ID] = liveSources(claims)
	}
	return out, nil
}
