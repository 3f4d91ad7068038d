package store

import "context"

// GroupCount is a group with its number of members.
type GroupCount struct {
	Group
	Members int
}

// TenantGroups reads a tenant's groups of every source; part of Store.
type TenantGroups interface {
	// ListTenantGroups returns a page of the tenant's groups of every
	// source, in id order after the cursor, with their member counts.
	ListTenantGroups(ctx context.Context, tenant, after string, limit int) ([]GroupCount, error)
	// GroupByID returns a group of the tenant, whatever its source.
	GroupByID(ctx context.Context, tenant, id string) (Group, error)
}

// RoleCounts counts cards by role and by group; part of Store.
type RoleCounts interface {
	// CountCardsByRole counts the cards f selects per resolved role
	// (lower case; "" for cards without one).
	CountCardsByRole(ctx context.Context, f CardFilter) (map[string]int, error)
	// CountCardsByGroup counts the cards f selects per group name (the
	// union over their sources: a card in two sources' "Sales" counts
	// once); cards in no group are not counted.
	CountCardsByGroup(ctx context.Context, f CardFilter) (map[string]int, error)
}
