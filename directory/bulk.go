package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Bulk actions: one admin change applied to many cards, each card by the
// same rule as the one-card method of that name (Disable, Enable,
// Release, Reinvite, Remind, Edit). The caller selects the cards (by ids,
// or a ListQuery), bounds a call's size (a transaction per call), names
// the bulk job in Actor.RunID so its audit lines and events carry it, and
// applies the tenant's safety brake to BulkResult.Disables of a dry run.

// BulkAction names a bulk action.
type BulkAction string

// Bulk actions.
const (
	BulkDisable       BulkAction = "disable"
	BulkEnable        BulkAction = "enable"
	BulkRelease       BulkAction = "release"
	BulkReinvite      BulkAction = "reinvite"
	BulkRemind        BulkAction = "remind"
	BulkSetRole       BulkAction = "set_role"
	BulkAddGroups     BulkAction = "add_groups"
	BulkRemoveGroups  BulkAction = "remove_groups"
	BulkAssignManager BulkAction = "assign_manager"
	BulkEdit          BulkAction = "edit"
	BulkApprove       BulkAction = "approve"
	BulkReject        BulkAction = "reject"
	// BulkResolve changes nothing an admin said: each card is resolved
	// again under the tenant's policy as it is now (its role rules, role
	// set, default role) and written only where that changes it. It never
	// disables anyone: a card the new resolution would disable is refused
	// (ErrWouldDisable) and left for its sources' next write. Not one of
	// BulkActions: the admin API runs it itself after a change of the
	// tenant's roles.
	BulkResolve BulkAction = "resolve"
)

// BulkActions lists them.
var BulkActions = []BulkAction{BulkDisable, BulkEnable, BulkRelease, BulkReinvite, BulkRemind, BulkSetRole, BulkAddGroups,
	BulkRemoveGroups, BulkAssignManager, BulkEdit, BulkApprove, BulkReject}

// BulkInput is an action and its arguments.
type BulkInput struct {
	Action BulkAction
	// Reason of a disable or a reject.
	Reason string
	// Role of set_role (empty clears the admin's role).
	Role string
	// Groups of add_groups and remove_groups.
	Groups []string
	// ManagerEmail of assign_manager (empty clears the admin's).
	ManagerEmail string
	// Attributes of edit: the fields given replace the admin's, the empty
	// ones keep them (as inviting a person does).
	Attributes Attributes
}

// BulkError is a BulkInput that cannot be applied; Field names the
// argument.
type BulkError struct {
	Field, Message string
}

func (e *BulkError) Error() string { return e.Message }

// Check reports the first thing wrong with the input.
func (in BulkInput) Check() error {
	if !slices.Contains(BulkActions, in.Action) && in.Action != BulkResolve {
		var names []string
		for _, a := range BulkActions {
			names = append(names, string(a))
		}
		return &BulkError{Field: "action", Message: fmt.Sprintf("action must be one of %s, not %q", strings.Join(names, ", "), in.Action)}
	}
	switch in.Action {
	case BulkAddGroups, BulkRemoveGroups:
		if len(in.Groups) == 0 {
			return &BulkError{Field: "groups", Message: string(in.Action) + " needs groups"}
		}
		for i, g := range in.Groups {
			if strings.TrimSpace(g) == "" || len(g) > 256 {
				return &BulkError{Field: fmt.Sprintf("groups[%d]", i), Message: "a group name is empty or longer than 256 characters"}
			}
		}
	case BulkAssignManager:
		if in.ManagerEmail != "" {
			if _, _, err := NormalizeEmail(in.ManagerEmail); err != nil {
				return &BulkError{Field: "manager_email", Message: err.Error()}
			}
		}
	}
	if len(in.Reason) > 1000 {
		return &BulkError{Field: "reason", Message: "reason is longer than 1000 characters"}
	}
	return nil
}

// BulkResult is what the action did (or, in a dry run, would do) to one
// card.
type BulkResult struct {
	CardID string
	// Card after the change (as it would be, in a dry run); zero when not
	// found.
	Card Card
	// Changed: the card changed (would change).
	Changed bool
	// Disables: the change disables the card (the safety brake counts these).
	Disables bool
	// Err: this card was refused (not found, not invitable, a reminder
	// too soon); the others still applied.
	Err error
}

