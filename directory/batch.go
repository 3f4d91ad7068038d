package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

// working is a card being changed inside one transaction, with its claims.
type working struct {
	card Card
	// stored: the card exists in the store; version is its stored version.
	stored  bool
	version int64
	claims  []Claim
	// dirtyClaims names the sources whose claims must be written.
	dirtyClaims sources
	// dirty: the card must be written; mutations counts the changes made to
	// it in this transaction.
	dirty     bool
	mutations int
	// login is set by a mutation that records a login.
	login bool
	// outbox holds messages a mutation queues; kept only if it succeeds.
	outbox []store.OutboxMessage
}

// loggedIn records a login at now: the first one stays, the last moves.
func (w *working) loggedIn(now time.Time) {
	if w.card.FirstLoginAt.IsZero() {
		w.card.FirstLoginAt = now
	}
	w.card.LastLoginAt = now
	w.login = true
}

func (w *working) claim(source string) (Claim, bool) {
	for _, c := range w.claims {
		if c.Source == source {
			return c, true
		}
	}
	return Claim{}, false
}

func (w *working) putClaim(c Claim) {
	c.CardID, c.Tenant = w.card.ID, w.card.Tenant
	if i := slices.IndexFunc(w.claims, func(x Claim) bool { return x.Source == c.Source }); i >= 0 {
		w.claims[i] = c
	} else {
		w.claims = append(w.claims, c)
	}
	w.dirtyClaims = w.dirtyClaims.add(c.Source)
}

// sources is a set of source names; a card has a few claims, and a slice
// costs less than a map per card changed.
type sources []string

func (s sources) has(source string) bool { return slices.Contains(s, source) }

func (s sources) add(source string) sources {
	if s.has(source) {
		return s
	}
	return append(s, source)
}

func (w *working) nextVersion() int64 {
	if w.stored {
		return w.version + 1
	}
	return 1
}

// batch is one transaction's view of the cards it changes: everything is
// read first (locking the rows), changed in memory card by card, and written
// at the end in a few bulk statements.
type batch struct {
	s       *Service
	tx      store.Tx
	tenant  string
	policy  Policy
	actor   Actor
	now     time.Time
	byID    map[string]*working
	byEmail map[string]*working
	order   []*working
	audit   []store.AuditEvent
	events  []store.Event
	outbox  []store.OutboxMessage
	// dryRun: a preview; nothing will be written, so no audit lines or
	// events are built.
	dryRun bool
	// Group changes, written after the cards.
	groups        []store.Group
	deleteGroups  []string
	addMembers    []store.Membership
	removeMembers []store.Membership
}

func (s *Service) newBatch(tx store.Tx, tenant string, policy Policy, actor Actor) *batch {
	return &batch{
		s: s, tx: tx, tenant: tenant, policy: policy, actor: actor, now: s.Now(),
		byID: map[string]*working{}, byEmail: map[string]*working{},
	}
}

// load reads and locks the cards named by id, by email, and by the
// external ids of their sources, with all their claims. It returns, per
// source, the card id of each external id found.
func (b *batch) load(ctx context.Context, ids, emails []string, ext map[string][]string) (map[string]map[string]string, error) {
	extCards := map[string]map[string]string{}
	for _, source := range slices.Sorted(maps.Keys(ext)) {
		m, err := b.tx.ClaimCardIDs(ctx, b.tenant, source, dedupe(ext[source]))
		if err != nil {
			return nil, err
		}
		extCards[source] = m
		for _, id := range m {
			ids = append(ids, id)
		}
	}
	if ids = dedupe(ids); len(ids) > 0 {
		m, err := b.tx.CardsByID(ctx, b.tenant, ids)
		if err != nil {
			return nil, err
		}
		if err := b.register(ctx, slices.Collect(maps.Values(m))); err != nil {
			return nil, err
		}
	}
	// An email the cards just loaded already have needs no lookup: a
	// change to a known card (a PATCH, a feed's update) reads one less.
	emails = slices.DeleteFunc(dedupe(emails), func(e string) bool { return b.byEmail[e] != nil })
	if len(emails) > 0 {
		m, err := b.tx.CardsByEmail(ctx, b.tenant, emails)
		if err != nil {
			return nil, err
		}
		if err := b.register(ctx, slices.Collect(maps.Values(m))); err != nil {
			return nil, err
		}
	}
	return extCards, nil
}

