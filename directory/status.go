package directory

import (
	"time"

	"github.com/rosterd/rosterd/store"
)

// Status is what a tenant's admins see of a card.
type Status string

const (
	// Active: enabled and has logged in at least once.
	Active Status = "active"
	// InvitePending: enabled, invited by email, not logged in, invite still valid.
	InvitePending Status = "invite_pending"
	// InviteExpired: enabled, invited, not logged in, invite past its lifetime.
	InviteExpired Status = "invite_expired"
	// Provisioned: enabled, not logged in, never invited by email (SSO tenants).
	Provisioned Status = "provisioned"
	// Disabled: hidden from the platform, kept in the store.
	Disabled Status = "disabled"
	// PendingApproval: not enabled, waiting for an admin's approval; never
	// able to log in.
	PendingApproval Status = "pending_approval"
)

// Statuses lists every status, in the order admins see them.
var Statuses = []Status{Active, InvitePending, InviteExpired, Provisioned, PendingApproval, Disabled}

// Enabled reports whether a card of this status may get in.
func (s Status) Enabled() bool { return s != Disabled && s != PendingApproval }

// EnabledCount is how many of counts (by status, as Stats and Count
// give them) are enabled.
func EnabledCount(counts map[Status]int) int {
	n := 0
	for s, c := range counts {
		if s.Enabled() {
			n += c
		}
	}
	return n
}

// StatusOf derives a card's status at now. An invite's expiry is derived,
// not swept: a card shows invite_expired the moment its invite runs out.
func StatusOf(c Card, now time.Time) Status {
	switch {
	case !c.Enabled && c.Pin == nil && c.Approval != nil && c.Approval.State == store.ApprovalPending:
		return PendingApproval
	case !c.Enabled:
		return Disabled
	case !c.FirstLoginAt.IsZero():
		return Active
	case c.Invite == nil:
		return Provisioned
	case now.Before(c.Invite.ExpiresAt):
		return InvitePending
	default:
		return InviteExpired
	}
}
