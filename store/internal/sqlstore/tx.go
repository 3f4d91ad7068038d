package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/rosterd/rosterd/store"
)

// tx implements store.Tx. Every method works on slices and cuts them into
// statements below the dialect's parameter limit, so a batch of thousands
// costs a handful of round trips, not thousands.
type tx struct {
	tx *sql.Tx
	// q runs the statements: tx itself, or tx through the statement cache.
	q queryer
	d Dialect
	// readOnly: begun by InReadTx; its reads lock nothing, Write fails.
	readOnly bool
}

// forUpdate is what the reads that lock rows end with: the dialect's
// locking clause, nothing in a read-only transaction.
func (t *tx) forUpdate() string {
	if t.readOnly {
		return ""
	}
	return t.d.ForUpdate
}

func (t *tx) rowsPer(cols int) int { return max(1, t.d.MaxParams/cols) }

// maxArray bounds the values of one array parameter, to keep one
// statement's memory in check.
const maxArray = 10000

// lookupChunk is how many values one lookup takes, after fixed parameters.
func (t *tx) lookupChunk(fixed int) int { return t.d.lookupChunk(fixed) }

func (d Dialect) lookupChunk(fixed int) int {
	if d.Arrays || d.JSON == JSONSQLite {
		return maxArray
	}
	return d.MaxParams - fixed
}

// in returns "col IN ($k,…)" with one parameter per value, or, where the
// dialect binds arrays, "col IN (SELECT unnest($k))" with the values as one array:
// one parameter to bind and one small statement to plan, whatever the count.
func (t *tx) in(col string, vals []string, fixed ...any) (string, []any) {
	return t.d.in(col, vals, fixed...)
}

func (d Dialect) in(col string, vals []string, fixed ...any) (string, []any) {
	args := append([]any{}, fixed...)
	if len(vals) == 1 {
		// One key (a SCIM request, a login): plain equality, which the
		// index whose first column it is serves whatever the statistics
		// say (the callers keep tenant and source off the indexes, see
		// the package doc).
		return fmt.Sprintf("%s = $%d", col, len(fixed)+1), append(args, vals[0])
	}
	if d.Arrays {
		// "col = ANY($k)": an index condition of the index whose first
		// column col is, which reads each key (a B-tree descends once per
		// array element). With the tenant first in the indexes it was
		// planned as a scan of the tenant with a filter, statistics or
		// not; the lookups now say the tenant so that no index takes it
		// (notIndexed). A semi-join on the unnested keys, as before, was
		// planned without statistics as a hash join over a walk of the
		// whole index.
		return fmt.Sprintf("%s = ANY($%d::text[])", col, len(fixed)+1), append(args, vals)
	}
	if d.JSON == JSONSQLite {
		// The same on SQLite, with the keys as one JSON array: one
		// statement text whatever the count (prepared once, cached), and
		// no per-parameter name search (modernc binds $N by name, so a
		// thousand parameters cost a million string compares).
		keys, err := json.Marshal(vals)
		if err != nil {
			panic(err) // strings always marshal
		}
		return fmt.Sprintf("%s IN (SELECT value FROM json_each($%d))", col, len(fixed)+1), append(args, string(keys))
	}
	for _, v := range vals {
		args = append(args, v)
	}
	return col + " IN (" + list(len(vals), len(fixed)+1) + ")", args
}

// The reads below order their rows by the index they look up, so that the
// index serves both the lookup and the order (ordering by another column
// once made PostgreSQL walk the primary key instead), and so that
// concurrent transactions lock rows in one order.

