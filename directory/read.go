package directory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/rosterd/rosterd/store"
)

// Get returns a card of a tenant.
func (s *Service) Get(ctx context.Context, tenant, id string) (Card, error) {
	if _, err := s.Policy(tenant); err != nil {
		return Card{}, err
	}
	return s.store.GetCard(ctx, tenant, id)
}

// LoginCard returns the card a login hands to the platform, as when a login
// code is redeemed some time after the login: a card disabled since is
// refused with ErrDisabled, the rule RecordLogin applies at the login.
func (s *Service) LoginCard(ctx context.Context, tenant, id string) (Card, error) {
	card, err := s.Get(ctx, tenant, id)
	if err != nil {
		return Card{}, err
	}
	if !card.Enabled {
		return card, ErrDisabled
	}
	return card, nil
}

// GetByEmail returns the card of a tenant with this email (any case).
func (s *Service) GetByEmail(ctx context.Context, tenant, email string) (Card, error) {
	if _, err := s.Policy(tenant); err != nil {
		return Card{}, err
	}
	_, norm, err := NormalizeEmail(email)
	if err != nil {
		return Card{}, err
	}
	return s.store.GetCardByEmail(ctx, tenant, norm)
}

// Claims returns a card's claims.
func (s *Service) Claims(ctx context.Context, tenant, cardID string) ([]Claim, error) {
	return s.store.ListClaims(ctx, tenant, cardID)
}

// AttributeSource says where a card's attribute value came from.
type AttributeSource struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Explanation is Resolve's reasoning for one card, for people.
type Explanation struct {
	CardID  string `json:"card_id"`
	Status  Status `json:"status"`
	Enabled bool   `json:"enabled"`
	Rule    Rule   `json:"rule"`
	// Reason: "disabled: no source lists this person any more (withdrawn by
	// file:hr in run 42 on 2026-11-20)".
	Reason string `json:"reason"`
	Pin    *Pin   `json:"pin,omitempty"`
	// Approval is the card's approval step, when it has one.
	Approval *store.Approval `json:"approval,omitempty"`
	// Links are the manager and relations, each linked to its card or
	// pending (keyed "manager" and by relation name).
	Links map[string]Link `json:"links,omitempty"`
	// LastKnown: the attributes are the last ones the withdrawn sources gave.
	LastKnown  *store.LastKnown  `json:"last_known,omitempty"`
	Claims     []Claim           `json:"claims"`
	Attributes []AttributeSource `json:"attributes"`
}

// Explain resolves a card's claims again and says why it is what it is.
func (s *Service) Explain(ctx context.Context, tenant, cardID string) (Explanation, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return Explanation{}, err
	}
	card, err := s.store.GetCard(ctx, tenant, cardID)
	if err != nil {
		return Explanation{}, err
	}
	claims, err := s.store.ListClaims(ctx, tenant, cardID)
	if err != nil {
		return Explanation{}, err
	}
	r := ResolveCard(claims, Decisions{Pin: card.Pin, Approval: card.Approval}, policy)
	e := Explanation{CardID: card.ID, Status: StatusOf(card, s.Now()), Enabled: r.Enabled, Rule: r.Rule, Reason: r.Reason, Pin: card.Pin,
		Approval: card.Approval, LastKnown: r.LastKnown, Claims: claims}
	if e.Links, err = s.Links(ctx, card); err != nil {
		return Explanation{}, err
	}
	if e.Claims == nil {
		e.Claims = []Claim{}
	}
	if src, ok := r.From["email"]; ok {
		e.Attributes = append(e.Attributes, AttributeSource{Name: "email", Value: r.Email, Source: src})
	}
	for _, name := range store.TextAttributes {
		if v := *r.Attributes.Text(name); v != "" {
			e.Attributes = append(e.Attributes, AttributeSource{Name: name, Value: v, Source: r.From[name]})
		}
	}
	if len(r.Attributes.Groups) > 0 {
		e.Attributes = append(e.Attributes, AttributeSource{Name: "groups", Value: fmt.Sprint(r.Attributes.Groups), Source: r.From["groups"]})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Attributes.Custom)) {
		e.Attributes = append(e.Attributes, AttributeSource{Name: "custom." + k, Value: r.Attributes.Custom[k], Source: r.From["custom."+k]})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Attributes.Relations)) {
		e.Attributes = append(e.Attributes, AttributeSource{Name: "relation." + k, Value: r.Attributes.Relations[k], Source: r.From["relation."+k]})
	}
	return e, nil
}

// QueryClaims returns a page of a source's live claims with their cards,
// and the number of matches: what a SCIM connection sees.
func (s *Service) QueryClaims(ctx context.Context, q store.ClaimQuery) ([]store.ClaimCard, int, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return nil, 0, err
	}
	return s.store.QueryClaims(ctx, q)
}

// GetGroup returns a group of a source.
func (s *Service) GetGroup(ctx context.Context, tenant, source, id string) (Group, error) {
	if _, err := s.Policy(tenant); err != nil {
		return Group{}, err
	}
	return s.store.GetGroup(ctx, tenant, source, id)
}

// QueryGroups returns a page of a source's groups and the number of matches.
func (s *Service) QueryGroups(ctx context.Context, q store.GroupQuery) ([]Group, int, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return nil, 0, err
	}
	return s.store.QueryGroups(ctx, q)
}

// GroupMembers returns a page of a group's member card ids after a cursor.
func (s *Service) GroupMembers(ctx context.Context, groupID, after string, limit int) ([]string, error) {
	return s.store.GroupMembers(ctx, groupID, after, limit)
}

// GroupMemberDisplays returns a page of a group's members after a cursor,
// each with its display (store.Member).
func (s *Service) GroupMemberDisplays(ctx context.Context, groupID, after string, limit int) ([]store.Member, error) {
	return s.store.GroupMemberDisplays(ctx, groupID, after, limit)
}

// ClaimsOfCards returns the claims of many cards (a page of an export).
func (s *Service) ClaimsOfCards(ctx context.Context, tenant string, cardIDs []string) (map[string][]Claim, error) {
	return s.store.ClaimsOfCards(ctx, tenant, cardIDs)
}

// Stats counts a tenant's cards per status, now.
func (s *Service) Stats(ctx context.Context, tenant string) (map[Status]int, error) {
	if _, err := s.Policy(tenant); err != nil {
		return nil, err
	}
	c, err := s.store.CountCards(ctx, tenant, s.Now())
	if err != nil {
		return nil, err
	}
	return map[Status]int{Disabled: c.Disabled, Active: c.LoggedIn, Provisioned: c.NeverInvited,
		InvitePending: c.InviteLive, InviteExpired: c.InviteExpired, PendingApproval: c.PendingApproval}, nil
}
