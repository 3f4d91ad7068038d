package directory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// Person is one person an admin adds (the Users page's "Add user", or a
// line of a pasted list): an email and what the admin knows of them.
type Person struct {
	Email string
	// Attributes are set on the admin's claim: the fields given replace
	// the admin's earlier values, the empty ones keep them (Groups: nil
	// keeps, an empty list clears).
	Attributes Attributes
	// SendInvite: nil or true sends an invite where NotInvitedReason
	// allows one; false never does.
	SendInvite *bool
}

// PersonAction is what inviting a person did to their card.
type PersonAction string

// Person actions.
const (
	PersonCreated   PersonAction = "created"
	PersonUpdated   PersonAction = "updated"
	PersonReEnabled PersonAction = "re-enabled"
	PersonUnchanged PersonAction = "unchanged"
)

// NotInvited says why a person was not sent an invite.
type NotInvited string

// Why no invite went out (NotInvitedReason).
const (
	NotInvitedNotRequested NotInvited = "not_requested"    // send_invite was false
	NotInvitedModeNone     NotInvited = "invite_mode_none" // the tenant does not invite by email (SSO only)
	NotInvitedPinned       NotInvited = "pinned_disabled"  // an admin disabled the card; enable it first
	NotInvitedDisabled     NotInvited = "disabled"         // an authoritative source deactivated the person
	NotInvitedPending      NotInvited = "pending_approval" // the card waits for approval; approving it invites
	NotInvitedActive       NotInvited = "already_active"   // the person has logged in already
	NotInvitedNoEmail      NotInvited = "no_email"         // the card has no address to write to
	NotInvitedSSODomain    NotInvited = "sso_domain"       // the email's domain signs in through SSO (sso_domains)
	NotInvitedStillLive    NotInvited = "invite_pending"   // an invite sent earlier has not expired; remind or re-invite
)

// Explain says the reason in a sentence.
func (n NotInvited) Explain() string {
	switch n {
	case NotInvitedNotRequested:
		return "send_invite was false"
	case NotInvitedModeNone:
		return "the tenant does not invite by email (invite: none); the person signs in through SSO"
	case NotInvitedPinned:
		return "an admin disabled the card; enable it to invite the person"
	case NotInvitedDisabled:
		return "an authoritative source deactivated the person; the card stays disabled"
	case NotInvitedPending:
		return "the card waits for an admin's approval; approving it sends the invite"
	case NotInvitedActive:
		return "the person has logged in already"
	case NotInvitedNoEmail:
		return "the card has no email address"
	case NotInvitedSSODomain:
		return "the person's email domain signs in through the tenant's SSO (sso_domains); the card is provisioned, not invited"
	case NotInvitedStillLive:
		return "an invite sent earlier has not expired yet; remind the person (once a day) or re-invite to send a new one"
	}
	return string(n)
}

// NotInvitedReason is the rule for whether a card may be sent an invite
// under a tenant's policy: "" when it may. Every invite the directory
// issues (an admin's invite, a re-invite, an auto-invite of a new card)
// passes it.
func NotInvitedReason(p Policy, c Card) NotInvited {
	switch {
	case p.Invite != "email":
		return NotInvitedModeNone
	case !c.FirstLoginAt.IsZero():
		return NotInvitedActive
	case !c.Enabled && c.Pin != nil:
		return NotInvitedPinned
	case !c.Enabled && c.Approval != nil && c.Approval.State == store.ApprovalPending:
		return NotInvitedPending
	case !c.Enabled:
		return NotInvitedDisabled
	case c.Email == "":
		return NotInvitedNoEmail
	case p.ssoDomain(c.Email):
		return NotInvitedSSODomain
	}
	return ""
}