func (t *tx) CardsByEmail(ctx context.Context, tenant string, emailNorms []string) (map[string]store.Card, error) {
	out := make(map[string]store.Card, len(emailNorms))
	err := chunks(emailNorms, t.lookupChunk(1), func(part []string) error {
		in, args := t.in("email_norm", part, tenant)
		// email_norm <> '': cards_tenant_email is partial on it (cards may
		// have no email), and neither planner infers it from the IN list.
		cards, err := queryCards(ctx, t.q, `SELECT `+cardColumns+` FROM cards WHERE `+t.d.notIndexed("tenant")+` = $1 AND email_norm <> '' AND `+in+` ORDER BY email_norm`+t.forUpdate(), args...)
		for _, c := range cards {
			out[c.EmailNorm] = c
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading cards by email: %w", err))
	}
	return out, nil
}

func (t *tx) CardsByID(ctx context.Context, tenant string, ids []string) (map[string]store.Card, error) {
	out := make(map[string]store.Card, len(ids))
	err := chunks(ids, t.lookupChunk(1), func(part []string) error {
		in, args := t.in("id", part, tenant)
		cards, err := queryCards(ctx, t.q, `SELECT `+cardColumns+` FROM cards WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+in+` ORDER BY id`+t.forUpdate(), args...)
		for _, c := range cards {
			out[c.ID] = c
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading cards by id: %w", err))
	}
	return out, nil
}

func (t *tx) CardVersions(ctx context.Context, tenant string, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	err := chunks(ids, t.lookupChunk(1), func(part []string) error {
		in, args := t.in("id", part, tenant)
		rows, err := t.q.QueryContext(ctx, `SELECT id, version FROM cards WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+in+` ORDER BY id`+t.forUpdate(), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var v int64
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			out[id] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading card versions: %w", err))
	}
	return out, nil
}

func (t *tx) ClaimCardIDs(ctx context.Context, tenant, source string, externalIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(externalIDs))
	err := chunks(externalIDs, t.lookupChunk(2), func(part []string) error {
		in, args := t.in("external_id", part, tenant, source)
		rows, err := t.q.QueryContext(ctx, `SELECT external_id, card_id FROM claims WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+t.d.notIndexed("source")+` = $2 AND external_id <> '' AND `+in, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ext, card string
			if err := rows.Scan(&ext, &card); err != nil {
				return err
			}
			out[ext] = card
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading claims by external id: %w", err))
	}
	return out, nil
}

func (t *tx) Claims(ctx context.Context, tenant string, cardIDs []string) (map[string][]store.Claim, error) {
	out := make(map[string][]store.Claim, len(cardIDs))
	err := chunks(cardIDs, t.lookupChunk(1), func(part []string) error {
		in, args := t.in("card_id", part, tenant)
		claims, err := queryClaims(ctx, t.q, `SELECT `+claimColumns+` FROM claims WHERE `+t.d.notIndexed("tenant")+` = $1 AND `+in+` ORDER BY card_id, source`, args...)
		for _, c := range claims {
			out[c.CardID] = append(out[c.CardID], c)
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading claims: %w", err))
	}
	return out, nil
}

// cardUpdateSet is the SET list of an upsert that replaces every mutable
// column of a card.
var cardUpdateSet = func() string {
	var sets []string
	for _, col := range strings.Split(cardColumns, ",") {
		col = strings.TrimSpace(col)
		if col == "id" || col == "tenant" || col == "created_at" {
			continue
		}
		sets = append(sets, col+" = excluded."+col)
	}
	return strings.Join(sets, ", ")
}()

// A table is the target of one INSERT of a Write: its columns with their
// PostgreSQL types (for unnest's casts) and what follows the VALUES.
type table struct {
	name   string
	cols   []string
	types  []string
	suffix string
	// versioned: the suffix RETURNs one row per row written, and a row
	// missing means its version check failed (cards, groups).
	versioned bool
}

func cols(spec string) (names, types []string) {
	for _, f := range strings.Split(spec, ",") {
		name, typ, _ := strings.Cut(strings.TrimSpace(f), " ")
		names, types = append(names, name), append(types, typ)
	}
	return names, types
}

var (
	cardsTable = func() table {
		names, types := cols(`id text, tenant text, email text, email_norm text, given_name text, family_name text,
			display_name text, title text, department text, location text, employee_id text, manager_email text, role text,
			groups_json text, custom_json text, enabled bool, reason text, pin_actor text, pin_reason text, pin_at int8,
			invite_token_hash text, invite_sent_at int8, invite_expires_at int8, invite_reminded_at int8,
			first_login_at int8, last_login_at int8, created_at int8, updated_at int8, version int8,
			last_known_source text, last_known_at int8,
			role_source text, approval_state text, approval_actor text, approval_reason text, approval_at int8, relations_json text`)
		return table{name: "cards", cols: names, types: types,
			suffix:    ` ON CONFLICT (id) DO UPDATE SET ` + cardUpdateSet + ` WHERE cards.version = excluded.version - 1 RETURNING id`,
			versioned: true}
	}()
	claimsTable = func() table {
		names, types := cols(`card_id text, tenant text, source text, external_id text, email text, state text,
			authoritative bool, attrs_json text, run_id text, actor text, first_seen int8, last_seen int8, state_since int8,
			login text, login_norm text, raw_json text`)
		return table{name: "claims", cols: names, types: types,
			suffix: ` ON CONFLICT (card_id, source) DO UPDATE SET external_id = excluded.external_id, email = excluded.email,
			state = excluded.state, authoritative = excluded.authoritative, attrs_json = excluded.attrs_json,
			run_id = excluded.run_id, actor = excluded.actor, last_seen = excluded.last_seen, state_since = excluded.state_since,
			login = excluded.login, login_norm = excluded.login_norm, raw_json = excluded.raw_json`}
	}()
	auditTable = func() table {
		names, types := cols(`tenant text, card_id text, at int8, actor text, source text, action text, run_id text,
			before_json text, after_json text, detail text`)
		return table{name: "audit_events", cols: names, types: types}
	}()
	eventsTable = func() table {
		names, types := cols(`tenant text, card_id text, type text, at int8, actor text, source text, data text`)
		return table{name: "events", cols: names, types: types}
	}()
	outboxTable = func() table {
		names, types := cols(`tenant text, card_id text, kind text, payload text, created_at int8, next_attempt_at int8`)
		return table{name: "outbox", cols: names, types: types}
	}()
)

// A statement is one table's rows of a Write, row-major.
type statement struct {
	table
	rows int
	args []any
}

// sql returns the INSERT for the statement's rows with placeholders from
// $start, and its arguments: a VALUES list with one parameter per value,
// or, where the dialect binds arrays, unnest over one array per column.
func (st statement) sql(start int, arrays ArrayColumn) (string, []any) {
	if arrays == nil {
		return st.valuesSQL(start, false), st.args
	}
	head := `INSERT INTO ` + st.name + ` (` + strings.Join(st.cols, ", ") + `) `
	casts := make([]string, len(st.cols))
	columns := make([]any, len(st.cols))
	for c, typ := range st.types {
		casts[c] = fmt.Sprintf("$%d::%s[]", start+c, typ)
		columns[c] = arrays(st.args, c, len(st.cols), st.rows, typ)
	}
	return head + `SELECT * FROM unnest(` + strings.Join(casts, ", ") + `)` + st.suffix, columns
}

// ArrayColumn binds column c of row-major args (width values a row, rows
// rows) as one array parameter of PostgreSQL type typ ("text", "int8",
// "bool"); a nil value is a NULL element.
type ArrayColumn func(args []any, c, width, rows int, typ string) any

// valuesSQL is the INSERT with a VALUES list, placeholders from $start,
// or, anonymous, one "?" per value in order (SQLite: modernc then binds
// each by position, where a $N it reads back by name and parses). The
// text of a statement of a few rows is built once: one SCIM request
// writes one card, one claim, one audit line and one event, every time.
func (st statement) valuesSQL(start int, anonymous bool) string {
	key := valuesKey{name: st.name, suffix: st.suffix, rows: st.rows, start: start, anonymous: anonymous}
	if st.rows <= maxCachedValuesRows {
		if q, ok := valuesTexts.Load(key); ok {
			return q.(string)
		}
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO ` + st.name + ` (` + strings.Join(st.cols, ", ") + `) VALUES `)
	if anonymous {
		row := "(" + strings.Repeat("?,", len(st.cols)-1) + "?)"
		for r := range st.rows {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
		}
	} else {
		b.WriteString(placeholders(st.rows, len(st.cols), start))
	}
	b.WriteString(st.suffix)
	q := b.String()
	if st.rows <= maxCachedValuesRows {
		valuesTexts.Store(key, q)
	}
	return q
}

// valuesTexts caches valuesSQL's texts of up to maxCachedValuesRows rows,
// by valuesKey: a few tables, each with a few row counts.
var valuesTexts sync.Map

const maxCachedValuesRows = 16

// valuesKey names a valuesSQL text; the table's name and suffix tell its
// columns (each table has one column list).
type valuesKey struct {
	name, suffix string
	rows, start  int
	anonymous    bool
}

// column gathers column c of row-major args into a typed slice that the
// driver sends as an array; nil values become NULL elements. A column
// without NULLs goes as a plain []string or []int64, which the driver
// encodes without reflection or an allocation per value (a bulk job's
// 1,000 cards carry some 30,000 values).
func column(args []any, c, width, rows int, typ string) any {
	switch typ {
	case "bool":
		out := make([]bool, rows)
		for r := range rows {
			out[r], _ = args[r*width+c].(bool)
		}
		return out
	case "int8":
		if plain, ok := plainColumn[int64](args, c, width, rows); ok {
			return plain
		}
		out := make([]*int64, rows)
		for r := range rows {
			if v, ok := args[r*width+c].(int64); ok {
				out[r] = &v
			}
		}
		return out
	default:
		if plain, ok := plainColumn[string](args, c, width, rows); ok {
			return plain
		}
		out := make([]*string, rows)
		for r := range rows {
			if v, ok := args[r*width+c].(string); ok {
				out[r] = &v
			}
		}
		return out
	}
}

// plainColumn is column c as a []T when every value in it is a T.
func plainColumn[T any](args []any, c, width, rows int) ([]T, bool) {
	out := make([]T, rows)
	for r := range rows {
		v, ok := args[r*width+c].(T)
		if !ok {
			return nil, false
		}
		out[r] = v
	}
	return out, true
}

// Write implements store.Tx.
//
// Cards are written with one upsert on the primary key that takes effect
// only where the stored version is the one the caller read (new cards have
// fresh ids and always go in); RETURNING tells which rows did, and a missing
// one means somebody else wrote in between. Groups are written the same way.
//
// The order is the one foreign keys need: cards, claims, groups, group
// deletions (their memberships go with them), membership removals, then
// additions (so that removing and adding one membership in one Write leaves
// it in place), then audit lines, events and outbox messages.
//
// On PostgreSQL the cards, claims, audit, events and outbox rows go as
// arrays, all the inserts as one statement of data-modifying CTEs: one round
// trip and a small plan, whatever the batch size. Groups and memberships do
// not join that statement: its CTEs all see one snapshot, so a membership
// deleted and added again, or a group deleted along with member rows that
// refer to it, would not see each other. They run as statements of their
// own after it, in the same transaction; the only foreign keys among the
// tables involved point from memberships to cards and groups, which are
// written before them. SQLite, in-process, runs one statement per table,
// cut below its parameter limit, in the order above.
func (t *tx) Write(ctx context.Context, ch store.Changes) error {
	if t.readOnly {
		return store.ErrReadOnly
	}
	stmts, err := writeStatements(ch)
	if err != nil {
		return err
	}
	groups, err := groupStatement(ch.Groups)
	if err != nil {
		return err
	}
	grouped := groups.rows > 0 || len(ch.DeleteGroups) > 0 || len(ch.RemoveMembers) > 0 || len(ch.AddMembers) > 0
	if t.d.Arrays {
		if len(stmts) > 0 {
			// A small change (one SCIM request) plans faster as VALUES.
			err := t.writeCombined(ctx, stmts, len(ch.Cards), len(ch.Cards)+len(ch.Claims) > smallWrite)
			if err != nil {
				return err
			}
		}
		if grouped {
			return t.writeGroups(ctx, groups, ch)
		}
		return nil
	}
	i := 0
	for ; i < len(stmts) && (stmts[i].name == "cards" || stmts[i].name == "claims"); i++ {
		if err := t.writeChunked(ctx, stmts[i]); err != nil {
			return err
		}
	}
	if grouped {
		if err := t.writeGroups(ctx, groups, ch); err != nil {
			return err
		}
	}
	for ; i < len(stmts); i++ {
		if err := t.writeChunked(ctx, stmts[i]); err != nil {
			return err
		}
	}
	return nil
}

// smallWrite is the number of cards and claims up to which a combined
// write binds values one by one rather than as arrays.
const smallWrite = 16

func (t *tx) writeCombined(ctx context.Context, stmts []statement, cards int, arrays bool) error {
	var (
		b     strings.Builder
		args  []any
		count = "0"
	)
	var bind ArrayColumn // nil: VALUES
	if arrays {
		bind = column
		if t.d.ArrayColumn != nil {
			bind = t.d.ArrayColumn
		}
	}
	b.WriteString("WITH ")
	for i, st := range stmts {
		if i > 0 {
			b.WriteString(", ")
		}
		query, stArgs := st.sql(len(args)+1, bind)
		fmt.Fprintf(&b, "w%d AS (%s", i, query)
		if st.name == "cards" {
			count = fmt.Sprintf("(SELECT count(*) FROM w%d)", i)
		} else {
			b.WriteString(" RETURNING 1")
		}
		b.WriteString(")")
		args = append(args, stArgs...)
	}
	b.WriteString(" SELECT " + count)
	var n int
	if err := t.tx.QueryRowContext(ctx, b.String(), args...).Scan(&n); err != nil {
		return t.d.MapError(fmt.Errorf("writing changes: %w", err))
	}
	if n != cards {
		return fmt.Errorf("%w: %d of %d cards changed since they were read", store.ErrConflict, cards-n, cards)
	}
	return nil
}

// writeChunked runs one statement, cut into pieces below the parameter limit.
func (t *tx) writeChunked(ctx context.Context, st statement) error {
	width := len(st.cols)
	perStmt := t.rowsPer(width)
	for lo := 0; lo < st.rows; lo += perStmt {
		hi := min(lo+perStmt, st.rows)
		part := statement{table: st.table, rows: hi - lo, args: st.args[lo*width : hi*width]}
		query, args := part.valuesSQL(1, t.d.JSON == JSONSQLite), part.args
		if !st.versioned {
			if _, err := t.q.ExecContext(ctx, query, args...); err != nil {
				return t.d.MapError(fmt.Errorf("writing %s: %w", st.name, err))
			}
			continue
		}
		rows, err := t.q.QueryContext(ctx, query, args...)
		if err != nil {
			return t.d.MapError(fmt.Errorf("writing %s: %w", st.name, err))
		}
		n := 0
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return t.d.MapError(fmt.Errorf("writing %s: %w", st.name, err))
		}
		if n != part.rows {
			return fmt.Errorf("%w: %d of %d %s changed since they were read", store.ErrConflict, part.rows-n, part.rows, st.name)
		}
	}
	return nil
}

// writeStatements turns changes into one INSERT per table that has rows,
// in the order foreign keys need: cards before the claims that refer to them.
func writeStatements(ch store.Changes) ([]statement, error) {
	var stmts []statement
	add := func(tb table, rows int, args []any) {
		if rows > 0 {
			stmts = append(stmts, statement{table: tb, rows: rows, args: args})
		}
	}

	args := make([]any, 0, len(ch.Cards)*len(cardsTable.cols))
	for i := range ch.Cards {
		a, err := cardArgs(&ch.Cards[i])
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
	}
	add(cardsTable, len(ch.Cards), args)

	args = make([]any, 0, len(ch.Claims)*len(claimsTable.cols))
	for i := range ch.Claims {
		a, err := claimArgs(&ch.Claims[i])
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
	}
	add(claimsTable, len(ch.Claims), args)

	args = make([]any, 0, len(ch.Audit)*len(auditTable.cols))
	for _, e := range ch.Audit {
		args = append(args, e.Tenant, e.CardID, micros(e.At), e.Actor, e.Source, e.Action, e.RunID,
			nullString(string(e.Before), e.Before != nil), nullString(string(e.After), e.After != nil), e.Detail)
	}
	add(auditTable, len(ch.Audit), args)

	args = make([]any, 0, len(ch.Events)*len(eventsTable.cols))
	for _, e := range ch.Events {
		args = append(args, e.Tenant, e.CardID, e.Type, micros(e.At), e.Actor, e.Source, string(e.Data))
	}
	add(eventsTable, len(ch.Events), args)

	args = make([]any, 0, len(ch.Outbox)*len(outboxTable.cols))
	for _, m := range ch.Outbox {
		args = append(args, m.Tenant, m.CardID, m.Kind, string(m.Payload), micros(m.Created), micros(m.Created))
	}
	add(outboxTable, len(ch.Outbox), args)
	return stmts, nil
}

func (t *tx) CardIDByInvite(ctx context.Context, tenant, tokenHash string) (string, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT id FROM cards WHERE invite_token_hash = $1 AND tenant = $2`, tokenHash, tenant)
	if err != nil {
		return "", t.d.MapError(fmt.Errorf("reading an invite: %w", err))
	}
	defer rows.Close()
	if !rows.Next() {
		return "", store.ErrNotFound
	}
	var id string
	if err := rows.Scan(&id); err != nil {
		return "", err
	}
	return id, rows.Err()
}
