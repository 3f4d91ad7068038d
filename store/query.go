package store

import (
	"context"
	"time"
)

// Filter is a condition on a source's claims, their cards, or groups, built
// by a channel from its query language (a SCIM filter) and translated to
// SQL by the backend: never evaluated in memory.
//
// A node is a logical operator over Sub, an "any" over the elements of an
// array in the raw record, or a comparison of one attribute with Value.
type Filter struct {
	// Op is "and", "or" (two or more Sub), "not" (one Sub), "any" (one Sub,
	// true when some element of the array at Path in the raw record
	// satisfies it; inside, Attr "elem" addresses the element), or a
	// comparison: "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr".
	Op  string
	Sub []Filter
	// Attr names what a comparison reads; see the Attr constants.
	Attr string
	// Path is the JSON path in the raw record for AttrRaw and Op "any",
	// or within the element for AttrElem: ["name", "givenName"]. Keys are
	// matched exactly: channels store raw records with canonical key case.
	Path []string
	// Value is a string, bool, float64, int64 or time.Time; nil for "pr".
	Value any
	// Fold compares strings case-insensitively.
	Fold bool
}

// Filter attributes.
const (
	// Of a claim query:
	AttrCardID     = "card_id"     // the card's id (SCIM "id")
	AttrLogin      = "login"       // the claim's login name (SCIM userName), always case-insensitive
	AttrExternalID = "external_id" // the claim's external id
	AttrActive     = "active"      // bool: the claim is present (true) or deactivated (false)
	AttrCreated    = "created"     // time: the card's creation
	AttrUpdated    = "updated"     // time: the card's last change
	AttrRaw        = "raw"         // a value in the claim's (or group's) raw record, at Path
	AttrElem       = "elem"        // inside "any": a value in the element, at Path (empty Path: the element itself)
	// Of a group query (besides AttrExternalID, AttrCreated, AttrUpdated, AttrRaw):
	AttrGroupID     = "group_id"     // the group's id
	AttrDisplayName = "display_name" // the group's display name, always case-insensitive
	AttrMember      = "member"       // a member's card id
)

// ClaimQuery selects the live claims (present or deactivated) of one source
// in one tenant, with their cards, in card id order.
type ClaimQuery struct {
	Tenant string
	Source string
	Filter *Filter
	// Offset skips that many matches; Limit bounds the page (0: none are
	// returned, only the total).
	Offset, Limit int
	// After, when set, starts the page at the first match whose card id
	// is greater (keyset paging: no walk over the matches before it);
	// Offset then skips from there.
	After string
	// NoTotal skips counting the matches (the total returned is -1): for
	// a lookup by id, or a caller that knows the total already.
	NoTotal bool
	// WithGroups fills each row's Groups, in the same statement.
	WithGroups bool
}

// ClaimCard is a claim with its card.
type ClaimCard struct {
	Claim Claim
	Card  Card
	// Groups, with ClaimQuery.WithGroups: the source's groups the card is
	// a member of, by display name then id, each with its ID, Tenant,
	// Source and DisplayName only.
	Groups []Group
}

// Group is a named set of cards kept by one source (a SCIM group).
type Group struct {
	ID          string
	Tenant      string
	Source      string
	DisplayName string
	ExternalID  string
	// Raw is the source's record of the group, without its members.
	Raw     []byte
	Created time.Time
	Updated time.Time
	// Version starts at 1 and grows by one with every write.
	Version int64
}

// GroupQuery selects groups of one source in one tenant, in id order.
type GroupQuery struct {
	Tenant string
	Source string
	Filter *Filter
	Offset int
	Limit  int
}

// Membership is one card in one group.
type Membership struct {
	GroupID string
	CardID  string
	// Display is the label the source sent with the member (a SCIM
	// member's "display"); "" for none. Adding a membership that exists
	// sets its label to this one.
	Display string
}

// Member is one member of a group as a SCIM client reads it: the card
// id, and the label the source sent with it, or else the display name
// the group's source gives the card ("" when neither).
type Member struct {
	CardID  string
	Display string
}

// Queries is the read side the SCIM server needs; part of Store.
type Queries interface {
	// QueryClaims returns one page of matches and the total number of matches.
	QueryClaims(ctx context.Context, q ClaimQuery) ([]ClaimCard, int, error)
	// GetGroup returns a group of the source.
	GetGroup(ctx context.Context, tenant, source, id string) (Group, error)
	// QueryGroups returns one page of matches and the total number of matches.
	QueryGroups(ctx context.Context, q GroupQuery) ([]Group, int, error)
	// GroupMembers returns the card ids of a group's members after the
	// cursor (a card id), in card id order.
	GroupMembers(ctx context.Context, groupID, after string, limit int) ([]string, error)
	// GroupMemberDisplays is GroupMembers with each member's display
	// (Member).
	GroupMemberDisplays(ctx context.Context, groupID, after string, limit int) ([]Member, error)
}