// ssoDomain reports whether email's domain is one of the tenant's SSO
// domains (case ignored; a subdomain is not its parent).
func (p Policy) ssoDomain(email string) bool {
	if len(p.SSODomains) == 0 {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(strings.TrimSpace(email[at+1:]))
	return slices.Contains(p.SSODomains, domain)
}

// PersonOutcome is what became of one person.
type PersonOutcome struct {
	Card   Card
	Action PersonAction
	// Invited: an invite was queued; else NotInvited says why not.
	Invited    bool
	NotInvited NotInvited
	// Err: this person was refused (an invalid email, an email of another
	// card); the others still applied.
	Err error
}

// MaxPeople bounds one InvitePeople call.
const MaxPeople = 1000

// InvitePeople adds people as the admin's own (an admin claim, present
// and authoritative: the card is enabled until released) and invites
// each one that NotInvitedReason allows, in one transaction. A person
// refused (Err) does not stop the others; a store error stops them all and
// nothing is written. The outcomes are in the order of people; the same
// address twice is one card, changed twice.
func (s *Service) InvitePeople(ctx context.Context, actor Actor, tenant string, people []Person) ([]PersonOutcome, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return nil, err
	}
	if len(people) > MaxPeople {
		return nil, fmt.Errorf("at most %d people at once, not %d", MaxPeople, len(people))
	}
	outs := make([]PersonOutcome, len(people))
	norms := make([]string, len(people))
	displays := make([]string, len(people))
	var load []string
	for i, p := range people {
		display, norm, err := NormalizeEmail(p.Email)
		if err != nil {
			outs[i].Err = err
			continue
		}
		displays[i], norms[i] = display, norm
		load = append(load, norm)
	}
	err = s.inTx(ctx, func(tx store.Tx) error {
		b := s.newBatch(tx, tenant, policy, actor)
		if _, err := b.load(ctx, nil, load, nil); err != nil {
			return err
		}
		for i, p := range people {
			if outs[i].Err != nil {
				continue
			}
			w := b.byEmail[norms[i]]
			if w == nil {
				w = b.create(displays[i], norms[i])
			}
			before := w.card
			send := p.SendInvite == nil || *p.SendInvite
			// Inviting someone whose invite is still live sends nothing:
			// a pasted list that names them again must not reset their
			// expiry or mail them again (remind, once a day, and
			// re-invite do that on purpose). An expired invite is
			// sent anew.
			live := w.stored && StatusOf(before, b.now) == InvitePending
			no := false
			m := mutation{emailOptional: true, forceInvite: send && !live, invite: &no}
			out, err := b.mutate(ctx, w, "admin.invite", KindAdmin, func(w *working) error {
				prev, _ := w.claim(KindAdmin)
				attrs := layerAttributes(prev.Attributes, p.Attributes)
				return setClaim(w, ClaimInput{Tenant: tenant, Source: KindAdmin, Email: displays[i], State: store.Present,
					Authoritative: true, Attributes: attrs}, displays[i], b.now, actor)
			}, m)
			if err != nil {
				return err
			}
			o := PersonOutcome{Card: out.Card, Err: out.Err}
			if out.Err == nil {
				switch {
				case out.Created:
					o.Action = PersonCreated
				case !out.Changed:
					o.Action = PersonUnchanged
				case !before.Enabled && out.Card.Enabled:
					o.Action = PersonReEnabled
				default:
					o.Action = PersonUpdated
				}
				o.NotInvited = NotInvitedReason(policy, out.Card)
				switch {
				case o.NotInvited == "" && !send:
					o.NotInvited = NotInvitedNotRequested
				case o.NotInvited == "" && live:
					o.NotInvited = NotInvitedStillLive
				}
				o.Invited = o.NotInvited == ""
			}
			outs[i] = o
		}
		return b.flush(ctx)
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

// layerAttributes lays the fields an admin gave over the admin's earlier
// ones: a text given replaces, an empty one keeps; groups given (even
// empty) replace, nil keeps; custom attributes merge by name.
func layerAttributes(prev, given Attributes) Attributes {
	out := prev
	for _, name := range store.TextAttributes {
		if v := *given.Text(name); v != "" {
			*out.Text(name) = v
		}
	}
	if given.Groups != nil {
		out.Groups = append([]string{}, given.Groups...)
	}
	if len(given.Custom) > 0 {
		custom := make(map[string]string, len(prev.Custom)+len(given.Custom))
		maps.Copy(custom, prev.Custom)
		maps.Copy(custom, given.Custom)
		out.Custom = custom
	}
	return out
}
