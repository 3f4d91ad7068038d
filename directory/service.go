package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/store"
)

// Errors a channel turns into a status code or a message for a person.
var (
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrNotFound: no card with that id in that tenant.
	ErrNotFound = store.ErrNotFound
	// ErrDisabled: the card exists and is disabled; a login is refused.
	ErrDisabled = errors.New("card is disabled")
	// ErrUnknownPerson: a login for an email no card has, with JIT off.
	ErrUnknownPerson = errors.New("no card for this person")
	// ErrEmailTaken: a change would give a card an email another card has.
	ErrEmailTaken = errors.New("email belongs to another card")
	// ErrLoginTaken: another card's live claim of the source holds the login.
	ErrLoginTaken = errors.New("login belongs to another card")
	// ErrClaimExists: a create found the source already holding a live claim
	// on the person's card.
	ErrClaimExists = errors.New("the source already holds this person")
)

// Policy is a tenant's rules the directory applies.
type Policy struct {
	// Invite is "email" (new cards get an emailed invite) or "none" (SSO only).
	Invite           string
	InviteTTL        time.Duration
	ReminderInterval time.Duration
	// AutoInvite sends an invite when a card becomes enabled for the first
	// time without having been invited or having logged in.
	AutoInvite bool
	// JIT creates a card on the first SAML login of an unknown person.
	JIT bool
	// Precedence orders source kinds for attributes; nil = DefaultPrecedence.
	Precedence []string
	// Roles is the tenant's role set; empty: role is free text, as any
	// attribute. DefaultRole is the role of a card nothing else gives one.
	Roles       []string
	DefaultRole string
	// RoleRules map source values to roles, first match wins (see Resolve).
	RoleRules []RoleRule
	// Approval is ApprovalNone (""), ApprovalNewCards or ApprovalJIT.
	Approval string
	// Relations names the relations to other cards the tenant keeps
	// besides the manager (parent, instructor).
	Relations []string
	// SSODomains are the email domains (lower case) whose people sign in
	// through the tenant's SSO: no email invite goes to them
	// (NotInvitedSSODomain), their cards are provisioned.
	SSODomains []string
}

// DefaultPolicy is the policy of a tenant configured with no options.
func DefaultPolicy() Policy {
	return Policy{Invite: "email", InviteTTL: 7 * 24 * time.Hour, ReminderInterval: 24 * time.Hour, AutoInvite: true}
}

// Actor says who makes a change, for the audit trail and the events.
type Actor struct {
	// Name: "admin:ops" for an admin key, "scim:okta", "file:hr", "saml", "system".
	Name string
	// RunID names the sync run or request the change belongs to.
	RunID string
}

// ClaimInput is one source's statement about one person.
type ClaimInput struct {
	Tenant string
	// Source: "scim:okta", "file:hr", "ldap:corp", "saml", "admin".
	Source string
	// ExternalID is the source's immutable id for the person, if it has one.
	// A claim found by external id follows its card even when the email
	// changes.
	ExternalID string
	Email      string
	State      store.ClaimState
	// Authoritative claims decide enabled/disabled (see Resolve).
	Authoritative bool
	Attributes    Attributes
	// Partial, when set, says the statement asserts only some attributes;
	// the claim keeps its value of the others (see ClaimAttributes).
	Partial *Partial
	// Import: the statement is an admin's one-off import (a file, perhaps
	// an export edited and sent back), not a source that goes on listing
	// the person. It does not take over access: listing a person whom
	// other sources enable, its claim is attributes-only unless it is
	// authoritative already; saying "disabled" of a card that is disabled
	// already and that the source does not hold, it writes nothing.
	Import bool
	// CardID, when set, names the card directly (an admin acting on a card);
	// otherwise the card is found by external id, then by email, and created
	// when there is none.
	CardID string
	// Invite overrides the tenant's AutoInvite for this change; nil = policy.
	Invite *bool
	// Login is the source's login name (SCIM userName): unique among the
	// source's live claims, ignoring case.
	Login string
	// Raw is the source's own record as it sent it (JSON), kept with the claim.
	Raw []byte
	// MustBeNew: the input is a new person for the source (a SCIM POST).
	// When the source already holds a live claim on the card its email
	// finds, the input is refused with ErrClaimExists — or, with
	// EmailOptional, gets a card of its own without that email.
	MustBeNew bool
	// EmailOptional: the source's key is not the email (SCIM's is
	// userName). A missing or invalid email is no refusal (the card has
	// none), and an email that is another card's is kept on the claim but
	// not given to this card.
	EmailOptional bool
	// KeepGroups keeps the claim's groups as they are: the source keeps
	// group membership apart from the person's record (SCIM Groups).
	KeepGroups bool
	// IfVersion, when not zero, is the card version the caller last read:
	// a card at another version refuses the input with ErrVersionMismatch.
	IfVersion int64
	// Patch, when set, makes the statement from what the source says now,
	// read and locked in the transaction that writes it (a SCIM PATCH:
	// read, patch and write with no other write in between, and no read
	// before the transaction): CardID names the card, the source's claim
	// on it must be live (else ErrNotFound), and the input Patch returns
	// replaces this one (its CardID and Patch are this one's; its
	// IfVersion is ignored: Patch itself checks the card's version). An
	// error of Patch refuses the change, as Outcome.Err.
	Patch func(card Card, claim Claim) (ClaimInput, error)
}

