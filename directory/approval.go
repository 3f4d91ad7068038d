package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Approval policies (Policy.Approval).
const (
	// ApprovalNone: no card waits for approval.
	ApprovalNone = "none"
	// ApprovalNewCards: every new card waits, whichever source made it
	// (an admin's invite and an import included).
	ApprovalNewCards = "new_cards"
	// ApprovalJIT: only cards a first SAML login creates wait.
	ApprovalJIT = "jit_only"
)

// ErrNotPending: approve or reject of a card that does not wait for
// approval.
var ErrNotPending = errors.New("the card is not waiting for approval")

// ErrPendingApproval refuses a login of a card that waits for approval; it
// is an ErrDisabled, as such a card is not enabled.
var ErrPendingApproval = fmt.Errorf("%w: waiting for an admin's approval", ErrDisabled)

// Approve lets a card that waits for approval in: the admin's decision is
// kept on the card (it survives every sync, as a pin does), the claims
// decide again, and a card that becomes enabled gets its welcome invite
// per the tenant's invite mode, once.
func (s *Service) Approve(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	invite := policy.Invite == "email"
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.approve", mutation{emailOptional: true, invite: &invite}, approveChange(actor))
}

// approveChange is Approve's change, one card's or a bulk's.
func approveChange(actor Actor) changeFunc {
	return func(w *working, now time.Time) error {
		if w.card.Approval == nil || w.card.Approval.State != store.ApprovalPending {
			return fmt.Errorf("%w: card %s", ErrNotPending, w.card.ID)
		}
		w.card.Approval = &store.Approval{State: store.ApprovalApproved, Actor: actor.Name, At: now}
		return nil
	}
}

// Reject keeps a card that waits for approval out, with a reason: it is
// disabled (RuleApproval) until an admin enables it.
func (s *Service) Reject(ctx context.Context, actor Actor, tenant, cardID, reason string) (Card, error) {
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.reject", mutation{emailOptional: true}, rejectChange(actor, reason))
}

// rejectChange is Reject's change, one card's or a bulk's.
func rejectChange(actor Actor, reason string) changeFunc {
	return func(w *working, now time.Time) error {
		if w.card.Approval == nil || w.card.Approval.State != store.ApprovalPending {
			return fmt.Errorf("%w: card %s", ErrNotPending, w.card.ID)
		}
		w.card.Approval = &store.Approval{State: store.ApprovalRejected, Actor: actor.Name, Reason: reason, At: now}
		return nil
	}
}
