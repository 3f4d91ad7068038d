package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// auditLimit is how many lines of a card's audit trail the card page shows.
const auditLimit = 100

type cardView struct {
	Tenant  Tenant
	Card    directory.Card
	Name    string
	Status  directory.Status
	Explain directory.Explanation
	Claims  []directory.Claim
	Audit   []store.AuditEvent
	URL     string
	// CanRelease: an admin pinned the card or holds a claim on it.
	CanRelease bool
	// CanRemind: the invite is pending; RemindIn, when not empty, says
	// when a reminder is allowed (the tenant's reminder interval).
	CanRemind bool
	RemindIn  string
}

// card: GET /console/t/{t}/cards/{id} — one card: its attributes with their
// sources, why it has its status, its claims and its audit trail.
func (c *Console) card(w http.ResponseWriter, r *http.Request, t Tenant) {
	id := r.PathValue("id")
	card, err := c.deps.Directory.Get(r.Context(), t.ID, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ex, err := c.deps.Directory.Explain(r.Context(), t.ID, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	audit, err := c.deps.Audit.ListAudit(r.Context(), t.ID, id, 0, auditLimit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	view := cardView{Tenant: t, Card: card, Name: displayName(card),
		Status: directory.StatusOf(card, c.deps.Directory.Now()), Explain: ex, Claims: ex.Claims, Audit: audit,
		URL: tenantURL(t.ID) + "/cards/" + url.PathEscape(card.ID), CanRelease: card.Pin != nil}
	for _, cl := range ex.Claims {
		if cl.Source == directory.KindAdmin && cl.State != store.Withdrawn {
			view.CanRelease = true
		}
	}
	if view.Status == directory.InvitePending && card.Invite != nil {
		view.CanRemind = true
		last := card.Invite.RemindedAt
		if last.IsZero() {
			last = card.Invite.SentAt
		}
		if p, err := c.deps.Directory.Policy(t.ID); err == nil {
			if wait := last.Add(p.ReminderInterval).Sub(c.deps.Directory.Now()); wait > 0 {
				view.RemindIn = roughly(wait)
			}
		}
	}
	// Groups read as a list, not as Go prints a slice.
	for i, a := range view.Explain.Attributes {
		if a.Name == "groups" {
			view.Explain.Attributes[i].Value = strings.Join(card.Attributes.Groups, ", ")
		}
	}
	c.render(w, r, http.StatusOK, "card", displayName(card)+" · "+t.Name, view)
}

// cardDisable: POST …/cards/{id}/disable — pins the card disabled, with a
// reason.
func (c *Console) cardDisable(w http.ResponseWriter, r *http.Request, t Tenant) {
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Give a reason for disabling: it goes into the audit trail.")
		return
	}
	c.cardChange(w, r, t, "Disabled.", func(id string) error {
		_, err := c.deps.Directory.Disable(r.Context(), actor(r), t.ID, id, reason)
		return err
	})
}

// cardEnable: POST …/cards/{id}/enable — enables the card whatever its
// sources say, until released.
func (c *Console) cardEnable(w http.ResponseWriter, r *http.Request, t Tenant) {
	c.cardChange(w, r, t, "Enabled; the card stays enabled until released.", func(id string) error {
		_, err := c.deps.Directory.Enable(r.Context(), actor(r), t.ID, id)
		return err
	})
}

// cardRelease: POST …/cards/{id}/release — hands the card back to its
// sources.
func (c *Console) cardRelease(w http.ResponseWriter, r *http.Request, t Tenant) {
	c.cardChange(w, r, t, "Released: the card's sources decide again.", func(id string) error {
		_, err := c.deps.Directory.Release(r.Context(), actor(r), t.ID, id)
		return err
	})
}

func (c *Console) cardChange(w http.ResponseWriter, r *http.Request, t Tenant, done string, change func(id string) error) {
	id := r.PathValue("id")
	if err := change(id); err != nil {
		c.fail(w, r, err)
		return
	}
	c.sessions.setFlash(r.Context(), sessionOf(r), done)
	http.Redirect(w, r, tenantURL(t.ID)+"/cards/"+url.PathEscape(id), http.StatusSeeOther)
}

// roughly says a wait as people do: "5 h", "40 min", "1 min".
func roughly(d time.Duration) string {
	switch {
	case d >= 90*time.Minute:
		return fmt.Sprintf("%d h", int((d+30*time.Minute)/time.Hour))
	case d > time.Minute:
		return fmt.Sprintf("%d min", int((d+30*time.Second)/time.Minute))
	}
	return "1 min"
}