// Outcome is what one ClaimInput did.
type Outcome struct {
	Card Card
	// Created: the card did not exist before.
	Created bool
	// Changed: something was written (card, claim, audit, event).
	Changed bool
	// Event is the type of the event written ("card.created", …), or "".
	Event string
	// Err: this input was refused (invalid email, an email of another
	// card); the rest of its batch still applied.
	Err error
	// Before is the card as it was, in a preview of a change to a card
	// that exists (what an import's review shows changing).
	Before *Card
	// Claim is the input's source's claim on the card after it (what a
	// SCIM POST answers with); zero when the input was refused.
	Claim Claim
}

// Service is the only code that changes cards. Every method that writes does
// so in one transaction holding the card, its claims, an audit event, an
// event for the platform and any outbox messages, so that a crash never
// loses one of them and never leaves one for a change that did not commit.
type Service struct {
	store    store.Store
	policies Policies
	now      func() time.Time
	logger   *slog.Logger
	// inviteKey derives invite tokens (InviteKey).
	inviteKey *InviteKey
	// gather gathers concurrent ApplyClaim calls into shared
	// transactions (gather.go).
	gather gatherer
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read time from now (tests pin the clock).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// Policies hands the service each tenant's policy as it is now (the
// tenant registry); a tenant it does not know is ErrUnknownTenant.
type Policies interface {
	Policy(tenant string) (Policy, bool)
}

// PolicyMap is a fixed set of tenants' policies.
type PolicyMap map[string]Policy

// Policy implements Policies.
func (m PolicyMap) Policy(tenant string) (Policy, bool) {
	p, ok := m[tenant]
	return p, ok
}

// WithPolicies makes the service ask p for each tenant's policy, in place
// of the map NewService was given.
func WithPolicies(p Policies) Option { return func(s *Service) { s.policies = p } }

// WithInviteKey sets the key invite tokens are derived from; the mail
// worker must hold the same. The default is a random key of this Service
// alone: fine for a process that also sends its mails, not for a command
// whose invites the daemon sends.
func WithInviteKey(k *InviteKey) Option { return func(s *Service) { s.inviteKey = k } }

// InviteKey is the key the service derives invite tokens from: the one
// the mail worker needs.
func (s *Service) InviteKey() *InviteKey { return s.inviteKey }

// NewService returns a service over st for the tenants in policies.
func NewService(st store.Store, policies map[string]Policy, opts ...Option) *Service {
	s := &Service{
		store:    st,
		policies: PolicyMap(policies),
		now:      time.Now,
		logger:   slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	if s.inviteKey == nil {
		s.inviteKey = NewRandomInviteKey()
	}
	return s
}

// Policy returns a tenant's policy.
func (s *Service) Policy(tenant string) (Policy, error) {
	p, ok := s.policies.Policy(tenant)
	if !ok {
		return Policy{}, fmt.Errorf("%w %q", ErrUnknownTenant, tenant)
	}
	return p, nil
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now().UTC() }

// ApplyClaim applies one source's statement about one person.
// Concurrent calls of one tenant and actor share transactions (group
// commit, gather.go); each gets the outcome it would have had alone.
func (s *Service) ApplyClaim(ctx context.Context, actor Actor, in ClaimInput) (Outcome, error) {
	out, err := s.applyGathered(ctx, actor, in)
	if err != nil {
		return Outcome{}, err
	}
	return out, out.Err
}

// ApplyClaims applies a batch of statements of one tenant in one
// transaction. An input that is refused (see Outcome.Err) does not stop the
// others; an error of the store fails the whole batch and writes nothing.
// Callers bound the batch size (a sync run applies a plan in batches).
func (s *Service) ApplyClaims(ctx context.Context, actor Actor, ins []ClaimInput) ([]Outcome, error) {
	return s.applyClaims(ctx, actor, ins, false)
}

// Preview says what ApplyClaims would do with the same inputs — which cards
// it would create, enable or disable — without writing anything: the same
// transaction runs and is rolled back. A sync plan is made with it, so the
// plan's effects are the directory's own decisions, not a second copy of
// its rules.
func (s *Service) Preview(ctx context.Context, actor Actor, ins []ClaimInput) ([]Outcome, error) {
	return s.applyClaims(ctx, actor, ins, true)
}

// errPreview rolls a preview's transaction back.
var errPreview = errors.New("preview: roll back")

func (s *Service) applyClaims(ctx context.Context, actor Actor, ins []ClaimInput, dryRun bool) ([]Outcome, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	tenant := ins[0].Tenant
	policy, err := s.Policy(tenant)
	if err != nil {
		return nil, err
	}
	preps := make([]prepared, len(ins))
	refused := make([]error, len(ins))
	for i := range ins {
		preps[i], refused[i] = s.prepare(policy, tenant, &ins[i])
	}

	var outcomes []Outcome
	// A preview writes nothing: it reads in a read-only transaction, which
	// locks no rows and waits for no writer, so previews run side by side.
	run := s.inTx
	if dryRun {
		run = s.store.InReadTx
	}
	err = run(ctx, func(tx store.Tx) error {
		// Outcomes start afresh on every attempt: a retried transaction
		// must not report what a rolled-back one did.
		outcomes = make([]Outcome, len(ins))
		for i := range outcomes {
			outcomes[i].Err = refused[i]
		}
		b := s.newBatch(tx, tenant, policy, actor)
		b.dryRun = dryRun
		// About a card per input: the maps are made at that size once
		// rather than grown from empty in every batch.
		b.byID, b.byEmail = make(map[string]*working, len(ins)), make(map[string]*working, len(ins))
		var (
			ids    []string
			emails []string
			ext    = map[string][]string{}
			logins = map[string][]string{}
		)
		for i, p := range preps {
			if outcomes[i].Err != nil {
				continue
			}
			if p.in.CardID != "" {
				ids = append(ids, p.in.CardID)
			}
			if p.in.ExternalID != "" {
				ext[p.in.Source] = append(ext[p.in.Source], p.in.ExternalID)
			}
			if p.emailNorm != "" {
				emails = append(emails, p.emailNorm)
			}
			if p.in.Login != "" {
				logins[p.in.Source] = append(logins[p.in.Source], p.in.Login)
			}
		}
		extCards, err := b.load(ctx, ids, emails, ext)
		if err != nil {
			return err
		}
		// A login a loaded card's live claim of the source already holds is
		// held by that card (logins are unique among live claims): only the
		// others are looked up.
		loginCards := map[string]map[string]string{}
		for _, w := range b.order {
			for _, c := range w.claims {
				if c.Login != "" && c.State != store.Withdrawn && logins[c.Source] != nil {
					if loginCards[c.Source] == nil {
						loginCards[c.Source] = map[string]string{}
					}
					loginCards[c.Source][strings.ToLower(c.Login)] = w.card.ID
				}
			}
		}
		for source, ls := range logins {
			ls = slices.DeleteFunc(ls, func(l string) bool { return loginCards[source][strings.ToLower(l)] != "" })
			if len(ls) == 0 {
				continue
			}
			found, err := tx.LoginCardIDs(ctx, tenant, source, ls)
			if err != nil {
				return err
			}
			if loginCards[source] == nil {
				loginCards[source] = found
				continue
			}
			maps.Copy(loginCards[source], found)
		}
		for i, p := range preps {
			if outcomes[i].Err != nil {
				continue
			}
			if p.in.Patch != nil {
				var err error
				if p, outcomes[i], err = b.patched(ctx, p, loginCards); err != nil {
					return err
				}
				if outcomes[i].Err != nil {
					continue
				}
			}
			w := b.find(p.in.CardID, extCards[p.in.Source][p.in.ExternalID], p.emailNorm)
			if p.in.CardID != "" && w == nil {
				outcomes[i].Err = fmt.Errorf("card %s: %w", p.in.CardID, ErrNotFound)
				continue
			}
			if w != nil && p.in.IfVersion != 0 && w.card.Version != p.in.IfVersion {
				outcomes[i] = Outcome{Card: w.card, Err: fmt.Errorf("%w: card %s is at version %d, not %d", ErrVersionMismatch, w.card.ID, w.card.Version, p.in.IfVersion)}
				continue
			}
			anotherPerson := false
			if w != nil && p.in.MustBeNew {
				if c, ok := w.claim(p.in.Source); ok && c.State != store.Withdrawn {
					if !p.in.EmailOptional {
						outcomes[i] = Outcome{Card: w.card, Err: fmt.Errorf("%w: card %s", ErrClaimExists, w.card.ID)}
						continue
					}
					// The source holds this address already, for someone
					// else by its own key: another person who shares a
					// mailbox. They get a card of their own, without it.
					w, anotherPerson = nil, true
				}
			}
			loginKey := strings.ToLower(p.in.Login)
			if holder := loginCards[p.in.Source][loginKey]; p.in.Login != "" && p.in.State != store.Withdrawn && holder != "" && (w == nil || holder != w.card.ID) {
				outcomes[i] = Outcome{Err: fmt.Errorf("%w: %q is held by card %s", ErrLoginTaken, p.in.Login, holder)}
				continue
			}
			if w == nil {
				if p.in.State == store.Withdrawn {
					continue // nothing to withdraw from a card that never was
				}
				if anotherPerson {
					w = b.create("", "")
				} else {
					w = b.create(p.display, p.emailNorm)
				}
			}
			in := p.in
			prev, _ := w.claim(in.Source)
			if in.Import && in.State == store.Deactivated && (prev.State == "" || prev.State == store.Withdrawn) &&
				(w.stored || w.mutations > 0) && !w.card.Enabled {
				// An import (a re-imported export says "disabled") that
				// does not hold the person, about a card that is disabled
				// already: its word would change nothing but hold the card
				// disabled after its sources list the person again, and
				// replace its last known attributes.
				outcomes[i] = Outcome{Card: w.card}
				continue
			}
			stmt := *in
			if in.Import && in.Authoritative && in.State == store.Present && (w.stored || w.mutations > 0) && w.card.Enabled &&
				!(prev.State != "" && prev.State != store.Withdrawn && prev.Authoritative) {
				// An import listing a person whom other sources enable
				// gives its attributes, not its hold on access: a
				// re-imported export must not keep everyone in after HR
				// lets them go. It brings in only the people nobody
				// enables, and keeps those it holds already.
				stmt.Authoritative = false
			}
			invite := in.Invite
			if in.Import && (w.stored || w.mutations > 0) {
				// An import invites only the people it brings in: someone
				// it updates, or re-enables, is never invited by it.
				invite = new(false)
			}
			outcomes[i], err = b.mutate(ctx, w, "claim.applied", in.Source, func(w *working) error {
				return setClaim(w, stmt, p.display, b.now, actor)
			}, mutation{invite: invite, emailOptional: in.EmailOptional})
			if err != nil {
				return err
			}
			if outcomes[i].Err == nil {
				outcomes[i].Claim, _ = w.claim(in.Source)
			}
			if outcomes[i].Err == nil && in.State == store.Withdrawn && prev.State != store.Withdrawn && len(prev.Attributes.Groups) > 0 {
				// A person the source no longer lists leaves its groups.
				if err := b.leaveGroups(ctx, w, in.Source); err != nil {
					return err
				}
			}
			if outcomes[i].Err == nil && in.Login != "" {
				if loginCards[in.Source] == nil {
					loginCards[in.Source] = map[string]string{}
				}
				loginCards[in.Source][loginKey] = w.card.ID
			}
		}
		if dryRun {
			return errPreview
		}
		return b.flush(ctx)
	})
	if err != nil && !(dryRun && errors.Is(err, errPreview)) {
		return nil, err
	}
	return outcomes, nil
}

// prepared is an input of applyClaims with its email normalized.
type prepared struct {
	in                 *ClaimInput // in the caller's inputs, which are only read
	display, emailNorm string
}

// prepare checks an input of a batch of tenant and normalizes its email
// (a Patch input is prepared once its patch has made it).
func (s *Service) prepare(policy Policy, tenant string, in *ClaimInput) (p prepared, err error) {
	p.in = in
	switch {
	case in.Tenant != tenant:
		return p, fmt.Errorf("batch mixes tenants %q and %q", tenant, in.Tenant)
	case in.Source == "":
		return p, errors.New("claim has no source")
	case in.Patch != nil && in.CardID == "":
		return p, errors.New("a patch names no card")
	case in.Patch != nil:
		return p, nil
	case !in.State.Valid():
		return p, fmt.Errorf("invalid claim state %q", in.State)
	}
	p.display, p.emailNorm, err = NormalizeEmail(in.Email)
	if err != nil && in.State == store.Withdrawn && (in.ExternalID != "" || in.CardID != "") {
		err = nil // a withdrawal needs no email when the claim is known otherwise
	}
	if err != nil && in.EmailOptional {
		err, p.display, p.emailNorm = nil, "", ""
	}
	if err == nil {
		p.in, err = s.vetInput(policy, p.in, p.emailNorm)
	}
	return p, err
}

// patched makes a Patch input's statement from the card's live claim of
// its source, as the batch read and locked it, and prepares it as the
// other inputs were. A new login the statement gives that no
// loaded card holds is looked up, as the batch looked up the others'
// (the claim's own login is its card's already).
// A refusal is the Outcome's Err; the error is the store's.
func (b *batch) patched(ctx context.Context, p prepared, loginCards map[string]map[string]string) (prepared, Outcome, error) {
	in := p.in
	w := b.byID[in.CardID]
	var (
		claim Claim
		ok    bool
	)
	if w != nil {
		claim, ok = w.claim(in.Source)
	}
	if !ok || claim.State == store.Withdrawn {
		return p, Outcome{Err: fmt.Errorf("card %s: %w", in.CardID, ErrNotFound)}, nil
	}
	next, err := in.Patch(w.card, claim)
	if err != nil {
		return p, Outcome{Card: w.card, Err: err}, nil
	}
	next.CardID, next.Patch, next.IfVersion = in.CardID, nil, 0
	np, err := b.s.prepare(b.policy, b.tenant, &next)
	if err != nil {
		return p, Outcome{Card: w.card, Err: err}, nil
	}
	if login := strings.ToLower(next.Login); login != "" && !strings.EqualFold(next.Login, claim.Login) && loginCards[next.Source][login] == "" {
		found, err := b.tx.LoginCardIDs(ctx, b.tenant, next.Source, []string{next.Login})
		if err != nil {
			return p, Outcome{}, err
		}
		if loginCards[next.Source] == nil {
			loginCards[next.Source] = map[string]string{}
		}
		maps.Copy(loginCards[next.Source], found)
	}
	return np, Outcome{}, nil
}

// setClaim puts the input's claim on the working card.
func setClaim(w *working, in ClaimInput, display string, now time.Time, actor Actor) error {
	c, had := w.claim(in.Source)
	if !had {
		c = Claim{CardID: w.card.ID, Tenant: w.card.Tenant, Source: in.Source, FirstSeen: now, StateSince: now}
	}
	next := c
	if in.ExternalID != "" {
		next.ExternalID = in.ExternalID
	}
	if display != "" || in.EmailOptional {
		next.Email = display
	}
	next.State = in.State
	next.Authoritative = in.Authoritative
	next.Attributes = ClaimAttributes(c.Attributes, in.Attributes, in.Partial)
	if in.KeepGroups {
		next.Attributes.Groups = c.Attributes.Groups
	}
	if in.Login != "" {
		next.Login = in.Login
	}
	if in.Raw != nil {
		next.Raw = in.Raw
	}
	if in.State == store.Withdrawn {
		// A withdrawn claim keeps its last attributes for the record;
		// Resolve ignores them.
		next.Attributes = c.Attributes
	}
	if had && claimEqual(c, next) {
		return nil
	}
	if c.State != next.State || !had {
		next.StateSince = now
	}
	next.LastSeen = now
	next.Actor, next.RunID = actor.Name, actor.RunID
	w.putClaim(next)
	return nil
}

func claimEqual(a, b Claim) bool {
	return a.ExternalID == b.ExternalID && a.Email == b.Email && a.State == b.State && a.Login == b.Login &&
		a.Authoritative == b.Authoritative && bytes.Equal(a.Raw, b.Raw) && len(changedAttributes(a.Attributes, b.Attributes)) == 0
}

// Pin disables a card until an admin unpins it: no source, SCIM call or
// login undoes a pin.
func (s *Service) Pin(ctx context.Context, actor Actor, tenant, cardID, reason string) (Card, error) {
	return s.updateCard(ctx, actor, tenant, cardID, "card.pinned", pinChange(actor, reason))
}

// Unpin removes an admin pin; the claims decide again.
func (s *Service) Unpin(ctx context.Context, actor Actor, tenant, cardID string) (Card, error) {
	return s.updateCard(ctx, actor, tenant, cardID, "card.unpinned", func(w *working, now time.Time) error {
		w.card.Pin = nil
		return nil
	})
}

func (s *Service) updateCard(ctx context.Context, actor Actor, tenant, cardID, action string, fn func(w *working, now time.Time) error) (Card, error) {
	return s.updateCardWith(ctx, actor, tenant, cardID, action, mutation{emailOptional: true}, fn)
}

// updateCardWith changes one card by id in one transaction.
func (s *Service) updateCardWith(ctx context.Context, actor Actor, tenant, cardID, action string, m mutation, fn func(w *working, now time.Time) error) (Card, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Card{}, err
	}
	var card Card
	err = s.inTx(ctx, func(tx store.Tx) error {
		b := s.newBatch(tx, tenant, policy, actor)
		if _, err := b.load(ctx, []string{cardID}, nil, nil); err != nil {
			return err
		}
		w := b.byID[cardID]
		if w == nil {
			return fmt.Errorf("card %s: %w", cardID, ErrNotFound)
		}
		out, err := b.mutate(ctx, w, action, KindAdmin, func(w *working) error { return fn(w, b.now) }, m)
		if err != nil {
			return err
		}
		if out.Err != nil {
			return out.Err
		}
		card = out.Card
		return b.flush(ctx)
	})
	return card, err
}

// Login is a person's successful authentication at the IdP.
type Login struct {
	Tenant string
	Email  string
	// NameID is the IdP's subject; kept as the saml claim's external id.
	NameID     string
	Attributes Attributes
}

// RecordLogin records a login: the first makes the card active; attributes
// update as the saml source (lowest precedence by default). A disabled card
// is refused with ErrDisabled, an unknown person with ErrUnknownPerson
// unless the tenant creates cards just in time; both refusals are audited.
func (s *Service) RecordLogin(ctx context.Context, l Login) (Card, error) {
	policy, err := s.Policy(l.Tenant)
	if err != nil {
		return Card{}, err
	}
	display, norm, err := NormalizeEmail(l.Email)
	if err != nil {
		return Card{}, err
	}
	var (
		card    Card
		refusal error
	)
	actor := Actor{Name: KindSAML}
	err = s.inTx(ctx, func(tx store.Tx) error {
		refusal = nil
		b := s.newBatch(tx, l.Tenant, policy, actor)
		if _, err := b.load(ctx, nil, []string{norm}, nil); err != nil {
			return err
		}
		w := b.byEmail[norm]
		switch {
		case w == nil && !policy.JIT:
			refusal = ErrUnknownPerson
			b.audit = append(b.audit, store.AuditEvent{Tenant: l.Tenant, At: b.now, Actor: actor.Name, Source: KindSAML,
				Action: "login.refused", Detail: "no card for this person and just-in-time creation is off"})
			return b.flush(ctx)
		case w != nil && !w.card.Enabled && StatusOf(w.card, b.now) == PendingApproval:
			refusal = ErrPendingApproval
			card = w.card
			b.audit = append(b.audit, store.AuditEvent{Tenant: l.Tenant, CardID: w.card.ID, At: b.now, Actor: actor.Name, Source: KindSAML,
				Action: "login.refused", Detail: w.card.Reason})
			return b.flush(ctx)
		case w != nil && !w.card.Enabled:
			refusal = ErrDisabled
			card = w.card
			b.audit = append(b.audit, store.AuditEvent{Tenant: l.Tenant, CardID: w.card.ID, At: b.now, Actor: actor.Name, Source: KindSAML,
				Action: "login.refused", Detail: w.card.Reason})
			return b.flush(ctx)
		case w == nil:
			w = b.create(display, norm)
			if policy.Approval == ApprovalJIT || policy.Approval == ApprovalNewCards {
				// The card is made, and waits for approval; this login
				// does not get in.
				w.card.Approval = &store.Approval{State: store.ApprovalPending, At: b.now}
				refusal = ErrPendingApproval
			}
		}
		l := l
		if vetted, err := s.vetInput(policy, &ClaimInput{Tenant: l.Tenant, Source: KindSAML, Attributes: l.Attributes, State: store.Present}, norm); err == nil {
			l.Attributes = vetted.Attributes
		}
		out, err := b.mutate(ctx, w, "login", KindSAML, func(w *working) error {
			prev, had := w.claim(KindSAML)
			// A JIT-created card lives by its saml claim; on a card that
			// another source brought in, SAML only enriches attributes.
			authoritative := (had && prev.Authoritative) || !w.stored
			if err := setClaim(w, ClaimInput{Tenant: l.Tenant, Source: KindSAML, ExternalID: l.NameID, State: store.Present,
				Authoritative: authoritative, Attributes: l.Attributes}, display, b.now, actor); err != nil {
				return err
			}
			if refusal == nil {
				w.loggedIn(b.now)
			}
			return nil
		}, mutation{emailOptional: true})
		if err != nil {
			return err
		}
		if out.Err != nil {
			return out.Err
		}
		card = out.Card
		return b.flush(ctx)
	})
	if err != nil {
		return Card{}, err
	}
	return card, refusal
}

// maxAttempts bounds the retries of a transaction that lost a race.
const maxAttempts = 12

// inTx runs fn in a transaction and runs it again when it lost a race: two
// writers creating the card for one email (the loser's insert meets the
// unique index), a version that moved, a deadlock the database broke.
func (s *Service) inTx(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.store.InTx(ctx, fn)
		if err == nil || attempt == maxAttempts || !(errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists)) {
			return err
		}
		s.logger.Debug("transaction lost a race, retrying", "attempt", attempt, "err", err)
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// cardView is a card as events and audit lines show it: with its status.
type cardView struct {
	Card
	Status Status `json:"status"`
}

func (s *Service) view(c Card, now time.Time) cardView {
	return cardView{Card: c, Status: StatusOf(c, now)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Cards and claims are plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("directory: encoding %T: %v", v, err))
	}
	return b
}

