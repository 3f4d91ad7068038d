package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// The card list: store.CardFilter → WHERE, ORDER BY and a keyset cursor.
//
// Every sort is a keyset over (key…, id): a page starts after the row
// value of the previous page's last card, which the caller hands back
// (AfterKey, read from that card as CardSortKey does), so a card edited
// between two pages moves without shifting anyone else in or out of the
// pages. Text keys are compared as lower(…) on both sides — the store's
// own lower(), so the comparison and the ORDER BY agree whatever the
// backend folds — and byte-wise (COLLATE "C" on PostgreSQL, SQLite's
// BINARY), so both backends order alike for ASCII. The pages read the
// tenant's cards and sort them; an index per sort is not worth its writes
// at the sizes an admin list pages through (see BenchmarkListCards).

// cardWhere is the WHERE of a card filter (without the cursor), appending
// its values to args.
type cardWhere struct {
	d    Dialect
	args []any
	cond []string
}

func (w *cardWhere) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (d Dialect) cardWhere(f store.CardFilter) (*cardWhere, error) {
	w := &cardWhere{d: d}
	w.cond = append(w.cond, "tenant = "+w.arg(f.Tenant))
	if f.Enabled != nil {
		w.cond = append(w.cond, "enabled = "+w.arg(*f.Enabled))
	}
	if f.LoggedIn != nil {
		if *f.LoggedIn {
			w.cond = append(w.cond, "first_login_at IS NOT NULL")
		} else {
			w.cond = append(w.cond, "first_login_at IS NULL")
		}
	}
	switch f.Invite {
	case "":
	case "none":
		w.cond = append(w.cond, "invite_sent_at IS NULL")
	case "live":
		w.cond = append(w.cond, "invite_sent_at IS NOT NULL AND invite_expires_at > "+w.arg(f.Now.UnixMicro()))
	case "expired":
		w.cond = append(w.cond, "invite_sent_at IS NOT NULL AND invite_expires_at <= "+w.arg(f.Now.UnixMicro()))
	default:
		return nil, fmt.Errorf("unknown invite filter %q", f.Invite)
	}
	if f.Source != "" {
		w.cond = append(w.cond, "EXISTS (SELECT 1 FROM claims c WHERE c.card_id = cards.id AND c.source = "+w.arg(f.Source)+" AND c.state <> 'withdrawn')")
	}
	if f.Group != "" {
		// Migration 00040: on PostgreSQL a GIN index on the lower-case
		// names; on SQLite card_groups, the names one row each, kept by
		// triggers from groups_json.
		if d.JSON == JSONPostgres {
			w.cond = append(w.cond, "lower(groups_json)::jsonb @> jsonb_build_array(lower(CAST("+w.arg(f.Group)+" AS TEXT)))")
		} else {
			w.cond = append(w.cond, "id IN (SELECT card_groups.card_id FROM card_groups WHERE card_groups.tenant = "+w.arg(f.Tenant)+
				" AND card_groups.name = lower(CAST("+w.arg(f.Group)+" AS TEXT)))")
		}
	}
	if f.GroupID != "" {
		// From the group's members, not a probe per card of the tenant.
		w.cond = append(w.cond, "id IN (SELECT group_members.card_id FROM group_members WHERE group_members.group_id = "+w.arg(f.GroupID)+")")
	}
	for _, eq := range []struct{ col, v string }{
		{"role", f.Role}, {"department", f.Department}, {"location", f.Location}, {"title", f.Title}, {"manager_email", f.ManagerEmail},
	} {
		if eq.v != "" {
			w.cond = append(w.cond, "lower("+eq.col+") = lower(CAST("+w.arg(eq.v)+" AS TEXT))")
		}
	}
	if f.PendingApproval != nil {
		if *f.PendingApproval {
			w.cond = append(w.cond, pendingApprovalSQL)
		} else {
			w.cond = append(w.cond, "NOT "+pendingApprovalSQL)
		}
	}
	if f.Manager != "" {
		w.cond = append(w.cond, "lower(manager_email) = "+w.arg(strings.ToLower(f.Manager)))
	}
	if f.Assigned != nil {
		if *f.Assigned {
			w.cond = append(w.cond, "manager_email <> ''")
		} else {
			w.cond = append(w.cond, "manager_email = ''")
		}
	}
	if f.Relation != "" {
		// relations_json is a JSON object of name → email, written by
		// encoding/json: the pair appears as "name":"email".
		pair, _ := json.Marshal(map[string]string{f.Relation: f.RelationEmail})
		inner := strings.TrimSuffix(strings.TrimPrefix(string(pair), "{"), "}")
		w.cond = append(w.cond, `lower(relations_json) LIKE `+w.arg("%"+likeEscape(strings.ToLower(inner))+"%")+` ESCAPE '\'`)
	}
	if f.Query != "" {
		p := w.arg("%" + likeEscape(strings.ToLower(f.Query)) + "%")
		var or []string
		or = append(or, `email_norm LIKE `+p+` ESCAPE '\'`)
		for _, col := range []string{"given_name", "family_name", "display_name", "title", "department", "location", "employee_id"} {
			or = append(or, `lower(`+col+`) LIKE `+p+` ESCAPE '\'`)
		}
		w.cond = append(w.cond, "("+strings.Join(or, " OR ")+")")
	}
	return w, nil
}

