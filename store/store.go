package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Backends map their driver errors onto these in one place,
// so callers never inspect SQLSTATE codes or SQLite result codes.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a unique key (a card's email in its tenant, a claim's
	// external id in its source) is already taken by another row.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: a row changed between read and write (its version moved on),
	// or the database aborted the transaction to break a deadlock or a
	// serialization failure. The whole transaction may be retried.
	ErrConflict = errors.New("store: concurrent change")
	// ErrSchemaBehind: the database schema is older than this binary expects
	// and automatic migration is off.
	ErrSchemaBehind = errors.New("store: schema is behind")
	// ErrReadOnly: a write in a transaction begun to only read (InReadTx).
	ErrReadOnly = errors.New("store: write in a read-only transaction")
)

// ClaimState is what one source says about one person.
type ClaimState string

const (
	// Present: the source lists the person as active.
	Present ClaimState = "present"
	// Deactivated: the source lists the person but says they must not get in
	// (SCIM active:false, the AD disabled bit, an HR "terminated" status).
	Deactivated ClaimState = "deactivated"
	// Withdrawn: the source no longer lists the person (SCIM DELETE, a row
	// gone from the HR file, an entry gone from LDAP).
	Withdrawn ClaimState = "withdrawn"
)

// Valid reports whether s is one of the three states.
func (s ClaimState) Valid() bool {
	return s == Present || s == Deactivated || s == Withdrawn
}

// Attributes are the profile fields a source may assert about a person.
// The card holds the resolved set; each claim holds its source's set.
type Attributes struct {
	GivenName    string            `json:"given_name,omitempty"`
	FamilyName   string            `json:"family_name,omitempty"`
	DisplayName  string            `json:"display_name,omitempty"`
	Title        string            `json:"title,omitempty"`
	Department   string            `json:"department,omitempty"`
	Location     string            `json:"location,omitempty"`
	EmployeeID   string            `json:"employee_id,omitempty"`
	ManagerEmail string            `json:"manager_email,omitempty"`
	Role         string            `json:"role,omitempty"`
	Groups       []string          `json:"groups,omitempty"`
	Custom       map[string]string `json:"custom,omitempty"`
	// Relations are the tenant's named relations to other cards (parent,
	// instructor), each by the other person's email; the manager is
	// ManagerEmail.
	Relations map[string]string `json:"relations,omitempty"`
}

// TextAttributes are the JSON names of the text attributes, in the order
// a card's attributes are merged, compared and explained.
var TextAttributes = []string{"given_name", "family_name", "display_name", "title", "department",
	"location", "employee_id", "manager_email", "role"}

// Text is the text attribute of that JSON name (one of TextAttributes), or
// nil for any other name. The pointer is into a: the caller reads or sets
// the attribute through it.
func (a *Attributes) Text(name string) *string {
	switch name {
	case "given_name":
		return &a.GivenName
	case "family_name":
		return &a.FamilyName
	case "display_name":
		return &a.DisplayName
	case "title":
		return &a.Title
	case "department":
		return &a.Department
	case "location":
		return &a.Location
	case "employee_id":
		return &a.EmployeeID
	case "manager_email":
		return &a.ManagerEmail
	case "role":
		return &a.Role
	}
	return nil
}

// Set sets the attribute of that JSON name: a text attribute (Text) or,
// for "custom.<name>", that custom attribute, for "relation.<name>" that
// relation: how the feeds fill a record
// from a column or an LDAP attribute named in configuration. It reports
// false, changing nothing, for any other name (email and groups are not
// text attributes).
func (a *Attributes) Set(name, v string) bool {
	if p := a.Text(name); p != nil {
		*p = v
		return true
	}
	if rel, ok := strings.CutPrefix(name, "relation."); ok && rel != "" {
		if a.Relations == nil {
			a.Relations = map[string]string{}
		}
		a.Relations[rel] = v
		return true
	}
	custom, ok := strings.CutPrefix(name, "custom.")
	if !ok || custom == "" {
		return false
	}
	if a.Custom == nil {
		a.Custom = map[string]string{}
	}
	a.Custom[custom] = v
	return true
}