// newID returns a UUIDv7: ids sort by creation time, which keeps cursor
// paging in creation order and inserts at the end of the index.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// changeList names what differs between two versions of a card.
func changeList(before, after Card, existed bool) []string {
	if !existed {
		return nil
	}
	var changed []string
	if before.Email != after.Email {
		changed = append(changed, "email")
	}
	if before.Enabled != after.Enabled {
		changed = append(changed, "enabled")
	}
	changed = append(changed, changedAttributes(before.Attributes, after.Attributes)...)
	if (before.Pin == nil) != (after.Pin == nil) {
		changed = append(changed, "pin")
	}
	if (before.Approval == nil) != (after.Approval == nil) || (before.Approval != nil && after.Approval != nil && *before.Approval != *after.Approval) {
		changed = append(changed, "approval")
	}
	if before.RoleSource != after.RoleSource {
		changed = append(changed, "role_source")
	}
	if (before.LastKnown == nil) != (after.LastKnown == nil) || (before.LastKnown != nil && after.LastKnown != nil && *before.LastKnown != *after.LastKnown) {
		changed = append(changed, "last_known")
	}
	if (before.Invite == nil) != (after.Invite == nil) || (before.Invite != nil && after.Invite != nil && *before.Invite != *after.Invite) {
		changed = append(changed, "invite")
	}
	if !before.LastLoginAt.Equal(after.LastLoginAt) {
		changed = append(changed, "last_login_at")
	}
	return slices.Clip(changed)
}

