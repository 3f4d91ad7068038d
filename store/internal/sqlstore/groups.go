package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// ---- logins

func (t *tx) LoginCardIDs(ctx context.Context, tenant, source string, logins []string) (map[string]string, error) {
	norms := make([]string, 0, len(logins))
	for _, l := range logins {
		if l != "" {
			norms = append(norms, strings.ToLower(l))
		}
	}
	out := make(map[string]string, len(norms))
	err := chunks(norms, t.lookupChunk(2), func(part []string) error {
		in, args := t.in("login_norm", part, tenant, source)
		// The two conditions after the source are claims_login's own, which
		// the planners (SQLite's above all) need to see to use it.
		rows, err := t.q.QueryContext(ctx, `SELECT login_norm, card_id FROM claims
			WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+t.d.notIndexed("source")+` = $2 AND login_norm <> '' AND state <> 'withdrawn' AND `+in, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var login, card string
			if err := rows.Scan(&login, &card); err != nil {
				return err
			}
			out[login] = card
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading claims by login: %w", err))
	}
	return out, nil
}

// ---- groups

// groupColumns are what scanGroup reads, in its order.
const groupColumns = `id, tenant, source, display_name, external_id, raw_json, created_at, updated_at, version`

func scanGroup(sc scanner) (store.Group, error) {
	var x groupScan
	if err := sc.Scan(x.dest()...); err != nil {
		return x.g, err
	}
	return x.finish(), nil
}

// groupScan holds one row of groupColumns.
type groupScan struct {
	g                store.Group
	raw              sql.NullString
	created, updated sql.NullInt64
}

func (x *groupScan) dest() []any {
	g := &x.g
	return []any{&g.ID, &g.Tenant, &g.Source, &g.DisplayName, &g.ExternalID, &x.raw, &x.created, &x.updated, &g.Version}
}

func (x *groupScan) finish() store.Group {
	g := x.g
	g.Raw = rawBytes(x.raw)
	g.Created, g.Updated = fromMicros(x.created), fromMicros(x.updated)
	return g
}

func queryGroups(ctx context.Context, q queryer, query string, args ...any) ([]store.Group, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var groups []store.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, rows.Err()
}

// groupsTable is upserted like cardsTable: a row changes only from the
// version before the one written, and only within its tenant and source
// (a group id of another tenant or source counts as a conflict, never as
// a takeover).
var groupsTable = func() table {
	names, types := cols(`id text, tenant text, source text, display_name text, display_name_norm text, external_id text,
		raw_json text, created_at int8, updated_at int8, version int8`)
	return table{name: "groups", cols: names, types: types,
		suffix: ` ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,
			display_name_norm = excluded.display_name_norm, external_id = excluded.external_id, raw_json = excluded.raw_json,
			updated_at = excluded.updated_at, version = excluded.version
			WHERE groups.version = excluded.version - 1 AND groups.tenant = excluded.tenant AND groups.source = excluded.source
			RETURNING id`,
		versioned: true}
}()

func groupStatement(groups []store.Group) (statement, error) {
	args := make([]any, 0, len(groups)*len(groupsTable.cols))
	for i := range groups {
		g := &groups[i]
		raw, err := rawArg(g.Raw)
		if err != nil {
			return statement{}, fmt.Errorf("group %s: %w", g.ID, err)
		}
		args = append(args, g.ID, g.Tenant, g.Source, g.DisplayName, strings.ToLower(g.DisplayName), g.ExternalID,
			raw, micros(g.Created), micros(g.Updated), g.Version)
	}
	return statement{table: groupsTable, rows: len(groups), args: args}, nil
}

// writeGroups writes the group part of a Write, one kind of change after
// the other: upserts, deletions, membership removals, additions.
func (t *tx) writeGroups(ctx context.Context, groups statement, ch store.Changes) error {
	if groups.rows > 0 {
		if err := t.writeChunked(ctx, groups); err != nil {
			return err
		}
	}
	err := chunks(ch.DeleteGroups, t.lookupChunk(0), func(part []string) error {
		in, args := t.in("id", part)
		_, err := t.q.ExecContext(ctx, `DELETE FROM groups WHERE `+in, args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("deleting groups: %w", err))
	}
	if err := t.writeMembers(ctx, ch.RemoveMembers, false); err != nil {
		return t.d.MapError(fmt.Errorf("removing group members: %w", err))
	}
	if err := t.writeMembers(ctx, ch.AddMembers, true); err != nil {
		return t.d.MapError(fmt.Errorf("adding group members: %w", err))
	}
	return nil
}

// memberUpsert ends an addition of memberships: one that exists takes
// the new display label, and is not written when it has that one already.
const memberUpsert = ` ON CONFLICT (group_id, card_id) DO UPDATE SET display = excluded.display
	WHERE group_members.display <> excluded.display`

// writeMembers adds or removes memberships. PostgreSQL takes them as two
// arrays of one statement (per maxArray pairs). SQLite takes one statement
// per group and chunk of cards, the group id bound once: a 10,000-member
// group costs about ten statements of a thousand parameters.
func (t *tx) writeMembers(ctx context.Context, ms []store.Membership, add bool) error {
	if len(ms) == 0 {
		return nil
	}
	if add {
		ms = lastOfEachMembership(ms)
	}
	if t.d.Arrays {
		return chunks(ms, maxArray, func(part []store.Membership) error {
			groups, cards, displays := make([]string, len(part)), make([]string, len(part)), make([]string, len(part))
			for i, m := range part {
				groups[i], cards[i], displays[i] = m.GroupID, m.CardID, m.Display
			}
			if add {
				_, err := t.q.ExecContext(ctx, `INSERT INTO group_members (group_id, card_id, display)
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`+memberUpsert, groups, cards, displays)
				return err
			}
			_, err := t.q.ExecContext(ctx, `DELETE FROM group_members AS gm USING unnest($1::text[], $2::text[]) AS r(group_id, card_id)
				WHERE gm.group_id = r.group_id AND gm.card_id = r.card_id`, groups, cards)
			return err
		})
	}
	// Group the memberships by group, keeping the order groups first appear in.
	byGroup := map[string][]store.Membership{}
	var order []string
	for _, m := range ms {
		if _, ok := byGroup[m.GroupID]; !ok {
			order = append(order, m.GroupID)
		}
		byGroup[m.GroupID] = append(byGroup[m.GroupID], m)
	}
	for _, g := range order {
		// An addition binds a card and its display per row.
		err := chunks(byGroup[g], (t.lookupChunk(1)-1)/2, func(part []store.Membership) error {
			args := make([]any, 0, 2*len(part)+1)
			args = append(args, g)
			var query string
			if add {
				var b strings.Builder
				b.WriteString(`INSERT INTO group_members (group_id, card_id, display) VALUES `)
				for i, m := range part {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "($1,$%d,$%d)", 2*i+2, 2*i+3)
					args = append(args, m.CardID, m.Display)
				}
				b.WriteString(memberUpsert)
				query = b.String()
			} else {
				for _, m := range part {
					args = append(args, m.CardID)
				}
				query = `DELETE FROM group_members WHERE group_id = $1 AND card_id IN (` + list(len(part), 2) + `)`
			}
			_, err := t.q.ExecContext(ctx, query, args...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lastOfEachMembership keeps one addition per membership, the last (its
// display wins): PostgreSQL refuses an upsert that meets one row twice.
func lastOfEachMembership(ms []store.Membership) []store.Membership {
	type key struct{ group, card string }
	last := make(map[key]int, len(ms))
	for i, m := range ms {
		last[key{m.GroupID, m.CardID}] = i
	}
	if len(last) == len(ms) {
		return ms
	}
	out := make([]store.Membership, 0, len(last))
	for i, m := range ms {
		if last[key{m.GroupID, m.CardID}] == i {
			out = append(out, m)
		}
	}
	return out
}

func (t *tx) GroupsByID(ctx context.Context, tenant, source string, ids []string) (map[string]store.Group, error) {
	out := make(map[string]store.Group, len(ids))
	err := chunks(ids, t.lookupChunk(2), func(part []string) error {
		in, args := t.in("id", part, tenant, source)
		groups, err := queryGroups(ctx, t.q, `SELECT `+groupColumns+` FROM groups WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+t.d.notIndexed("source")+` = $2 AND `+in+` ORDER BY id`+t.forUpdate(), args...)
		for _, g := range groups {
			out[g.ID] = g
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading groups by id: %w", err))
	}
	return out, nil
}

func (t *tx) GroupIDsByName(ctx context.Context, tenant, source string, names []string) (map[string]string, error) {
	norms := make([]string, len(names))
	for i, n := range names {
		norms[i] = strings.ToLower(n)
	}
	out := make(map[string]string, len(norms))
	err := chunks(norms, t.lookupChunk(2), func(part []string) error {
		in, args := t.in("display_name_norm", part, tenant, source)
		rows, err := t.q.QueryContext(ctx, `SELECT display_name_norm, id FROM groups WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+t.d.notIndexed("source")+` = $2 AND `+in, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, id string
			if err := rows.Scan(&name, &id); err != nil {
				return err
			}
			out[name] = id
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading groups by name: %w", err))
	}
	return out, nil
}

func (t *tx) GroupMemberIDs(ctx context.Context, groupID string) ([]string, error) {
	ids, err := queryStrings(ctx, t.q, `SELECT card_id FROM group_members WHERE group_id = $1 ORDER BY card_id`, groupID)
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading group members: %w", err))
	}
	return ids, nil
}

func (t *tx) GroupNamesOfCards(ctx context.Context, tenant, source string, cardIDs []string) (map[string][]string, error) {
	out := make(map[string][]string)
	err := chunks(cardIDs, t.lookupChunk(2), func(part []string) error {
		in, args := t.in("gm.card_id", part, tenant, source)
		rows, err := t.q.QueryContext(ctx, `SELECT gm.card_id, g.display_name FROM `+t.d.membersThenGroups()+in, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var card, name string
			if err := rows.Scan(&card, &name); err != nil {
				return err
			}
			out[card] = append(out[card], name)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading groups of cards: %w", err))
	}
	// Sorted here, by bytes, rather than by each database's collation.
	for _, names := range out {
		slices.Sort(names)
	}
	return out, nil
}

// membersThenGroups joins the memberships of some cards to their groups
// of the source ($1, $2), up to "WHERE ", after which the caller names the
// cards (gm.card_id). The order is fixed: the cards' memberships by
// group_members_card, then each group by its key. Left free, both planners
// walked the source's groups and probed each one's memberships: SQLite
// given statistics, PostgreSQL without them (a source's groups look like a
// handful when tenant = $1 AND source = $2 is guessed to match 0.5 % of
// 0.5 %). SQLite keeps the order of a CROSS JOIN; PostgreSQL runs a
// LATERAL subquery that OFFSET 0 keeps from being flattened once per
// membership.
func (d Dialect) membersThenGroups() string {
	if d.JSON == JSONPostgres {
		return `group_members gm CROSS JOIN LATERAL (SELECT g.id, g.display_name FROM groups g
			WHERE g.id = gm.group_id AND ` + d.groupOfSource() + ` OFFSET 0) g WHERE `
	}
	return `group_members gm CROSS JOIN groups g WHERE g.id = gm.group_id AND ` + d.groupOfSource() + ` AND `
}

func queryStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
