package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
)

// PersonRequest is one person to invite: the Users page's "Add user"
// form, or one entry of people.
type PersonRequest struct {
	Email        string   `json:"email"`
	GivenName    string   `json:"given_name"`
	FamilyName   string   `json:"family_name"`
	Role         string   `json:"role"`
	Groups       []string `json:"groups"`
	ManagerEmail string   `json:"manager_email"`
	Title        string   `json:"title"`
	Department   string   `json:"department"`
	Location     string   `json:"location"`
	// SendInvite: false adds the person without an invite.
	SendInvite *bool `json:"send_invite"`
}

// InviteRequest invites people: one person (the fields of PersonRequest
// at the top), a list of people, a list of emails, a pasted text of
// addresses (bare, `Name <email>` or `"Last, First" <email>`, separated
// by newlines, commas, semicolons or blanks), or several of these. The
// top-level role, groups and send_invite are the default of every entry
// that does not say its own.
type InviteRequest struct {
	PersonRequest
	People []PersonRequest `json:"people"`
	Emails []string        `json:"emails"`
	Text   string          `json:"text"`
}

// InviteResult is the outcome for one person.
type InviteResult struct {
	Email string `json:"email"`
	// Field names the entry: "email" (the one person), "people[i]",
	// "emails[i]" (emails, then text, counted together as before); Line
	// is a text entry's line.
	Field   string    `json:"field"`
	Line    int       `json:"line,omitempty"`
	Card    *CardBody `json:"card,omitempty"`
	Created bool      `json:"created,omitempty"`
	// Action: created, updated, re-enabled or unchanged.
	Action directory.PersonAction `json:"action,omitempty"`
	// Invited: an invite was queued; else NotInvited says why not.
	Invited    bool             `json:"invited"`
	NotInvited *NotInvitedError `json:"not_invited,omitempty"`
	Error      *ItemError       `json:"error,omitempty"`
}

// NotInvitedError is why a person got no invite.
type NotInvitedError struct {
	Reason  directory.NotInvited `json:"reason"`
	Message string               `json:"message"`
}

// ItemError is why one item of a batch was refused.
type ItemError struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// entry is one person of a request, with where it came from.
type inviteEntry struct {
	field  string
	line   int
	person directory.Person
	err    error
}

func (p PersonRequest) person(def PersonRequest) directory.Person {
	out := directory.Person{Email: p.Email, SendInvite: p.SendInvite, Attributes: directory.Attributes{
		GivenName: p.GivenName, FamilyName: p.FamilyName, Role: p.Role, Groups: p.Groups, ManagerEmail: p.ManagerEmail,
		Title: p.Title, Department: p.Department, Location: p.Location}}
	if out.Attributes.Role == "" {
		out.Attributes.Role = def.Role
	}
	if out.Attributes.Groups == nil {
		out.Attributes.Groups = def.Groups
	}
	if out.SendInvite == nil {
		out.SendInvite = def.SendInvite
	}
	return out
}

// personOnly reports whether a PersonRequest holds more than the defaults
// (role, groups, send_invite) an entry inherits.
func (p PersonRequest) personOnly() bool {
	return p.GivenName != "" || p.FamilyName != "" || p.ManagerEmail != "" || p.Title != "" || p.Department != "" || p.Location != ""
}