// BatchOptions tunes ApplyAll.
type BatchOptions struct {
	// Size is the number of claims per transaction; default 1000.
	Size int
	// Workers is the number of transactions in flight at once; default 2.
	// While one transaction waits on the database another is being
	// prepared, and on PostgreSQL several use several cores.
	Workers int
	// Done, when set, is called after each committed batch with the number
	// of inputs it held (a progress bar's tick); one call at a time.
	Done func(n int)
	// Each, when set, is given each committed batch's outcomes instead of
	// ApplyAll keeping them: lo is the index of the batch's first input,
	// calls come one at a time (before the batch's Done), and ApplyAll
	// returns no outcomes. A big apply then holds no card per input once
	// its batch has been counted.
	Each func(lo int, outs []Outcome)
}

// ApplyAll applies many claims of one tenant in bounded transactions, some
// at once. The inputs must name distinct people (one input per card, as a
// sync plan has): two batches in flight never touch one card, so the order
// of the batches does not matter. Outcomes are returned in input order. The
// first store error stops the work: batches already committed stay
// committed, and applying the same inputs again finishes the rest (a
// claim already applied is unchanged and writes nothing).
func (s *Service) ApplyAll(ctx context.Context, actor Actor, ins []ClaimInput, opt BatchOptions) ([]Outcome, error) {
	return s.ApplyInputs(ctx, actor, len(ins), func(lo, hi int) []ClaimInput { return ins[lo:hi] }, opt)
}

