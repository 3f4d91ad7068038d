package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/rosterd/rosterd/store"
)

// ErrGroupReadOnly: an admin's change to a group another source owns (a
// SCIM connection's, an LDAP feed's, a file's): that source edits it.
var ErrGroupReadOnly = errors.New("the group belongs to its source and is read-only to admins")

// GroupCount is a group with its number of members.
type GroupCount = store.GroupCount

// A tenant's groups are owned by their sources. A SCIM connection's and a
// feed's groups change only through that source; an admin's groups
// (source "admin") are the ones the admin API creates, renames, deletes
// and fills. A card's groups are the union over its sources (Resolve).

// ListTenantGroups returns a page of a tenant's groups of every source,
// with member counts, in id order after the cursor.
func (s *Service) ListTenantGroups(ctx context.Context, tenant, after string, limit int) ([]GroupCount, error) {
	if _, err := s.Policy(tenant); err != nil {
		return nil, err
	}
	return s.store.ListTenantGroups(ctx, tenant, after, limit)
}

// TenantGroup returns a group of a tenant, whatever its source.
func (s *Service) TenantGroup(ctx context.Context, tenant, id string) (Group, error) {
	if _, err := s.Policy(tenant); err != nil {
		return Group{}, err
	}
	return s.store.GroupByID(ctx, tenant, id)
}

// CreateAdminGroup creates an admin's group.
func (s *Service) CreateAdminGroup(ctx context.Context, actor Actor, tenant, name string) (Group, error) {
	res, err := s.CreateGroup(ctx, actor, GroupInput{Tenant: tenant, Source: KindAdmin, DisplayName: name}, nil)
	return res.Group, err
}

// adminGroup returns the group, refusing one another source owns.
func (s *Service) adminGroup(ctx context.Context, tenant, id string) (Group, error) {
	g, err := s.TenantGroup(ctx, tenant, id)
	if err != nil {
		return Group{}, err
	}
	if g.Source != KindAdmin {
		return Group{}, fmt.Errorf("%w: group %s is %s's", ErrGroupReadOnly, id, g.Source)
	}
	return g, nil
}

// RenameAdminGroup renames an admin's group; its members' cards show the
// new name.
func (s *Service) RenameAdminGroup(ctx context.Context, actor Actor, tenant, id, name string) (Group, error) {
	if _, err := s.adminGroup(ctx, tenant, id); err != nil {
		return Group{}, err
	}
	res, err := s.UpdateGroup(ctx, actor, tenant, KindAdmin, id, GroupChange{DisplayName: &name})
	return res.Group, err
}

// DeleteAdminGroup deletes an admin's group: the memberships end, the cards
// stay (each member's card event says its groups changed).
func (s *Service) DeleteAdminGroup(ctx context.Context, actor Actor, tenant, id string) error {
	if _, err := s.adminGroup(ctx, tenant, id); err != nil {
		return err
	}
	return s.DeleteGroup(ctx, actor, tenant, KindAdmin, id)
}

// ChangeAdminGroupMembers adds and removes members of an admin's group by
// card id; the ids that are no card of the tenant are returned as ignored.
func (s *Service) ChangeAdminGroupMembers(ctx context.Context, actor Actor, tenant, id string, add, remove []string) (GroupResult, error) {
	if _, err := s.adminGroup(ctx, tenant, id); err != nil {
		return GroupResult{}, err
	}
	return s.UpdateGroup(ctx, actor, tenant, KindAdmin, id, GroupChange{Add: add, Remove: remove})
}

// RoleAndGroupStats counts the cards q selects (its paging and order
// ignored) per role ("" for none) and per group name.
func (s *Service) RoleAndGroupStats(ctx context.Context, q ListQuery) (roles, groups map[string]int, err error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return nil, nil, err
	}
	f, err := s.cardFilter(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	if roles, err = s.store.CountCardsByRole(ctx, f); err != nil {
		return nil, nil, err
	}
	if groups, err = s.store.CountCardsByGroup(ctx, f); err != nil {
		return nil, nil, err
	}
	return roles, groups, nil
}