// BulkHeld keeps the cards (with their claims) that the dry runs of a
// bulk job read, so that applying the job reads again only the cards
// whose version moved since: for the others it reads their versions
// alone (locking them), not every column of the card and its claims.
// A job's safety brake needs a dry run over every card before the first
// applies, so without it each card is read twice in full.
// Batches of one job may run at once (each its own cards): a mutex
// guards the map.
type BulkHeld struct {
	mu    sync.Mutex
	cards map[string]heldCard
}

type heldCard struct {
	card   Card
	claims []Claim
	// read: the dry run read the claims (an offered card has none yet).
	read bool
}

// NewBulkHeld is an empty BulkHeld.
func NewBulkHeld() *BulkHeld { return &BulkHeld{cards: map[string]heldCard{}} }

// Offer gives the dry run cards the caller read already (the selection
// of a bulk by filter, which lists the cards), so that it reads their
// claims only.
func (h *BulkHeld) Offer(cards []Card) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cards {
		h.cards[c.ID] = heldCard{card: c}
	}
}

// Bulk applies the action to the cards, in order, in one transaction (a
// dry run: a read-only one, nothing written). A card refused does not
// stop the others; a store error fails them all.
func (s *Service) Bulk(ctx context.Context, actor Actor, tenant string, in BulkInput, ids []string, dryRun bool) ([]BulkResult, error) {
	return s.BulkWithHeld(ctx, actor, tenant, in, ids, dryRun, nil)
}