// ApplyInputs is ApplyAll of n inputs that inputs makes a batch at a time:
// inputs(lo, hi) returns inputs lo to hi-1, and is called from the
// workers, several at once. An apply of a million claims then holds only
// the batches in flight, not a million inputs.
func (s *Service) ApplyInputs(ctx context.Context, actor Actor, n int, inputs func(lo, hi int) []ClaimInput, opt BatchOptions) ([]Outcome, error) {
	size, workers := opt.Size, opt.Workers
	if size <= 0 {
		size = 1000
	}
	if workers <= 0 {
		workers = 2
	}
	var outcomes []Outcome
	if opt.Each == nil {
		outcomes = make([]Outcome, n)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var (
		wg        sync.WaitGroup
		committed atomic.Int64
		doneMu    sync.Mutex // Each and Done are called one at a time
	)
	// Statistics go stale when a batch apply grows the tables fast: refresh
	// them after the 1st, 4th, 16th, 64th… batch, where the store can.
	an, canAnalyze := s.store.(interface{ Analyze(context.Context) error })
	for range min(workers, (n+size-1)/size) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range jobs {
				hi := min(lo+size, n)
				out, err := s.ApplyClaims(ctx, actor, inputs(lo, hi))
				if err != nil {
					cancel(err)
					continue
				}
				if opt.Each == nil {
					copy(outcomes[lo:hi], out)
				}
				if opt.Done != nil || opt.Each != nil {
					doneMu.Lock()
					if opt.Each != nil {
						opt.Each(lo, out)
					}
					if opt.Done != nil {
						opt.Done(hi - lo)
					}
					doneMu.Unlock()
				}
				if c := committed.Add(1); canAnalyze && c&(c-1) == 0 && bits.TrailingZeros64(uint64(c))%2 == 0 && n > size {
					if err := an.Analyze(ctx); err != nil {
						s.logger.Warn("refreshing statistics", "err", err)
					}
				}
			}
		}()
	}
	for lo := 0; lo < n; lo += size {
		select {
		case jobs <- lo:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return outcomes, err
	}
	return outcomes, nil
}