// register adds loaded cards (and their claims) to the working set.
func (b *batch) register(ctx context.Context, cards []Card) error {
	var fresh []string
	for _, c := range cards {
		if b.byID[c.ID] != nil {
			continue
		}
		w := &working{card: c, stored: true, version: c.Version}
		b.byID[c.ID] = w
		if c.EmailNorm != "" {
			b.byEmail[c.EmailNorm] = w
		}
		b.order = append(b.order, w)
		fresh = append(fresh, c.ID)
	}
	if len(fresh) == 0 {
		return nil
	}
	claims, err := b.tx.Claims(ctx, b.tenant, fresh)
	if err != nil {
		return err
	}
	for _, id := range fresh {
		b.byID[id].claims = claims[id]
	}
	return nil
}

// dedupe is xs sorted, without repeats: a copy, never xs itself sorted in
// place (a bulk job's batch is a window of the job's ids, and results
// follow the ids' order: sorted in place, each batch's results came out
// in id order instead).
func dedupe(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

// find returns the working card an input names: by card id, by the card its
// external id belongs to, or by email.
func (b *batch) find(cardID, extCardID, emailNorm string) *working {
	switch {
	case cardID != "":
		return b.byID[cardID]
	case extCardID != "":
		return b.byID[extCardID]
	case emailNorm == "":
		return nil
	default:
		return b.byEmail[emailNorm]
	}
}

func (b *batch) create(display, norm string) *working {
	w := &working{card: Card{ID: newID(), Tenant: b.tenant, Email: display, EmailNorm: norm, CreatedAt: b.now, UpdatedAt: b.now}}
	b.byID[w.card.ID] = w
	if norm != "" {
		b.byEmail[norm] = w
	}
	b.order = append(b.order, w)
	return w
}

// mutate applies fn to a working card, resolves it, and records what
// changed: the audit line, the event, and an invite when the card becomes
// enabled without ever having been invited or logged in. When fn or the
// resolution refuses the change, the card is left as it was and the refusal
// is returned in Outcome.Err. The error result is the store's.
// mutation says how a change may treat the card beyond its claims.
type mutation struct {
	// invite overrides the tenant's AutoInvite; nil = policy.
	invite *bool
	// emailOptional: when the resolved email is another card's, the card
	// keeps its own (possibly none) instead of the change being refused.
	emailOptional bool
	// forceInvite issues a fresh invite (an admin's invite or re-invite)
	// to an enabled card that has an email and never logged in, whatever
	// invites it had.
	forceInvite bool
	// neverDisable refuses the change (ErrWouldDisable) where it would
	// disable the card: a resolve under a new policy changes roles, never
	// who gets in.
	neverDisable bool
}

// ErrWouldDisable refuses a change made with neverDisable that would
// disable the card.
var ErrWouldDisable = errors.New("resolved again, the card would be disabled; it is left for its sources' next write")

func (b *batch) mutate(ctx context.Context, w *working, action, source string, fn func(*working) error, m mutation) (Outcome, error) {
	before := w.card
	saved := struct {
		claims []Claim
		dirty  sources
	}{slices.Clone(w.claims), slices.Clone(w.dirtyClaims)}
	existed := w.stored || w.mutations > 0
	restore := func() {
		w.card, w.claims, w.dirtyClaims, w.login, w.outbox = before, saved.claims, saved.dirty, false, nil
	}
	w.login = false
	if err := fn(w); err != nil {
		restore()
		return Outcome{Card: before, Err: err}, nil
	}
	claimNotes := claimChanges(saved.claims, w.claims, w.dirtyClaims)

	if !existed && w.card.Approval == nil && b.policy.Approval == ApprovalNewCards {
		// Every new card waits for approval, whichever source made it.
		w.card.Approval = &store.Approval{State: store.ApprovalPending, At: b.now}
	}
	r := resolve(w.claims, Decisions{Pin: w.card.Pin, Approval: w.card.Approval}, b.policy, false)
	w.card.Enabled, w.card.Reason, w.card.Attributes, w.card.LastKnown = r.Enabled, r.Reason, r.Attributes, r.LastKnown
	w.card.RoleSource = r.RoleSource
	if m.neverDisable && before.Enabled && !w.card.Enabled {
		restore()
		return Outcome{Card: before, Err: ErrWouldDisable}, nil
	}
	if err := selfRelation(w.card); err != nil {
		restore()
		return Outcome{Card: before, Err: err}, nil
	}
	if r.Email != "" && r.Email != w.card.Email {
		_, norm, err := NormalizeEmail(r.Email)
		if err != nil {
			restore()
			return Outcome{Card: before, Err: err}, nil
		}
		if norm != w.card.EmailNorm {
			other, err := b.cardByEmail(ctx, norm)
			if err != nil {
				return Outcome{}, err
			}
			switch {
			case other != nil && other != w && m.emailOptional:
				norm = "" // the address is another card's; this one keeps its own
			case other != nil && other != w:
				restore()
				return Outcome{Card: before, Err: fmt.Errorf("%w: %s is the email of card %s", ErrEmailTaken, r.Email, other.card.ID)}, nil
			default:
				delete(b.byEmail, w.card.EmailNorm)
				b.byEmail[norm] = w
			}
		}
		if norm != "" {
			w.card.Email, w.card.EmailNorm = r.Email, norm
		}
	}

	wantInvite := b.policy.AutoInvite
	if m.invite != nil {
		wantInvite = *m.invite
	}
	invitable := NotInvitedReason(b.policy, w.card) == ""
	var invite *InviteMessage
	if invitable && (m.forceInvite || wantInvite && (!before.Enabled || !existed) && w.card.Invite == nil) {
		msg := b.issueInvite(w)
		invite = &msg
	}

	changes := changeList(before, w.card, existed)
	if existed && len(changes) == 0 && len(claimNotes) == 0 {
		return Outcome{Card: w.card}, nil
	}

	w.card.Version = w.nextVersion()
	w.card.UpdatedAt = b.now
	w.dirty = true
	w.mutations++

	eventType := ""
	switch {
	case !existed:
		eventType = "card.created"
	case before.Enabled != w.card.Enabled && w.card.Enabled:
		eventType = "card.enabled"
	case before.Enabled != w.card.Enabled:
		eventType = "card.disabled"
	case w.login:
		eventType = "card.login"
	case len(changes) > 0:
		eventType = "card.updated"
	}

	queued := w.outbox
	w.outbox = nil
	if b.dryRun {
		o := Outcome{Card: w.card, Created: !existed, Changed: true, Event: eventType}
		if existed {
			o.Before = &before
		}
		return o, nil
	}
	b.outbox = append(b.outbox, queued...)
	after := b.s.view(w.card, b.now)
	detail := strings.Join(claimNotes, "; ")
	if len(changes) > 0 {
		if detail != "" {
			detail += "; "
		}
		detail += "changed: " + strings.Join(changes, ", ")
	}
	// The card after the change is encoded once, for the audit line and
	// the event: a bulk job of 100,000 cards encodes 100,000 fewer.
	afterJSON := mustJSON(after)
	audit := store.AuditEvent{Tenant: b.tenant, CardID: w.card.ID, At: b.now, Actor: b.actor.Name, Source: source,
		Action: action, RunID: b.actor.RunID, After: afterJSON, Detail: detail}
	if existed {
		audit.Before = mustJSON(b.s.view(before, b.now))
	}
	b.audit = append(b.audit, audit)
	if eventType != "" {
		b.events = append(b.events, store.Event{Tenant: b.tenant, CardID: w.card.ID, Type: eventType, At: b.now,
			Actor: b.actor.Name, Source: source, Data: eventData{Card: afterJSON, Changes: changes, Reason: w.card.Reason, RunID: b.actor.RunID}.encode()})
	}
	if invite != nil {
		invite.Email, invite.ExpiresAt = w.card.Email, w.card.Invite.ExpiresAt
		b.outbox = append(b.outbox, store.OutboxMessage{Tenant: b.tenant, CardID: w.card.ID, Kind: OutboxInvite, Created: b.now,
			Payload: mustJSON(*invite)})
	}
	return Outcome{Card: w.card, Created: !existed, Changed: true, Event: eventType}, nil
}

// eventData is the payload of a card event.
type eventData struct {
	// Card is the encoded cardView.
	Card    json.RawMessage `json:"card"`
	Changes []string        `json:"changes,omitempty"`
	Reason  string          `json:"reason"`
	// RunID names the sync run or bulk job of the change, as its audit
	// line does.
	RunID string `json:"run_id,omitempty"`
}

// encode is json.Marshal's encoding of d, written out: Card is a
// compact encoding already (mustJSON's), and Marshal would scan and copy
// it again for every event.
func (d eventData) encode() []byte {
	b := make([]byte, 0, len(d.Card)+64+len(d.Reason)+16*len(d.Changes))
	b = append(b, `{"card":`...)
	b = append(b, d.Card...)
	if len(d.Changes) > 0 {
		b = append(b, `,"changes":`...)
		b = append(b, mustJSON(d.Changes)...)
	}
	b = append(b, `,"reason":`...)
	b = append(b, mustJSON(d.Reason)...)
	if d.RunID != "" {
		b = append(b, `,"run_id":`...)
		b = append(b, mustJSON(d.RunID)...)
	}
	return append(b, '}')
}

// cardByEmail finds a card by email in the working set or, failing that,
// in the store (locking it).
func (b *batch) cardByEmail(ctx context.Context, norm string) (*working, error) {
	if w := b.byEmail[norm]; w != nil {
		return w, nil
	}
	m, err := b.tx.CardsByEmail(ctx, b.tenant, []string{norm})
	if err != nil {
		return nil, err
	}
	c, ok := m[norm]
	if !ok {
		return nil, nil
	}
	if err := b.register(ctx, []Card{c}); err != nil {
		return nil, err
	}
	return b.byID[c.ID], nil
}

// claimChanges describes, for the audit trail, how the claims changed:
// "file:hr: present → withdrawn".
func claimChanges(before, after []Claim, dirty sources) []string {
	var notes []string
	for _, c := range after {
		if !dirty.has(c.Source) {
			continue
		}
		i := slices.IndexFunc(before, func(x Claim) bool { return x.Source == c.Source })
		switch {
		case i < 0:
			notes = append(notes, fmt.Sprintf("%s: new claim, %s", c.Source, c.State))
		case before[i].State != c.State:
			notes = append(notes, fmt.Sprintf("%s: %s → %s", c.Source, before[i].State, c.State))
		case !claimEqual(before[i], c):
			notes = append(notes, fmt.Sprintf("%s: claim updated", c.Source))
		}
	}
	return notes
}

// flush writes everything the batch changed, cards first (claims refer to them).
func (b *batch) flush(ctx context.Context) error {
	var (
		cards  []Card
		claims []Claim
	)
	for _, w := range b.order {
		if !w.dirty {
			continue
		}
		cards = append(cards, w.card)
		for _, c := range w.claims {
			if w.dirtyClaims.has(c.Source) {
				claims = append(claims, c)
			}
		}
	}
	return b.tx.Write(ctx, store.Changes{Cards: cards, Claims: claims, Groups: b.groups, DeleteGroups: b.deleteGroups,
		AddMembers: b.addMembers, RemoveMembers: b.removeMembers, Audit: b.audit, Events: b.events, Outbox: b.outbox})
}