// Claim is one source's view of one card.
type Claim struct {
	CardID string `json:"card_id"`
	Tenant string `json:"tenant"`
	// Source names the channel: "scim:okta", "file:hr", "ldap:corp", "saml", "admin".
	Source string `json:"source"`
	// ExternalID is the source's own immutable id for the person (SCIM id
	// given by the IdP, entryUUID, objectGUID, an HR employee id); empty when
	// the source has none. Unique per (tenant, source) when set.
	ExternalID string `json:"external_id,omitempty"`
	// Email is the address as this source sent it.
	Email string `json:"email"`
	// Login is the source's login name for the person (SCIM userName), if
	// it has one: unique among the source's live claims, ignoring case.
	Login string     `json:"login,omitempty"`
	State ClaimState `json:"state"`
	// Authoritative claims decide enabled/disabled; the others only enrich
	// attributes.
	Authoritative bool       `json:"authoritative"`
	Attributes    Attributes `json:"attributes"`
	// Raw is the source's own record of the person as it sent it (a SCIM
	// resource's attributes), JSON; the store keeps it opaque but lets
	// queries filter on it.
	Raw []byte `json:"-"`
	// RunID names the sync run or request that last changed the claim.
	RunID string `json:"run_id,omitempty"`
	// Actor is who last changed the claim (an admin key's name, a SCIM
	// connection, "system").
	Actor string `json:"actor,omitempty"`
	// FirstSeen is when the source first asserted the claim; LastSeen when it
	// last changed it; StateSince when State last changed.
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	StateSince time.Time `json:"state_since"`
}

