package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// The read side of SCIM: pages of a source's live claims and groups,
// selected by a store.Filter (see filter.go), with the number of matches.
//
// A page and its total come from one statement (see page): the ids of the
// page, found on the (tenant, source, …) indexes, joined to their rows.
// claims_source_card walks a source's claims in card order, so a page at
// any offset reads that index alone and sorts nothing; a userName or id
// lookup reads claims_login or the primary key, without order, limit or
// count (uniqueLookup; the package doc says why). Cards are joined to the search only when the filter
// reads them. Measured at 100,000 claims of one source on PostgreSQL 15
// (BenchmarkQueryClaims, PGTEST_DURABLE=1): the page at offset 90,000 with
// its total in about 20 ms, a userName lookup in under 1 ms. A filter on
// the raw record reads every live claim of the source: about 4 µs a claim.

// qualify prefixes each of a column list's names with alias.
func qualify(columns, alias string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

var (
	claimCardColumns = qualify(claimColumns, "c") + ", " + qualify(cardColumns, "k")
	groupColumnsG    = qualify(groupColumns, "g")
)

// QueryClaims implements store.Queries.
func (s *DB) QueryClaims(ctx context.Context, q store.ClaimQuery) ([]store.ClaimCard, int, error) {
	f := s.d.newFilter(scopeClaims, q.Tenant, q.Source)
	// state <> 'withdrawn' rather than IN ('present', 'deactivated'): the
	// same rows, and the very condition claims_login is partial on.
	where := `c.tenant = $1 AND c.source = $2 AND c.state <> 'withdrawn'`
	// After a cursor, the total counts the matches before it too: a
	// lookup that must count does so the usual way.
	unique := uniqueLookup(q.Filter) && (q.After == "" || q.NoTotal)
	keyed := unique || keyedLookup(q.Filter)
	if keyed {
		// The key finds the claims; tenant and source only filter them.
		where = s.d.notIndexed("c.tenant") + ` = $1 AND ` + s.d.notIndexed("c.source") + ` = $2 AND c.state <> 'withdrawn'`
		f.keyed = true
	}
	if q.Filter != nil {
		cond, err := f.where(q.Filter)
		if err != nil {
			return nil, 0, err
		}
		where += " AND " + cond
	}
	from := "claims c"
	if f.cards {
		from += " JOIN cards k ON k.id = c.card_id"
	}
	if f.raw && f.pg {
		from += claimsRawLateral
	}
	count := `SELECT count(*) FROM ` + from + ` WHERE ` + where
	if q.Limit <= 0 {
		if q.NoTotal {
			return nil, -1, nil
		}
		total, err := s.count(ctx, count, f.args)
		return nil, total, err
	}
	args := f.args
	pageWhere := where
	after := ""
	if q.After != "" {
		args = append(args, q.After)
		after = `$` + strconv.Itoa(len(args))
		pageWhere += ` AND c.card_id > ` + after
	}
	offset := max(q.Offset, 0)
	var (
		limit string
		ids   string
	)
	switch {
	case unique:
	case keyed:
		limit, args = s.d.limitOffset("w.id", args, q.Limit, offset)
	default:
		limit, args = s.d.limitOffset("c.card_id", args, q.Limit, offset)
	}
	switch {
	case unique:
		// At most one match (uniqueLookup): no order, no limit, and the
		// total is the number of rows; the page is cut below.
		ids = `SELECT c.card_id AS id, 1 AS total FROM ` + from + ` WHERE ` + pageWhere
	case keyed:
		// Few matches, found on the key's index: gathered first (fenced,
		// planned on their own, for all of them), then counted, ordered
		// and cut, so that no walk in card order competes with the key.
		ids = `SELECT w.id, w.total FROM (SELECT m.id, count(*) OVER () AS total FROM (SELECT c.card_id AS id FROM ` +
			from + ` WHERE ` + where + s.d.fence() + `) m) w`
		if after != "" {
			ids += ` WHERE w.id > ` + after
		}
		ids += limit
	case q.NoTotal:
		ids = `SELECT c.card_id AS id, -1 AS total FROM ` + from + ` WHERE ` + pageWhere + limit
	default:
		ids = page("c.card_id", from, where, pageWhere, f.raw, limit)
	}
	groups := ""
	if q.WithGroups {
		groups = ", " + s.d.groupsOfCard("p.id")
	}
	query := `SELECT p.total, ` + claimCardColumns + groups + ` FROM (` + ids + `) p
		JOIN claims c ON c.card_id = p.id AND c.source = $2 JOIN cards k ON k.id = p.id ORDER BY p.id`
	rows, err := s.queryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, s.d.MapError(fmt.Errorf("querying claims: %w", err))
	}
	defer rows.Close()
	var (
		out   []store.ClaimCard
		total int
	)
	for rows.Next() {
		var (
			cc store.ClaimCard
			x  claimScan
			y  cardScan
		)
		var groups sql.RawBytes
		dest := append(append([]any{&total}, x.dest()...), y.dest()...)
		if q.WithGroups {
			dest = append(dest, &groups)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, s.d.MapError(fmt.Errorf("querying claims: %w", err))
		}
		if q.WithGroups {
			if cc.Groups, err = decodeGroups(groups, q.Tenant, q.Source); err != nil {
				return nil, 0, err
			}
		}
		if cc.Claim, err = x.finish(); err != nil {
			return nil, 0, err
		}
		if cc.Card, err = y.finish(); err != nil {
			return nil, 0, err
		}
		out = append(out, cc)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.d.MapError(fmt.Errorf("querying claims: %w", err))
	}
	if unique {
		total = len(out)
		out = out[min(offset, len(out)):]
		out = out[:min(q.Limit, len(out))]
	}
	if q.NoTotal {
		total = -1
	} else if !unique && len(out) == 0 && (offset > 0 || q.After != "") {
		// Past the end: the page had no row to carry the total.
		total, err = s.count(ctx, count, f.args)
	}
	return out, total, err
}

