package sqlstore

import (
	"context"
	"fmt"

	"github.com/rosterd/rosterd/store"
)

// ListTenantGroups implements store.TenantGroups.
func (s *DB) ListTenantGroups(ctx context.Context, tenant, after string, limit int) ([]store.GroupCount, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.SQL.QueryContext(ctx, `SELECT `+groupColumnsG+`, (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id)
		FROM groups g WHERE g.tenant = $1 AND g.id > $2 ORDER BY g.id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing groups: %w", err))
	}
	defer rows.Close()
	var out []store.GroupCount
	for rows.Next() {
		var x groupScan
		var n int
		if err := rows.Scan(append(x.dest(), &n)...); err != nil {
			return nil, s.d.MapError(fmt.Errorf("listing groups: %w", err))
		}
		out = append(out, store.GroupCount{Group: x.finish(), Members: n})
	}
	if err := rows.Err(); err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing groups: %w", err))
	}
	return out, nil
}

// GroupByID implements store.TenantGroups.
func (s *DB) GroupByID(ctx context.Context, tenant, id string) (store.Group, error) {
	groups, err := queryGroups(ctx, s.SQL, `SELECT `+groupColumns+` FROM groups WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return store.Group{}, s.d.MapError(fmt.Errorf("reading group: %w", err))
	}
	if len(groups) == 0 {
		return store.Group{}, store.ErrNotFound
	}
	return groups[0], nil
}

// CountCardsByRole implements store.RoleCounts.
func (s *DB) CountCardsByRole(ctx context.Context, f store.CardFilter) (map[string]int, error) {
	w, err := s.d.cardWhere(f)
	if err != nil {
		return nil, err
	}
	return s.countBy(ctx, "counting cards by role", `SELECT lower(role), count(*) FROM cards WHERE `+w.String()+` GROUP BY lower(role)`, w.args)
}

// CountCardsByGroup implements store.RoleCounts: the names in the selected
// cards' groups_json (a JSON array of distinct names), counted.
func (s *DB) CountCardsByGroup(ctx context.Context, f store.CardFilter) (map[string]int, error) {
	w, err := s.d.cardWhere(f)
	if err != nil {
		return nil, err
	}
	q := `SELECT g.value, count(*) FROM (SELECT groups_json FROM cards WHERE ` + w.String() + ` AND groups_json <> '[]') c,
		json_each(c.groups_json) g GROUP BY g.value`
	if s.d.JSON == JSONPostgres {
		q = `SELECT g, count(*) FROM (SELECT groups_json FROM cards WHERE ` + w.String() + ` AND groups_json <> '[]') c,
		jsonb_array_elements_text(c.groups_json::jsonb) g GROUP BY g`
	}
	return s.countBy(ctx, "counting cards by group", q, w.args)
}

// countBy reads rows of (name, count).
func (s *DB) countBy(ctx context.Context, what, query string, args []any) (map[string]int, error) {
	rows, err := s.SQL.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("%s: %w", what, err))
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, s.d.MapError(fmt.Errorf("%s: %w", what, err))
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.d.MapError(fmt.Errorf("%s: %w", what, err))
	}
	return out, nil
}
