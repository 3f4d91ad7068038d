package directory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// Relation errors.
var (
	// ErrSelfRelation: a card would be its own manager or relation.
	ErrSelfRelation = errors.New("a card cannot relate to itself")
	// ErrUnknownRelation: a relation name the tenant does not declare.
	ErrUnknownRelation = errors.New("unknown relation")
	// ErrInvalidRelation: a manager or relation that is not an email.
	ErrInvalidRelation = errors.New("invalid relation")
	// ErrUnknownManager: a list filtered by a manager that is neither an
	// email nor the id of a card of the tenant.
	ErrUnknownManager = errors.New("unknown manager")
)

// RelationManager is the name of the manager relation (the card's
// manager_email, the "assigned staff member").
const RelationManager = "manager"

// Link is one relation of a card to another card of its tenant, by email.
// A reference to an email no card of the tenant has is pending: it links
// by itself when a card with that email appears (it is resolved when
// read, never copied).
type Link struct {
	Email string `json:"email"`
	// CardID is the card with that email; empty while pending.
	CardID  string `json:"card_id,omitempty"`
	Pending bool   `json:"pending,omitempty"`
}

// CheckRelations validates what a source says of a person's manager and
// relations, with self the person's normalized email (when known): each
// must be an email, not the person's own, and a relation must be one the
// tenant declares. The error names the attribute.
func (p Policy) CheckRelations(a Attributes, self string) error {
	check := func(name, v string) error {
		if v == "" {
			return nil
		}
		_, norm, err := NormalizeEmail(v)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidRelation, name, err)
		}
		if self != "" && norm == self {
			return fmt.Errorf("%w: %s is the card's own email", ErrSelfRelation, name)
		}
		return nil
	}
	if err := check("manager_email", a.ManagerEmail); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(a.Relations)) {
		if !slices.Contains(p.Relations, k) {
			declared := "none"
			if len(p.Relations) > 0 {
				declared = strings.Join(p.Relations, ", ")
			}
			return fmt.Errorf("%w %q: the tenant's relations are %s", ErrUnknownRelation, k, declared)
		}
		if err := check("relation."+k, a.Relations[k]); err != nil {
			return err
		}
	}
	return nil
}

// selfRelation refuses a resolved card that names itself as manager or
// relation (two sources may each be right alone and wrong together, as
// when a card's email changes to its manager's).
func selfRelation(c Card) error {
	if c.EmailNorm == "" {
		return nil
	}
	same := func(v string) bool {
		_, norm, err := NormalizeEmail(v)
		return err == nil && norm == c.EmailNorm
	}
	if c.Attributes.ManagerEmail != "" && same(c.Attributes.ManagerEmail) {
		return fmt.Errorf("%w: manager_email is the card's own email", ErrSelfRelation)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes.Relations)) {
		if same(c.Attributes.Relations[k]) {
			return fmt.Errorf("%w: relation.%s is the card's own email", ErrSelfRelation, k)
		}
	}
	return nil
}

// Links resolves a card's manager and relations to the cards of its tenant
// that have those emails, now; a reference no card has is pending. The
// manager is keyed "manager".
func (s *Service) Links(ctx context.Context, c Card) (map[string]Link, error) {
	refs := map[string]string{}
	if c.Attributes.ManagerEmail != "" {
		refs[RelationManager] = c.Attributes.ManagerEmail
	}
	maps.Copy(refs, c.Attributes.Relations)
	if len(refs) == 0 {
		return nil, nil
	}
	out := make(map[string]Link, len(refs))
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		email := refs[name]
		l := Link{Email: email, Pending: true}
		if _, norm, err := NormalizeEmail(email); err == nil {
			// Only a card of this tenant: a reference never crosses tenants.
			other, err := s.store.GetCardByEmail(ctx, c.Tenant, norm)
			switch {
			case err == nil && other.ID != c.ID:
				l.CardID, l.Pending = other.ID, false
			case err != nil && !errors.Is(err, ErrNotFound):
				return nil, err
			}
		}
		out[name] = l
	}
	return out, nil
}

// relationFilters turns a list query's manager into the store's filter:
// an email is taken as it is, a card id stands for that card's email (a
// card of the tenant only).
func (s *Service) relationFilters(ctx context.Context, q ListQuery, f *store.CardFilter) error {
	if q.Relation != "" {
		_, norm, err := NormalizeEmail(q.RelationTo)
		if err != nil {
			return fmt.Errorf("%w: relation.%s: %v", ErrUnknownManager, q.Relation, err)
		}
		f.Relation, f.RelationEmail = q.Relation, norm
	}
	if q.Manager == "" {
		return nil
	}
	if strings.Contains(q.Manager, "@") {
		_, norm, err := NormalizeEmail(q.Manager)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnknownManager, err)
		}
		f.Manager = norm
		return nil
	}
	c, err := s.store.GetCard(ctx, q.Tenant, q.Manager)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no card %q in tenant %q", ErrUnknownManager, q.Manager, q.Tenant)
	}
	if err != nil {
		return err
	}
	if c.EmailNorm == "" {
		f.Manager = "\x00" // a card without email manages nobody
		return nil
	}
	f.Manager = c.EmailNorm
	return nil
}