// page selects the ids of one page, in order, each with the number of all
// matches, in one statement: one round trip, and a total that agrees with
// the page. limit is its ORDER BY, LIMIT and OFFSET (limitOffset).
//
// The page itself is ids only, so that skipping to the offset reads the
// index alone (claims_source_card holds tenant, source, card_id and state);
// the caller joins the page's rows to it. The total comes from a second
// scan of the same index, in a scalar subquery: at 100,000 claims both take
// about 10 ms on PostgreSQL, where a count(*) OVER () over the one scan
// must buffer every match and took 28 ms. But where the filter reads raw
// records, evaluating it is what costs, and the window evaluates it once.
//
// pageWhere is where plus a keyset condition when the page starts after an
// id (the total counts every match of where).
func page(id, from, where, pageWhere string, expensive bool, limit string) string {
	if expensive && where == pageWhere {
		return `SELECT ` + id + ` AS id, count(*) OVER () AS total FROM ` + from + ` WHERE ` + where + limit
	}
	return `SELECT ` + id + ` AS id, (SELECT count(*) FROM ` + from + ` WHERE ` + where + `) AS total FROM ` + from + ` WHERE ` + pageWhere + limit
}

// limitOffset orders by id and bounds the page, appending to args what
// the clause binds. The limit is a literal. SQLite: a bound LIMIT makes it
// compile the statement again whenever the value changes (prepared or
// not: a user by id took 110 µs instead of 24). PostgreSQL: a generic plan
// assumes a bound LIMIT reads a tenth of the rows, and joined a page of a
// hundred claims to its cards by a hash join over every card, statistics
// or not. Limits are a few distinct integers, so the prepared statements
// stay few.
func (d Dialect) limitOffset(id string, args []any, limit, offset int) (string, []any) {
	args = append(args, offset)
	return ` ORDER BY ` + id + ` LIMIT ` + strconv.Itoa(limit) + ` OFFSET $` + strconv.Itoa(len(args)), args
}

func (s *DB) count(ctx context.Context, query string, args []any) (int, error) {
	var n int
	if err := s.queryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, s.d.MapError(fmt.Errorf("counting: %w", err))
	}
	return n, nil
}

// GetGroup implements store.Queries.
func (s *DB) GetGroup(ctx context.Context, tenant, source, id string) (store.Group, error) {
	groups, err := queryGroups(ctx, s.reads(), `SELECT `+groupColumns+` FROM groups WHERE `+s.d.notIndexed("tenant")+` = $1 AND `+s.d.notIndexed("source")+` = $2 AND id = $3`, tenant, source, id)
	if err != nil {
		return store.Group{}, s.d.MapError(fmt.Errorf("reading group: %w", err))
	}
	if len(groups) == 0 {
		return store.Group{}, store.ErrNotFound
	}
	return groups[0], nil
}