// inviteCards: POST …/cards/invite. Every person is tried, in one
// transaction; the answer lists each one's outcome in order: what became
// of the card, whether an invite went out and, if not, why. Refused
// entries do not stop the others.
func (a *API) inviteCards(w http.ResponseWriter, r *http.Request, tenant string) {
	var body InviteRequest
	if !decodeJSON(w, r, &body, false) {
		return
	}
	def := body.PersonRequest
	var entries []inviteEntry
	switch {
	case body.Email != "":
		entries = append(entries, inviteEntry{field: "email", person: def.person(def)})
	case def.personOnly():
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "email", "a person's fields (given_name, family_name, …) need their email")
		return
	}
	for i, p := range body.People {
		if p.Email == "" {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", fmt.Sprintf("people[%d].email", i), fmt.Sprintf("people[%d] has no email", i))
			return
		}
		entries = append(entries, inviteEntry{field: fmt.Sprintf("people[%d]", i), person: p.person(def)})
	}
	n := 0
	for _, e := range body.Emails {
		entries = append(entries, inviteEntry{field: fmt.Sprintf("emails[%d]", n), person: PersonRequest{Email: e}.person(def)})
		n++
	}
	for _, t := range directory.ParsePeopleText(body.Text) {
		p := PersonRequest{Email: t.Person.Email, GivenName: t.Person.Attributes.GivenName, FamilyName: t.Person.Attributes.FamilyName}.person(def)
		entries = append(entries, inviteEntry{field: fmt.Sprintf("emails[%d]", n), line: t.Line, person: p, err: t.Err})
		n++
	}
	switch {
	case len(entries) == 0:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "emails", "give at least one person: email, people, emails or text")
		return
	case len(entries) > directory.MaxPeople:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "people", fmt.Sprintf("at most %d people per request, not %d", directory.MaxPeople, len(entries)))
		return
	}
	for _, e := range entries {
		if msg := checkPerson(e.person); msg != "" {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", e.field, e.field+": "+msg)
			return
		}
	}
	// Entries the text parser refused go to the directory as they are:
	// it refuses them with the same error as any bad address.
	people := make([]directory.Person, len(entries))
	for i, e := range entries {
		people[i] = e.person
		if e.err != nil {
			people[i].Email = "" // refused below, with the parser's reason
		}
	}
	outs, err := a.services.Directory.InvitePeople(r.Context(), actor(r), tenant, people)
	if err != nil {
		a.fail(w, r, err) // nothing was written
		return
	}
	results := make([]InviteResult, len(entries))
	var sum struct{ accepted, refused, invited, created, updated, reEnabled, unchanged int }
	for i, e := range entries {
		res := InviteResult{Email: e.person.Email, Field: e.field, Line: e.line}
		o := outs[i]
		if e.err != nil {
			o.Err = e.err
		}
		if o.Err != nil {
			res.Error = &ItemError{Code: itemErrorCode(o.Err), Field: e.field, Message: o.Err.Error()}
			results[i] = res
			sum.refused++
			continue
		}
		sum.accepted++
		c := a.cardBody(o.Card)
		res.Card, res.Created, res.Action, res.Invited = &c, o.Action == directory.PersonCreated, o.Action, o.Invited
		if o.NotInvited != "" {
			res.NotInvited = &NotInvitedError{Reason: o.NotInvited, Message: o.NotInvited.Explain()}
		}
		if o.Invited {
			sum.invited++
		}
		switch o.Action {
		case directory.PersonCreated:
			sum.created++
		case directory.PersonUpdated:
			sum.updated++
		case directory.PersonReEnabled:
			sum.reEnabled++
		case directory.PersonUnchanged:
			sum.unchanged++
		}
		results[i] = res
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"results": results, "accepted": sum.accepted, "refused": sum.refused,
		"invited": sum.invited, "not_invited": sum.accepted - sum.invited, "created": sum.created, "updated": sum.updated,
		"re_enabled": sum.reEnabled, "unchanged": sum.unchanged})
}

// checkPerson bounds what one person's fields may hold.
func checkPerson(p directory.Person) string {
	for _, name := range []string{"given_name", "family_name", "role", "manager_email", "title", "department", "location"} {
		if v := *p.Attributes.Text(name); len(v) > 1000 {
			return name + " is longer than 1000 characters"
		}
	}
	if len(p.Attributes.Groups) > 100 {
		return "more than 100 groups"
	}
	if slices.ContainsFunc(p.Attributes.Groups, func(g string) bool { return strings.TrimSpace(g) == "" || len(g) > 256 }) {
		return "a group name is empty or longer than 256 characters"
	}
	return ""
}

// itemErrorCode is the stable code of a refused entry.
func itemErrorCode(err error) string {
	var invalid *directory.InvalidEmailError
	switch {
	case errors.As(err, &invalid):
		return "invalid_email"
	case errors.Is(err, directory.ErrEmailTaken):
		return "email_taken"
	case errors.Is(err, directory.ErrNotInvitable):
		return "not_invitable"
	case errors.Is(err, directory.ErrNotPending):
		return "not_pending"
	case errors.Is(err, directory.ErrWouldDisable):
		return "would_disable"
	}
	return "refused"
}
