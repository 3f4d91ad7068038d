package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Outbox message kinds the directory writes.
const (
	OutboxInvite   = "email.invite"
	OutboxReminder = "email.reminder"
)

// InviteMessage is the payload of an invite or reminder in the outbox.
//
// It carries no token: the token is derived from Seed under the invite
// key KeyID names (InviteKey.Token), when the mail is built, so that the
// stored row opens no invite. On the card only the token's hash is kept.
// Once the mail is sent (or given up) the worker blanks Seed as well.
type InviteMessage struct {
	CardID string `json:"card_id"`
	Email  string `json:"email"`
	Seed   string `json:"seed,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	// Token is the token itself, in rows queued by versions before
	// derived tokens; never written now.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Invite errors.
var (
	// ErrNotInvitable: the card is disabled, has no email, has logged in
	// already, or the tenant does not invite by email.
	ErrNotInvitable = errors.New("the card cannot be invited")
	// ErrInviteInvalid: an invite token that is unknown, replaced, used, or
	// expired.
	ErrInviteInvalid = errors.New("the invite is not valid")
)

// TooSoonError refuses a reminder sent within the tenant's interval.
type TooSoonError struct{ RetryAfter time.Duration }

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("a reminder was sent less than the reminder interval ago; try again in %s", e.RetryAfter.Round(time.Second))
}

// HashToken is how invite tokens are kept: their SHA-256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// issueInvite gives the card a fresh invite (a 256-bit token derived
// from a new seed, valid for the tenant's invite lifetime) and returns the
// outbox payload that will carry it; a previous token stops working.
func (b *batch) issueInvite(w *working) InviteMessage {
	seed, token := b.s.inviteKey.mint(b.tenant, w.card.ID)
	w.card.Invite = &store.Invite{TokenHash: HashToken(token), SentAt: b.now, ExpiresAt: b.now.Add(b.policy.InviteTTL)}
	return InviteMessage{CardID: w.card.ID, Email: w.card.Email, Seed: seed, KeyID: b.s.inviteKey.ID(), ExpiresAt: w.card.Invite.ExpiresAt}
}

// AdminInput is what an admin says of a person: an invite, an edit.
type AdminInput struct {
	Tenant     string
	Email      string
	Attributes Attributes
}

// Invite makes sure a person has a card the admin holds (creating it, or
// re-enabling a disabled one through the admin's own claim) and sends them
// an invite, when the tenant invites by email and they never logged in.
func (s *Service) Invite(ctx context.Context, actor Actor, in AdminInput) (Outcome, error) {
	policy, err := s.Policy(in.Tenant)
	if err != nil {
		return Outcome{}, err
	}
	display, norm, err := NormalizeEmail(in.Email)
	if err != nil {
		return Outcome{}, err
	}
	if err := policy.CheckRole(KindAdmin, in.Attributes.Role); err != nil {
		return Outcome{}, err
	}
	if err := policy.CheckRelations(in.Attributes, norm); err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = s.inTx(ctx, func(tx store.Tx) error {
		b := s.newBatch(tx, in.Tenant, policy, actor)
		if _, err := b.load(ctx, nil, []string{norm}, nil); err != nil {
			return err
		}
		w := b.byEmail[norm]
		if w == nil {
			w = b.create(display, norm)
		}
		var err error
		out, err = b.mutate(ctx, w, "admin.invite", KindAdmin, func(w *working) error {
			prev, _ := w.claim(KindAdmin)
			attrs := in.Attributes
			if prev.State != "" && len(changedAttributes(Attributes{}, attrs)) == 0 {
				attrs = prev.Attributes
			}
			return setClaim(w, ClaimInput{Tenant: in.Tenant, Source: KindAdmin, Email: display, State: store.Present,
				Authoritative: true, Attributes: attrs}, display, b.now, actor)
		}, mutation{emailOptional: true, forceInvite: policy.Invite == "email"})
		if err != nil || out.Err != nil {
			return err
		}
		return b.flush(ctx)
	})
	if err != nil {
		return Outcome{}, err
	}
	return out, out.Err
}

// Reinvite replaces a card's invite with a new one, valid for another
// invite lifetime; the old link stops working.
func (s *Service) Reinvite(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.reinvite", mutation{emailOptional: true, forceInvite: true}, reinviteChange(policy))
}

// Remind sends a pending invite again, at most once per the tenant's
// reminder interval (TooSoonError otherwise). The link stays the same
// person's but gets a new token, as the old one is kept only as a hash.
func (s *Service) Remind(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.remind", mutation{emailOptional: true}, s.remindChange(policy, tenant))
}

// Disable pins the card disabled with a reason (see Pin).
func (s *Service) Disable(ctx context.Context, actor Actor, tenant, cardID, reason string) (Card, error) {
	return s.Pin(ctx, actor, tenant, cardID, reason)
}

// Enable lifts an admin's pin and adds the admin's own present claim, in
// one change: the card is enabled whatever the sources say, until released.
func (s *Service) Enable(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.enable", mutation{emailOptional: true}, enableChange(tenant, actor))
}

// Release hands a card back to its sources: the admin's pin and claim go.
func (s *Service) Release(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.release", mutation{emailOptional: true}, releaseChange(tenant))
}

// Edit sets the admin's attributes on a card (they come first by
// precedence). On a card the admin does not hold, the admin's claim is
// attributes-only: editing a name does not keep a leaver enabled.
func (s *Service) Edit(ctx context.Context, actor Actor, tenant, cardID string, attrs Attributes) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	return s.updateCardWith(ctx, actor, tenant, cardID, "admin.edit", mutation{emailOptional: true}, editChange(tenant, policy, attrs))
}

// AcceptInvite takes an invite link's token: the card becomes active (the
// invite counts as the first login) and the token is spent.
func (s *Service) AcceptInvite(ctx context.Context, tenant, token string) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	var card Card
	err = s.inTx(ctx, func(tx store.Tx) error {
		id, err := tx.CardIDByInvite(ctx, tenant, HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			return ErrInviteInvalid
		}
		if err != nil {
			return err
		}
		b := s.newBatch(tx, tenant, policy, Actor{Name: "invite"})
		if _, err := b.load(ctx, []string{id}, nil, nil); err != nil {
			return err
		}
		w := b.byID[id]
		if w == nil || !inviteUsable(w.card, token, b.now) {
			return ErrInviteInvalid
		}
		out, err := b.mutate(ctx, w, "invite.accepted", "invite", func(w *working) error {
			inv := *w.card.Invite
			inv.TokenHash = "" // single use
			w.card.Invite = &inv
			w.loggedIn(b.now)
			return nil
		}, mutation{emailOptional: true})
		if err != nil {
			return err
		}
		card = out.Card
		return b.flush(ctx)
	})
	return card, err
}

// LookupInvite returns the card an invite link's token would be accepted
// for, changing nothing: the page a link opens shows whose invite it is,
// and only the person's own press of its button (AcceptInvite) spends the
// token. A link scanner that fetches the link leaves the invite as it was.
// ErrInviteInvalid as AcceptInvite.
func (s *Service) LookupInvite(ctx context.Context, tenant, token string) (Card, error) {
	if _, err := s.Policy(tenant); err != nil {
		return Card{}, err
	}
	var card Card
	err := s.store.InReadTx(ctx, func(tx store.Tx) error {
		id, err := tx.CardIDByInvite(ctx, tenant, HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			return ErrInviteInvalid
		}
		if err != nil {
			return err
		}
		cards, err := tx.CardsByID(ctx, tenant, []string{id})
		if err != nil {
			return err
		}
		c, ok := cards[id]
		if !ok || !inviteUsable(c, token, s.Now()) {
			return ErrInviteInvalid
		}
		card = c
		return nil
	})
	return card, err
}

// inviteUsable: the card's invite is this token's, unspent, unexpired, and
// the card enabled.
func inviteUsable(c Card, token string, now time.Time) bool {
	return c.Invite != nil && c.Invite.TokenHash != "" && c.Invite.TokenHash == HashToken(token) && now.Before(c.Invite.ExpiresAt) && c.Enabled
}