// QueryGroups implements store.Queries.
func (s *DB) QueryGroups(ctx context.Context, q store.GroupQuery) ([]store.Group, int, error) {
	f := s.d.newFilter(scopeGroups, q.Tenant, q.Source)
	where := `g.tenant = $1 AND g.source = $2`
	unique := uniqueGroup(q.Filter)
	if unique {
		// The key finds the group; tenant and source only filter it.
		where = s.d.notIndexed("g.tenant") + ` = $1 AND ` + s.d.notIndexed("g.source") + ` = $2`
	}
	if q.Filter != nil {
		cond, err := f.where(q.Filter)
		if err != nil {
			return nil, 0, err
		}
		where += " AND " + cond
	}
	from := "groups g"
	if f.raw && f.pg {
		from += groupsRawLateral
	}
	count := `SELECT count(*) FROM ` + from + ` WHERE ` + where
	if q.Limit <= 0 {
		total, err := s.count(ctx, count, f.args)
		return nil, total, err
	}
	offset := max(q.Offset, 0)
	var ids string
	args := f.args
	if unique {
		// At most one match: no order, limit or count (as QueryClaims).
		ids = `SELECT g.id AS id, 1 AS total FROM ` + from + ` WHERE ` + where
	} else {
		var limit string
		limit, args = s.d.limitOffset("g.id", f.args, q.Limit, offset)
		ids = page("g.id", from, where, where, f.raw, limit)
	}
	query := `SELECT p.total, ` + groupColumnsG + ` FROM (` + ids + `) p
		JOIN groups g ON g.id = p.id ORDER BY p.id`
	rows, err := s.queryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, s.d.MapError(fmt.Errorf("querying groups: %w", err))
	}
	defer rows.Close()
	var (
		out   []store.Group
		total int
	)
	for rows.Next() {
		var x groupScan
		if err := rows.Scan(append([]any{&total}, x.dest()...)...); err != nil {
			return nil, 0, s.d.MapError(fmt.Errorf("querying groups: %w", err))
		}
		out = append(out, x.finish())
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.d.MapError(fmt.Errorf("querying groups: %w", err))
	}
	if unique {
		total = len(out)
		out = out[min(offset, len(out)):]
		out = out[:min(q.Limit, len(out))]
	} else if len(out) == 0 && offset > 0 {
		total, err = s.count(ctx, count, f.args)
	}
	return out, total, err
}

// GroupMembers implements store.Queries. A limit of 0 or less means 100,
// as in the other List methods.
func (s *DB) GroupMembers(ctx context.Context, groupID, after string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	// The limit is a literal, as limitOffset's on SQLite, here on both: a
	// generic plan that does not know it took PostgreSQL, once analysed,
	// to walking every membership in card order (group_members_card) and
	// filtering the group, rather than reading the group's members in
	// order on its key. Callers use a few distinct limits.
	ids, err := queryStrings(ctx, s.reads(), `SELECT card_id FROM group_members WHERE group_id = $1 AND card_id > $2 ORDER BY card_id LIMIT `+strconv.Itoa(limit),
		groupID, after)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing group members: %w", err))
	}
	return ids, nil
}

// GroupMemberDisplays implements store.Queries: GroupMembers, with each
// member's label, or else the display name in the member's claim of the
// group's source (one primary key read each; the group's source is read
// once, as an uncorrelated subquery).
func (s *DB) GroupMemberDisplays(ctx context.Context, groupID, after string, limit int) ([]store.Member, error) {
	if limit <= 0 {
		limit = 100
	}
	name := `json_extract(cl.attrs_json, '$.display_name')`
	if s.d.JSON == JSONPostgres {
		name = `(CAST(cl.attrs_json AS jsonb) ->> 'display_name')`
	}
	// The limit is a literal, as in GroupMembers.
	rows, err := s.reads().QueryContext(ctx, `SELECT gm.card_id, CASE WHEN gm.display <> '' THEN gm.display ELSE COALESCE(`+name+`, '') END
		FROM group_members gm LEFT JOIN claims cl ON cl.card_id = gm.card_id AND cl.source = (SELECT g.source FROM groups g WHERE g.id = $1)
		WHERE gm.group_id = $1 AND gm.card_id > $2 ORDER BY gm.card_id LIMIT `+strconv.Itoa(limit), groupID, after)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing group members: %w", err))
	}
	defer rows.Close()
	var out []store.Member
	for rows.Next() {
		var m store.Member
		if err := rows.Scan(&m.CardID, &m.Display); err != nil {
			return nil, s.d.MapError(fmt.Errorf("listing group members: %w", err))
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing group members: %w", err))
	}
	return out, nil
}

// groupsOfCard is a scalar subquery: the source's ($1, $2) groups the card
// named by col is a member of, as a JSON array of [id, display name].
func (d Dialect) groupsOfCard(col string) string {
	where := d.membersThenGroups() + `gm.card_id = ` + col
	if d.JSON == JSONPostgres {
		return `(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name))::text, '[]') FROM ` + where + `)`
	}
	return `(SELECT json_group_array(json_array(g.id, g.display_name)) FROM ` + where + `)`
}

// decodeGroups reads groupsOfCard's array, ordered by display name, then id.
func decodeGroups(b []byte, tenant, source string) ([]store.Group, error) {
	var pairs [][2]string
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, fmt.Errorf("reading a card's groups: %w", err)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make([]store.Group, len(pairs))
	for i, p := range pairs {
		out[i] = store.Group{ID: p[0], Tenant: tenant, Source: source, DisplayName: p[1]}
	}
	sortGroups(out)
	return out, nil
}

func sortGroups(groups []store.Group) {
	slices.SortFunc(groups, func(a, b store.Group) int {
		return cmp.Or(cmp.Compare(a.DisplayName, b.DisplayName), cmp.Compare(a.ID, b.ID))
	})
}