// Pin is an admin's override that no source may undo.
type Pin struct {
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Invite is the state of the email invitation of a card.
type Invite struct {
	// TokenHash is the SHA-256 of the invite token; the token itself is never stored.
	TokenHash  string    `json:"-"`
	SentAt     time.Time `json:"sent_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RemindedAt time.Time `json:"reminded_at,omitzero"`
}

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// Approval is an admin's decision on a card that waits to be let in.
type Approval struct {
	// State is ApprovalPending, ApprovalApproved or ApprovalRejected.
	State string `json:"state"`
	// Actor decided (empty while pending); Reason is a rejection's.
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// LastKnown marks a card's attributes as the last ones its sources gave.
type LastKnown struct {
	// Source is the withdrawn source whose values come first.
	Source string `json:"source"`
	// At is when that source stopped listing the person.
	At time.Time `json:"at"`
}

// Card is one person of one tenant: the resolved result of its claims.
// Cards are never deleted.
type Card struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Email is the display form; EmailNorm the trimmed, case-folded form
	// that is unique per tenant.
	Email      string     `json:"email"`
	EmailNorm  string     `json:"-"`
	Attributes Attributes `json:"attributes"`
	Enabled    bool       `json:"enabled"`
	// Reason is the one-line explanation Resolve gave for Enabled.
	Reason string  `json:"reason"`
	Pin    *Pin    `json:"pin,omitempty"`
	Invite *Invite `json:"invite,omitempty"`
	// LastKnown, when set, says the Attributes are the last ones known:
	// no source that decides access lists the person any more, and the
	// values are those its sources gave before they withdrew.
	LastKnown *LastKnown `json:"last_known,omitempty"`
	// RoleSource says which pin, rule or source gave Attributes.Role
	// ("admin", "rule 1: group rosterd-admins of scim:okta", "default").
	RoleSource string `json:"role_source,omitempty"`
	// Approval, when set, is the card's approval step (tenant policy
	// approval: new_cards | jit_only).
	Approval     *Approval `json:"approval,omitempty"`
	FirstLoginAt time.Time `json:"first_login_at,omitzero"`
	LastLoginAt  time.Time `json:"last_login_at,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Version starts at 1 and grows by one with every write; ETags and
	// optimistic concurrency use it.
	Version int64 `json:"version"`
}

// AuditEvent is one append-only line of the audit trail.
type AuditEvent struct {
	ID     int64     `json:"id"`
	Tenant string    `json:"tenant"`
	CardID string    `json:"card_id,omitempty"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Source string    `json:"source,omitempty"`
	// Action names what happened: "claim.applied", "card.pinned", "login.refused", …
	Action string `json:"action"`
	RunID  string `json:"run_id,omitempty"`
	// Before and After are JSON snapshots of the card (or nil).
	Before []byte `json:"before,omitempty"`
	After  []byte `json:"after,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Event is one change to a card, for the platform's change feed.
type Event struct {
	ID     int64     `json:"id"`
	Tenant string    `json:"tenant"`
	CardID string    `json:"card_id"`
	Type   string    `json:"type"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor,omitempty"`
	Source string    `json:"source,omitempty"`
	// Data is the JSON payload: the card after the change and what changed.
	Data []byte `json:"data"`
	// Cursor is the event's position in its tenant's feed (read only).
	Cursor EventCursor `json:"-"`
}

// OutboxMessage is work that must happen because a change committed: an
// email to send, a webhook to deliver. Written in the change's transaction.
type OutboxMessage struct {
	ID      int64     `json:"id"`
	Tenant  string    `json:"tenant"`
	CardID  string    `json:"card_id,omitempty"`
	Kind    string    `json:"kind"`
	Payload []byte    `json:"payload"`
	Created time.Time `json:"created"`
}

// Credential is a hashed secret: an admin API key or a SCIM bearer token.
type Credential struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "admin_key" | "scim_token"
	// Tenant is empty for admin keys that span all tenants.
	Tenant string `json:"tenant,omitempty"`
	// Name is the admin key's name or the SCIM connection's name.
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret.
	Hash     string `json:"-"`
	ReadOnly bool   `json:"read_only"`
	// Scopes widen an admin key: ScopeOperator manages the tenant
	// registry (with no Tenant only).
	Scopes  []string  `json:"scopes,omitempty"`
	Origin  string    `json:"origin"` // "config" | "bootstrap" | "cli"
	Created time.Time `json:"created"`
	// LastUsed is when the secret last let a request in, to the minute
	// (TouchCredential writes it at most once a minute); zero: never.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// ScopeOperator is the admin key scope that manages tenants and their
// connections.
const ScopeOperator = "operator"

// ScopeConnections lets a key of one tenant manage that tenant's
// connections (SCIM connections and tokens, its SAML connection, its
// domains, setup links), never another tenant's nor the tenant itself.
const ScopeConnections = "connections"

// HasScope reports whether the credential has that scope.
func (c Credential) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Credential kinds.
const (
	AdminKey  = "admin_key"
	SCIMToken = "scim_token"
)

// CardCounts are a tenant's cards counted by stored facts: disabled;
// enabled and logged in; enabled, not logged in and never invited; with a
// live invite; with an expired one.
type CardCounts struct {
	Disabled, LoggedIn, NeverInvited, InviteLive, InviteExpired int
	// PendingApproval counts the disabled cards that wait for approval
	// (and that no admin pinned); Disabled does not include them.
	PendingApproval int
}

// CardFilter selects cards of one tenant. Status is expressed in stored
// facts, not in the domain's status names: the directory translates.
type CardFilter struct {
	Tenant string
	// Enabled, LoggedIn: nil means either.
	Enabled  *bool
	LoggedIn *bool
	// Invite: "" any, "none" never invited, "live" invite not expired at Now,
	// "expired" invite expired at Now.
	Invite string
	Now    time.Time
	// Source: only cards with a claim (in any state but withdrawn) of this source.
	Source string
	// Group: only cards whose resolved groups contain this name (case
	// ignored).
	Group string
	// GroupID: only the members of this group (of whatever source).
	GroupID string
	// PendingApproval: nil either; true only the disabled cards waiting
	// for approval; false only the others.
	PendingApproval *bool
	// Manager: only cards whose manager has this normalized email.
	Manager string
	// Assigned: nil either; true only cards with a manager; false only
	// cards without.
	Assigned *bool
	// Relation and RelationEmail: only cards whose relation of that name
	// is this normalized email.
	Relation, RelationEmail string
	// Query: case-insensitive substring of the email, a name, the title,
	// department, location or employee id.
	Query string
	// Role, Department, Location, Title, ManagerEmail: the attribute
	// equals this, ignoring case.
	Role, Department, Location, Title, ManagerEmail string
	// Sort orders the page (see CardSort); Desc reverses it. Ties are
	// broken by id, in the same direction.
	Sort CardSort
	Desc bool
	// After: the cursor, the last card id of the previous page. With a
	// Sort other than SortID, AfterKey holds that card's sort key, as
	// CardSortKey returns it.
	After    string
	AfterKey []any
	Limit    int
}

// CardSort names the order of a card list.
type CardSort string

// Card orders. Name is family name, then given name, ignoring case;
// LastLogin puts cards never logged in first; Status ranks cards as
// StatusRank does.
const (
	SortID        CardSort = ""
	SortName      CardSort = "name"
	SortEmail     CardSort = "email"
	SortLastLogin CardSort = "last_login"
	SortStatus    CardSort = "status"
)

// Status ranks, in the order admins see the statuses: active, invite
// pending, invite expired, provisioned, disabled.
const (
	RankActive = iota
	RankInvitePending
	RankInviteExpired
	RankProvisioned
	RankDisabled
)

// StatusRank is the rank of a card's status at now (the Status sort).
func StatusRank(c Card, now time.Time) int {
	switch {
	case !c.Enabled:
		return RankDisabled
	case !c.FirstLoginAt.IsZero():
		return RankActive
	case c.Invite == nil:
		return RankProvisioned
	case now.Before(c.Invite.ExpiresAt):
		return RankInvitePending
	default:
		return RankInviteExpired
	}
}

// CardSortKey is the key by which a card sorts under s at now, without
// its id: the values a next page's AfterKey holds. Text is as stored; the
// backend folds case on both sides of the comparison.
func CardSortKey(s CardSort, c Card, now time.Time) []any {
	switch s {
	case SortName:
		return []any{c.Attributes.FamilyName, c.Attributes.GivenName}
	case SortEmail:
		return []any{c.EmailNorm}
	case SortLastLogin:
		if c.LastLoginAt.IsZero() {
			return []any{int64(0)}
		}
		return []any{c.LastLoginAt.UnixMicro()}
	case SortStatus:
		return []any{int64(StatusRank(c, now))}
	}
	return nil
}

// Store is the persistence the directory service needs. Writes happen only
// inside InTx; reads outside a transaction see committed data.
type Store interface {
	Queries
	TenantGroups
	RoleCounts
	Events
	Webhooks
	SAMLStore
	Runs
	ImportDefaults
	Outbox
	Registry
	SetupLinks
	ConsoleSessions

	// InTx runs fn in one transaction: committed when fn returns nil, rolled
	// back otherwise (and when ctx is cancelled). It does not retry; callers
	// retry on ErrConflict and ErrAlreadyExists when that makes sense.
	InTx(ctx context.Context, fn func(Tx) error) error
	// InReadTx runs fn in a transaction that only reads: one consistent
	// view of the store, taking no row locks and not queued behind writers
	// (a preview runs alongside the writes it previews, and several at
	// once). Its Write fails with ErrReadOnly; it is always rolled back.
	InReadTx(ctx context.Context, fn func(Tx) error) error

	GetCard(ctx context.Context, tenant, id string) (Card, error)
	GetCardByEmail(ctx context.Context, tenant, emailNorm string) (Card, error)
	ListCards(ctx context.Context, f CardFilter) ([]Card, error)
	// CountCards counts a tenant's cards by the facts their statuses derive
	// from, at now.
	CountCards(ctx context.Context, tenant string, now time.Time) (CardCounts, error)
	// CountCardsWhere counts the cards a filter selects (its paging and
	// sort ignored) the way CountCards does.
	CountCardsWhere(ctx context.Context, f CardFilter) (CardCounts, error)
	// CountCardsUpTo counts the cards a filter selects (its paging and
	// sort ignored), stopping at max: a page can say "4 match" or "more
	// than 1,000" without a pass over a million cards.
	CountCardsUpTo(ctx context.Context, f CardFilter, max int) (int, error)
	// CustomAttributeNames returns the distinct names of the custom
	// attributes of the cards f selects (its paging and sort ignored), in
	// byte order, at most limit of them (the first ones); "" is left out.
	CustomAttributeNames(ctx context.Context, f CardFilter, limit int) ([]string, error)
	// ClaimsOfCards returns the claims of many cards, keyed by card id.
	ClaimsOfCards(ctx context.Context, tenant string, cardIDs []string) (map[string][]Claim, error)
	// ListClaims returns a card's claims ordered by source.
	ListClaims(ctx context.Context, tenant, cardID string) ([]Claim, error)
	// ListAudit returns audit events of a card, oldest first ("": the
	// lines of no card).
	ListAudit(ctx context.Context, tenant, cardID string, afterID int64, limit int) ([]AuditEvent, error)
	// ListTenantAudit returns every audit event of a tenant, oldest first.
	ListTenantAudit(ctx context.Context, tenant string, afterID int64, limit int) ([]AuditEvent, error)
	ListEvents(ctx context.Context, tenant string, afterID int64, limit int) ([]Event, error)
	ListOutbox(ctx context.Context, tenant string, afterID int64, limit int) ([]OutboxMessage, error)

	// Credentials.
	PutCredential(ctx context.Context, c Credential) error
	FindCredential(ctx context.Context, kind, hash string) (Credential, error)
	CountCredentials(ctx context.Context, kind, tenant string) (int, error)
	// ListCredentials returns the stored credentials of kind, oldest first.
	ListCredentials(ctx context.Context, kind string) ([]Credential, error)
	// DeleteCredential removes a stored credential; ErrNotFound if none.
	DeleteCredential(ctx context.Context, id string) error
	// TouchCredential records that the credential was used at at, unless
	// its stored last use is after notBefore: one statement, so replicas
	// sharing a key write its last use at most once per interval between
	// them. A credential that is gone is no error.
	TouchCredential(ctx context.Context, id string, at, notBefore time.Time) error

	// Ready reports whether the database answers and its schema is current.
	Ready(ctx context.Context) error
	Close() error
}

// Tx is the write side. Its reads lock what they return (row locks on
// PostgreSQL; SQLite transactions hold the database's single write lock from
// their start), so a read-modify-write inside one Tx cannot lose an update.
// Every method takes slices so one code path serves one claim and a batch of
// thousands.
type Tx interface {
	RegistryTx

	// CreateCredential stores a credential, with the change's audit line
	// (Write) in the same transaction.
	CreateCredential(ctx context.Context, c Credential) error
	// RemoveCredential deletes a stored credential and returns what it
	// was; ErrNotFound if none.
	RemoveCredential(ctx context.Context, id string) (Credential, error)

	// CardsByEmail returns the cards of tenant with these normalized emails,
	// keyed by EmailNorm.
	CardsByEmail(ctx context.Context, tenant string, emailNorms []string) (map[string]Card, error)
	// CardsByID returns the cards of tenant with these ids, keyed by ID.
	CardsByID(ctx context.Context, tenant string, ids []string) (map[string]Card, error)
	// CardVersions returns the stored versions of these cards of tenant,
	// keyed by ID, locking them as CardsByID does: a caller holding a
	// card read earlier at that version needs not read it again (every
	// write of a card or of its claims moves its version).
	CardVersions(ctx context.Context, tenant string, ids []string) (map[string]int64, error)
	// ClaimCardIDs maps a source's external ids to the ids of the cards
	// holding them.
	ClaimCardIDs(ctx context.Context, tenant, source string, externalIDs []string) (map[string]string, error)
	// CardIDByInvite returns the id of the card whose invite token has this
	// hash; ErrNotFound if none.
	CardIDByInvite(ctx context.Context, tenant, tokenHash string) (string, error)
	// Claims returns the claims of these cards, keyed by card id.
	Claims(ctx context.Context, tenant string, cardIDs []string) (map[string][]Claim, error)
	// LoginCardIDs maps login names (any case) to the ids of the cards whose
	// live claim of the source holds them, keyed by the lower-case login.
	LoginCardIDs(ctx context.Context, tenant, source string, logins []string) (map[string]string, error)

	// GroupsByID returns (and locks) groups of a source, keyed by id.
	GroupsByID(ctx context.Context, tenant, source string, ids []string) (map[string]Group, error)
	// GroupIDsByName maps display names (any case) to group ids, keyed by
	// the lower-case name.
	GroupIDsByName(ctx context.Context, tenant, source string, names []string) (map[string]string, error)
	// GroupMemberIDs returns the card ids of a group's members.
	GroupMemberIDs(ctx context.Context, groupID string) ([]string, error)
	// GroupNamesOfCards returns, per card, the display names of the source's
	// groups it is a member of, sorted; cards in none are absent.
	GroupNamesOfCards(ctx context.Context, tenant, source string, cardIDs []string) (map[string][]string, error)

	// Write stores everything one transaction changed. Cards with Version 1
	// are inserted; the others are updated only if their stored version is
	// Version-1, else ErrConflict. An email already taken by another card,
	// or a source's external id already held by another card, is
	// ErrAlreadyExists. Claims are keyed by (card, source); audit lines,
	// events and outbox messages are appended.
	Write(ctx context.Context, ch Changes) error
}

// Changes is what one transaction writes, cards first.
type Changes struct {
	Cards  []Card
	Claims []Claim
	// Groups are inserted (Version 1) or updated (only from Version-1,
	// else ErrConflict); a display name taken by another group of the
	// source is ErrAlreadyExists.
	Groups []Group
	// DeleteGroups removes groups and their memberships.
	DeleteGroups []string
	// AddMembers and RemoveMembers change memberships; adding one that
	// exists (which sets its Display), or removing one that does not, is
	// no error.
	AddMembers    []Membership
	RemoveMembers []Membership
	Audit         []AuditEvent
	Events        []Event
	Outbox        []OutboxMessage
}

// Backend is a Store that also manages its schema. Both backends implement it.
type Backend interface {
	Store
	// Migrate applies pending migrations and returns the versions applied.
	Migrate(ctx context.Context) ([]int64, error)
	// CheckSchema returns an error wrapping ErrSchemaBehind, naming the
	// command that fixes it, when the schema is older than this binary.
	CheckSchema(ctx context.Context) error
	// SchemaVersions returns the database's schema version and this binary's.
	SchemaVersions(ctx context.Context) (current, target int64, err error)
}