func (w *cardWhere) String() string { return strings.Join(w.cond, " AND ") }

// sortKey is a sort's key expressions over the cards table, and the same
// expressions over bound values (the cursor's), in order, without the id.
func (w *cardWhere) sortKey(f store.CardFilter) (cols []string, vals []string, err error) {
	text := func(col string) string {
		if w.d.JSON == JSONPostgres {
			return "lower(" + col + `) COLLATE "C"`
		}
		return "lower(" + col + ")"
	}
	textArg := func(v any) (string, error) {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("cursor key %v is not text", v)
		}
		return text("CAST(" + w.arg(s) + " AS TEXT)"), nil
	}
	intArg := func(v any) (string, error) {
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case float64: // a key that went through JSON
			n = int64(x)
		default:
			return "", fmt.Errorf("cursor key %v is not a number", v)
		}
		return "CAST(" + w.arg(n) + " AS BIGINT)", nil
	}
	var want []func(any) (string, error)
	switch f.Sort {
	case store.SortID:
		return nil, nil, nil
	case store.SortName:
		cols = []string{text("family_name"), text("given_name")}
		want = []func(any) (string, error){textArg, textArg}
	case store.SortEmail:
		cols = []string{"email_norm"}
		if w.d.JSON == JSONPostgres {
			cols = []string{`email_norm COLLATE "C"`}
		}
		want = []func(any) (string, error){func(v any) (string, error) {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("cursor key %v is not text", v)
			}
			if w.d.JSON == JSONPostgres {
				return "CAST(" + w.arg(s) + ` AS TEXT) COLLATE "C"`, nil
			}
			return "CAST(" + w.arg(s) + " AS TEXT)", nil
		}}
	case store.SortLastLogin:
		cols = []string{"COALESCE(last_login_at, 0)"}
		want = []func(any) (string, error){intArg}
	case store.SortStatus:
		now := w.arg(f.Now.UnixMicro())
		cols = []string{fmt.Sprintf(`(CASE WHEN NOT enabled THEN %d WHEN first_login_at IS NOT NULL THEN %d WHEN invite_sent_at IS NULL THEN %d
			WHEN invite_expires_at > %s THEN %d ELSE %d END)`, store.RankDisabled, store.RankActive, store.RankProvisioned, now,
			store.RankInvitePending, store.RankInviteExpired)}
		want = []func(any) (string, error){intArg}
	default:
		return nil, nil, fmt.Errorf("unknown card sort %q", f.Sort)
	}
	if f.After == "" {
		return cols, nil, nil
	}
	if len(f.AfterKey) != len(want) {
		return nil, nil, fmt.Errorf("cursor holds %d sort keys, the %s sort takes %d", len(f.AfterKey), f.Sort, len(want))
	}
	for i, v := range f.AfterKey {
		s, err := want[i](v)
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, s)
	}
	return cols, vals, nil
}

