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

// RoleCounts counts cards by role; part of Store.
type RoleCounts interface {
	// CountCardsByRole counts a tenant's cards per resolved role ("" for
	// cards without one).
	CountCardsByRole(ctx context.Context, tenant string) (map[string]int, error)
}