// BulkWithHeld is Bulk with held (nil: none): a dry run keeps in it the
// cards it read, and a run that applies takes from it those whose version
// is still the stored one (each card once: it is dropped as it is taken).
// The outcome is Bulk's either way.
func (s *Service) BulkWithHeld(ctx context.Context, actor Actor, tenant string, in BulkInput, ids []string, dryRun bool, held *BulkHeld) ([]BulkResult, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return nil, err
	}
	if err := in.Check(); err != nil {
		return nil, err
	}
	var results []BulkResult
	run := func(tx store.Tx) error {
		results = make([]BulkResult, len(ids))
		b := s.newBatch(tx, tenant, policy, actor)
		b.dryRun = dryRun
		switch {
		case held != nil && !dryRun:
			if err := b.loadHeld(ctx, ids, held); err != nil {
				return err
			}
		case held != nil:
			if err := b.loadOffered(ctx, ids, held); err != nil {
				return err
			}
		default:
			if _, err := b.load(ctx, ids, nil, nil); err != nil {
				return err
			}
		}
		for i, id := range ids {
			results[i].CardID = id
			w := b.byID[id]
			if w == nil {
				results[i].Err = fmt.Errorf("card %s: %w", id, ErrNotFound)
				continue
			}
			if held != nil && dryRun {
				held.put(id, heldCard{card: w.card, claims: slices.Clone(w.claims), read: true})
			}
			action, m, fn := s.bulkChange(policy, tenant, actor, in, w)
			before := w.card
			out, err := b.mutate(ctx, w, action, KindAdmin, func(w *working) error { return fn(w, b.now) }, m)
			if err != nil {
				return err
			}
			results[i] = BulkResult{CardID: id, Card: out.Card, Changed: out.Changed && out.Err == nil, Err: out.Err,
				Disables: out.Err == nil && before.Enabled && !out.Card.Enabled}
		}
		if dryRun {
			return nil
		}
		return b.flush(ctx)
	}
	if dryRun {
		err = s.store.InReadTx(ctx, run)
	} else {
		err = s.inTx(ctx, run)
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// loadHeld registers the cards of ids as load does, taking from held
// those whose stored version is the held one (read and locked by
// version only), and reading the others in full.
func (b *batch) loadHeld(ctx context.Context, ids []string, held *BulkHeld) error {
	versions, err := b.tx.CardVersions(ctx, b.tenant, ids)
	if err != nil {
		return err
	}
	var stale []string
	for _, id := range ids {
		h, ok := held.take(id)
		v, stored := versions[id]
		switch {
		case !stored || b.byID[id] != nil:
			// Gone since (not found, as load would say), or a duplicate.
		case ok && h.read && h.card.Version == v:
			w := &working{card: h.card, stored: true, version: v, claims: h.claims}
			b.byID[id] = w
			if h.card.EmailNorm != "" {
				b.byEmail[h.card.EmailNorm] = w
			}
			b.order = append(b.order, w)
		default:
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		_, err = b.load(ctx, stale, nil, nil)
	}
	return err
}

// loadOffered registers the cards of ids for a dry run: those offered
// with their claims read now, the others as load reads them.
func (b *batch) loadOffered(ctx context.Context, ids []string, held *BulkHeld) error {
	var offered []Card
	var rest []string
	for _, id := range ids {
		if h, ok := held.get(id); ok && !h.read {
			offered = append(offered, h.card)
		} else {
			rest = append(rest, id)
		}
	}
	if err := b.register(ctx, offered); err != nil {
		return err
	}
	_, err := b.load(ctx, rest, nil, nil)
	return err
}

func (h *BulkHeld) get(id string) (heldCard, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cards[id]
	return c, ok
}

// take removes and returns the card held for id.
func (h *BulkHeld) take(id string) (heldCard, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cards[id]
	delete(h.cards, id)
	return c, ok
}

func (h *BulkHeld) put(id string, c heldCard) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cards[id] = c
}

// changeFunc changes a working card at now.
type changeFunc func(w *working, now time.Time) error

// bulkChange is the audit action, the mutation and the change of one
// bulk action on one card: the same as the one-card methods'.
func (s *Service) bulkChange(policy Policy, tenant string, actor Actor, in BulkInput, w *working) (string, mutation, changeFunc) {
	opt := mutation{emailOptional: true}
	switch in.Action {
	case BulkDisable:
		if w.card.Pin != nil {
			// Pinned already: a bulk disable leaves the first pin's reason.
			return "card.pinned", opt, func(*working, time.Time) error { return nil }
		}
		return "card.pinned", opt, pinChange(actor, in.Reason)
	case BulkEnable:
		return "admin.enable", opt, enableChange(tenant, actor)
	case BulkRelease:
		return "admin.release", opt, releaseChange(tenant)
	case BulkReinvite:
		return "admin.reinvite", mutation{emailOptional: true, forceInvite: true}, reinviteChange(policy)
	case BulkRemind:
		return "admin.remind", opt, s.remindChange(policy, tenant)
	case BulkApprove:
		invite := policy.Invite == "email"
		return "admin.approve", mutation{emailOptional: true, invite: &invite}, approveChange(actor)
	case BulkReject:
		return "admin.reject", opt, rejectChange(actor, in.Reason)
	case BulkResolve:
		return "policy.resolve", mutation{emailOptional: true, neverDisable: true}, func(*working, time.Time) error { return nil }
	}
	// The attribute actions edit the admin's claim as Edit does.
	prev, _ := w.claim(KindAdmin)
	attrs := prev.Attributes
	switch in.Action {
	case BulkSetRole:
		attrs.Role = in.Role
	case BulkAssignManager:
		attrs.ManagerEmail = in.ManagerEmail
	case BulkEdit:
		attrs = layerAttributes(attrs, in.Attributes)
	case BulkAddGroups, BulkRemoveGroups:
		// The card's groups are the first source's that has any: the
		// admin's claim takes the card's groups with these added or
		// removed, so that the card shows exactly that. (Removing every
		// group leaves the admin's claim without any, and the next
		// source's groups show again.)
		groups := slices.Clone(w.card.Attributes.Groups)
		for _, g := range in.Groups {
			i := slices.IndexFunc(groups, func(x string) bool { return strings.EqualFold(x, g) })
			switch {
			case in.Action == BulkAddGroups && i < 0:
				groups = append(groups, g)
			case in.Action == BulkRemoveGroups && i >= 0:
				groups = slices.Delete(groups, i, i+1)
			}
		}
		if slices.Equal(groups, w.card.Attributes.Groups) {
			return "admin.edit", opt, func(*working, time.Time) error { return nil }
		}
		attrs.Groups = groups
	}
	return "admin.edit", opt, editChange(tenant, policy, attrs)
}

func pinChange(actor Actor, reason string) changeFunc {
	return func(w *working, now time.Time) error {
		w.card.Pin = &Pin{Actor: actor.Name, Reason: reason, At: now}
		return nil
	}
}

func enableChange(tenant string, actor Actor) changeFunc {
	return func(w *working, now time.Time) error {
		w.card.Pin = nil
		if w.card.Approval != nil && w.card.Approval.State != store.ApprovalApproved {
			// An admin's enable is an approval too (and undoes a rejection).
			w.card.Approval = &store.Approval{State: store.ApprovalApproved, Actor: actor.Name, At: now}
		}
		prev, _ := w.claim(KindAdmin)
		return setClaim(w, ClaimInput{Tenant: tenant, Source: KindAdmin, Email: w.card.Email, State: store.Present,
			Authoritative: true, Attributes: prev.Attributes, EmailOptional: true}, w.card.Email, now, Actor{Name: "admin"})
	}
}

func releaseChange(tenant string) changeFunc {
	return func(w *working, now time.Time) error {
		w.card.Pin = nil
		if prev, ok := w.claim(KindAdmin); ok && prev.State != store.Withdrawn {
			return setClaim(w, ClaimInput{Tenant: tenant, Source: KindAdmin, Email: w.card.Email, State: store.Withdrawn,
				Authoritative: prev.Authoritative, EmailOptional: true}, "", now, Actor{Name: "admin"})
		}
		return nil
	}
}

func reinviteChange(policy Policy) changeFunc {
	return func(w *working, now time.Time) error {
		if why := NotInvitedReason(policy, w.card); why != "" {
			return fmt.Errorf("%w: %s: %s", ErrNotInvitable, StatusOf(w.card, now), why.Explain())
		}
		return nil
	}
}

func (s *Service) remindChange(policy Policy, tenant string) changeFunc {
	return func(w *working, now time.Time) error {
		if StatusOf(w.card, now) != InvitePending {
			return fmt.Errorf("%w: only a pending invite can be reminded of (the card is %s)", ErrNotInvitable, StatusOf(w.card, now))
		}
		last := w.card.Invite.RemindedAt
		if last.IsZero() {
			last = w.card.Invite.SentAt
		}
		if wait := last.Add(policy.ReminderInterval).Sub(now); wait > 0 {
			return &TooSoonError{RetryAfter: wait}
		}
		inv := *w.card.Invite
		seed, token := s.inviteKey.mint(tenant, w.card.ID)
		inv.TokenHash, inv.RemindedAt = HashToken(token), now
		w.card.Invite = &inv
		w.outbox = append(w.outbox, store.OutboxMessage{Tenant: tenant, CardID: w.card.ID, Kind: OutboxReminder, Created: now,
			Payload: mustJSON(InviteMessage{CardID: w.card.ID, Email: w.card.Email, Seed: seed, KeyID: s.inviteKey.ID(), ExpiresAt: inv.ExpiresAt})})
		return nil
	}
}

// editChange checks the role and relations against the tenant's policy
// (an unknown role or a relation to oneself is refused) and edits the
// admin's claim.
func editChange(tenant string, policy Policy, attrs Attributes) changeFunc {
	return func(w *working, now time.Time) error {
		if err := policy.CheckRole(KindAdmin, attrs.Role); err != nil {
			return err
		}
		if role, ok := policy.KnownRole(attrs.Role); ok && attrs.Role != "" {
			attrs.Role = role
		}
		if err := policy.CheckRelations(attrs, w.card.EmailNorm); err != nil {
			return err
		}
		prev, had := w.claim(KindAdmin)
		state, auth := store.Present, false
		if had && prev.State != store.Withdrawn {
			state, auth = prev.State, prev.Authoritative
		}
		return setClaim(w, ClaimInput{Tenant: tenant, Source: KindAdmin, Email: w.card.Email, State: state,
			Authoritative: auth, Attributes: attrs, EmailOptional: true}, w.card.Email, now, Actor{Name: "admin"})
	}
}