// ListCards implements store.Store: one page in the filter's order, by id
// (card ids are UUIDv7, so that is creation order) unless it sorts
// otherwise.
func (s *DB) ListCards(ctx context.Context, f store.CardFilter) ([]store.Card, error) {
	w, err := s.d.cardWhere(f)
	if err != nil {
		return nil, err
	}
	cols, vals, err := w.sortKey(f)
	if err != nil {
		return nil, err
	}
	dir, cmp := " ASC", " > "
	if f.Desc {
		dir, cmp = " DESC", " < "
	}
	if f.After != "" {
		id := w.arg(f.After)
		if len(cols) == 0 {
			w.cond = append(w.cond, "id"+cmp+id)
		} else {
			w.cond = append(w.cond, "("+strings.Join(cols, ", ")+", id)"+cmp+"("+strings.Join(vals, ", ")+", "+id+")")
		}
	}
	order := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		order = append(order, c+dir)
	}
	order = append(order, "id"+dir)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + cardColumns + ` FROM cards WHERE ` + w.String() + ` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ` + w.arg(limit)
	cards, err := queryCards(ctx, s.reads(), query, w.args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing cards: %w", err))
	}
	return cards, nil
}

// CountCardsUpTo implements store.Store: the matches read up to max.
func (s *DB) CountCardsUpTo(ctx context.Context, f store.CardFilter, max int) (int, error) {
	f.After, f.Limit = "", 0
	w, err := s.d.cardWhere(f)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.queryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM cards WHERE `+w.String()+` LIMIT `+w.arg(max)+`) AS m`, w.args...).Scan(&n)
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("counting cards: %w", err))
	}
	return n, nil
}

// CountCardsWhere implements store.Store: one pass over the matches.
func (s *DB) CountCardsWhere(ctx context.Context, f store.CardFilter) (store.CardCounts, error) {
	var c store.CardCounts
	w, err := s.d.cardWhere(f)
	if err != nil {
		return c, err
	}
	now := w.arg(f.Now.UnixMicro())
	err = s.queryRowContext(ctx, `SELECT
		COALESCE(sum(CASE WHEN NOT enabled AND NOT `+pendingApprovalSQL+` THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN `+pendingApprovalSQL+` THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN enabled AND first_login_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN enabled AND first_login_at IS NULL AND invite_sent_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN enabled AND first_login_at IS NULL AND invite_sent_at IS NOT NULL AND invite_expires_at > `+now+` THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN enabled AND first_login_at IS NULL AND invite_sent_at IS NOT NULL AND invite_expires_at <= `+now+` THEN 1 ELSE 0 END), 0)
		FROM cards WHERE `+w.String(), w.args...).
		Scan(&c.Disabled, &c.PendingApproval, &c.LoggedIn, &c.NeverInvited, &c.InviteLive, &c.InviteExpired)
	if err != nil {
		return c, s.d.MapError(fmt.Errorf("counting cards: %w", err))
	}
	return c, nil
}

// CustomAttributeNames implements store.Store: the keys of the selected
// cards' custom_json objects, in one pass over them (json_each on SQLite,
// jsonb_object_keys on PostgreSQL). The database keeps only the distinct
// names, which are few, whatever the number of cards; sorted byte-wise
// (COLLATE "C" on PostgreSQL, SQLite's BINARY) so both backends agree.
func (s *DB) CustomAttributeNames(ctx context.Context, f store.CardFilter, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	w, err := s.d.cardWhere(f)
	if err != nil {
		return nil, err
	}
	// The limit is written into the query, a number: PostgreSQL cannot
	// type a bare LIMIT parameter of this query.
	selected := `(SELECT custom_json FROM cards WHERE ` + w.String() + ` AND custom_json <> '{}') c`
	q := `SELECT DISTINCT k.key FROM ` + selected + `, json_each(c.custom_json) k WHERE k.key <> '' ORDER BY k.key LIMIT ` + strconv.Itoa(limit)
	if s.d.JSON == JSONPostgres {
		q = `SELECT DISTINCT k COLLATE "C" FROM ` + selected + `, jsonb_object_keys(c.custom_json::jsonb) k WHERE k <> '' ORDER BY 1 LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := s.queryContext(ctx, q, w.args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("reading the custom attribute names: %w", err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, s.d.MapError(fmt.Errorf("reading the custom attribute names: %w", err))
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, s.d.MapError(fmt.Errorf("reading the custom attribute names: %w", err))
	}
	return out, nil
}
