package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rosterd/rosterd/directory"
)

type personForm struct {
	Given, Family, Email, Role string
}

type addPersonView struct {
	Tenant Tenant
	Form   personForm
	// Roles are the tenant's roles (none: any role is taken).
	Roles []string
	Error string
}

func (c *Console) rolesOf(tenant string) []string {
	if p, err := c.deps.Directory.Policy(tenant); err == nil {
		return p.Roles
	}
	return nil
}

// addPersonPage: GET /console/t/{t}/users/new — the form to add a person.
func (c *Console) addPersonPage(w http.ResponseWriter, r *http.Request, t Tenant) {
	c.render(w, r, http.StatusOK, "person_new", "Add a person · "+t.Name, addPersonView{Tenant: t, Roles: c.rolesOf(t.ID)})
}

// addPerson: POST /console/t/{t}/users/new — adds the person through the
// directory's invite (the admin's own claim; an invite email when the
// tenant invites by email), and opens their card. A refusal comes back as
// the form, filled in, with the problem (200: the page is the answer).
func (c *Console) addPerson(w http.ResponseWriter, r *http.Request, t Tenant) {
	f := personForm{Given: strings.TrimSpace(r.PostForm.Get("given_name")), Family: strings.TrimSpace(r.PostForm.Get("family_name")),
		Email: strings.TrimSpace(r.PostForm.Get("email")), Role: strings.TrimSpace(r.PostForm.Get("role"))}
	again := func(problem string) {
		c.render(w, r, http.StatusOK, "person_new", "Add a person · "+t.Name, addPersonView{Tenant: t, Form: f, Roles: c.rolesOf(t.ID), Error: problem})
	}
	if f.Email == "" {
		again("Enter the person's email address.")
		return
	}
	out, err := c.deps.Directory.Invite(r.Context(), actor(r), directory.AdminInput{Tenant: t.ID, Email: f.Email,
		Attributes: directory.Attributes{GivenName: f.Given, FamilyName: f.Family, Role: f.Role}})
	var bad *directory.InvalidEmailError
	switch {
	case errors.As(err, &bad):
		again(fmt.Sprintf("The email %q is not valid: %s.", f.Email, bad.Reason))
		return
	case errors.Is(err, directory.ErrUnknownRole):
		again(err.Error() + ".")
		return
	case err != nil && out.Card.ID == "":
		c.fail(w, r, err)
		return
	}
	msg := "Added " + displayName(out.Card) + "."
	if !out.Created {
		msg = displayName(out.Card) + " already had a card; it is the admin's now, with these details."
	}
	if out.Card.Invite != nil && !out.Card.Invite.SentAt.IsZero() {
		msg += " An invite is on its way to " + out.Card.Email + "."
	}
	c.sessions.setFlash(r.Context(), sessionOf(r), msg)
	http.Redirect(w, r, tenantURL(t.ID)+"/cards/"+url.PathEscape(out.Card.ID), http.StatusSeeOther)
}

// cardReinvite: POST …/cards/{id}/reinvite — a new invite, valid for
// another invite lifetime; the old link stops working.
func (c *Console) cardReinvite(w http.ResponseWriter, r *http.Request, t Tenant) {
	id := r.PathValue("id")
	card, err := c.deps.Directory.Reinvite(r.Context(), actor(r), t.ID, id)
	if errors.Is(err, directory.ErrNotInvitable) {
		c.sessions.setFlash(r.Context(), sessionOf(r), "This person cannot be invited: they are disabled, signed in already, or the tenant does not invite by email.")
		http.Redirect(w, r, tenantURL(t.ID)+"/cards/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	msg := "Invited again."
	if card.Invite != nil {
		msg = "Invited again: the new invite runs out on " + card.Invite.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + "."
	}
	c.sessions.setFlash(r.Context(), sessionOf(r), msg)
	http.Redirect(w, r, tenantURL(t.ID)+"/cards/"+url.PathEscape(id), http.StatusSeeOther)
}

// cardRemind: POST …/cards/{id}/remind — sends the pending invite again,
// at most once per the tenant's reminder interval.
func (c *Console) cardRemind(w http.ResponseWriter, r *http.Request, t Tenant) {
	id := r.PathValue("id")
	_, err := c.deps.Directory.Remind(r.Context(), actor(r), t.ID, id)
	var soon *directory.TooSoonError
	switch {
	case errors.As(err, &soon):
		c.sessions.setFlash(r.Context(), sessionOf(r), "No reminder sent: one went out less than the reminder interval ago. The next is available in "+roughly(soon.RetryAfter)+".")
	case errors.Is(err, directory.ErrNotInvitable):
		c.sessions.setFlash(r.Context(), sessionOf(r), "No reminder sent: only a pending invite can be reminded of.")
	case err != nil:
		c.fail(w, r, err)
		return
	default:
		c.sessions.setFlash(r.Context(), sessionOf(r), "Reminder sent.")
	}
	http.Redirect(w, r, tenantURL(t.ID)+"/cards/"+url.PathEscape(id), http.StatusSeeOther)
}
