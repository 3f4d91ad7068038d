// Package sqlstore is the database/sql implementation of store.Store shared
// by the SQLite and PostgreSQL backends. Both speak the same SQL here:
// positional $n parameters, RETURNING, ON CONFLICT … DO UPDATE, times as
// BIGINT microseconds, JSON as TEXT. What differs — row locks, error codes,
// the parameter limit, migrations — comes in through Dialect.
//
// # Plans that do not depend on statistics
//
// A new install's first minutes are its busiest: an IdP pushes every user
// (a lookup by userName, then a create, per person) into tables that
// nobody has analysed yet, and autovacuum analyses a table only once it
// has grown by 10 % plus 50 rows, at most once a minute. Until then
// PostgreSQL guesses that any "col = value" matches 0.5 % of the rows, so
// "tenant = $1 AND source = $2" looks like 0.0025 %, nearly a key, when in
// a real install it is most of the table; SQLite without sqlite_stat1
// guesses alike. Plans chosen on that guess — a userName lookup walking a
// source's claims in card order to satisfy ORDER BY … LIMIT, a card's
// claims read through claims_source_card, a card's groups found by walking
// the source's groups — grow linearly with the table, and pgx's prepared
// statements keep them (PostgreSQL's generic plan after five runs).
//
// rosterd does not wait for statistics (autovacuum settings would still
// leave a minute; an ANALYZE in the write path would cost every write).
// Its hot reads are written so that their best plan is the same at any
// size and with or without statistics:
//
//   - Tenant and source are never selective. Where a key finds the rows
//     (a card id, an email, a login, an external id, a group id or name),
//     the tenant and source conditions are written so that no index takes
//     them (Dialect.notIndexed): they filter what the key found, and the
//     only index condition is the key, on the index it leads (a SCIM
//     email, which lives in an array of the raw record, through
//     claim_emails, which triggers keep: emailLookup). Only reads
//     that want a source's rows in order — SCIM pages, counts, the card
//     list — use the (tenant, source, …) indexes.
//   - A lookup that matches at most one claim (userName or id, see
//     uniqueLookup) has no ORDER BY, LIMIT or count: nothing for a walk in
//     card order to be cheaper at.
//   - Many keys go as "col = ANY($1)" on PostgreSQL, an index condition,
//     rather than a join that a planner may run as a hash over the whole
//     index.
//   - Joins whose order matters are fixed (membersThenGroups); page limits
//     are literals (limitOffset, GroupMembers), so a generic plan knows
//     them.
//
// TestPlans (plans_test.go) holds the store to this: it grows a database
// to 10,000 cards with autovacuum off and no ANALYZE, then analyses it,
// and at each stage EXPLAINs the statements the store itself ran for each
// hot read, as PostgreSQL custom and generic plans and SQLite query plans,
// asserting the index each one reads. A new hot read belongs in its list.
package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rosterd/rosterd/store"
)

// Dialect is what one backend adds to the shared SQL.
type Dialect struct {
	// Goose is the migration dialect.
	Goose goose.Dialect
	// Migrations holds the embedded migration files at its root.
	Migrations fs.FS
	// ForUpdate is appended to the reads of a transaction that must lock
	// their rows (" FOR UPDATE" on PostgreSQL; SQLite locks the whole
	// database for an IMMEDIATE transaction and has no such clause).
	ForUpdate string
	// MaxParams bounds the parameters of one statement; bulk writes are cut
	// into statements below it.
	MaxParams int
	// MapError turns a driver error into a store sentinel error (wrapped),
	// or returns it unchanged.
	MapError func(error) error
	// Arrays: the driver binds Go slices as arrays (pgx), so lookups take
	// "= ANY($n)" and writes go as unnest over one array per column, all
	// tables in one statement of data-modifying CTEs. SQLite has neither,
	// and no round trips to save.
	Arrays bool
	// ArrayColumn, where Arrays is set, binds one column of a batched
	// write; nil: a typed Go slice per column (column).
	ArrayColumn ArrayColumn
	// OneWriter makes transactions of this process take turns before they
	// begin: SQLite allows one writer at a time, and writers queued on a Go
	// channel wake in order, where writers left to SQLite's busy handler
	// sleep and poll.
	OneWriter bool
	// CacheStatements keeps statements prepared across transactions. pgx
	// caches them itself; modernc's SQLite driver parses every statement
	// anew, which is a third of a small transaction's time.
	CacheStatements bool
	// AdvisoryLocks: TryLock takes PostgreSQL advisory locks (across
	// processes) rather than in-process ones.
	AdvisoryLocks bool
	// SessionLocker serializes migrations of several replicas starting at
	// once (PostgreSQL advisory lock); nil for SQLite.
	SessionLocker lock.SessionLocker
	// JSON names the JSON functions that filters on raw records translate
	// to: JSONSQLite (json_extract, json_type, json_each over TEXT) or
	// JSONPostgres (jsonb operators, jsonb_array_elements). Left empty, New
	// derives it from Arrays: only the PostgreSQL backend binds arrays, and
	// the backends' own files predate this field, so the one flag that
	// already tells the two apart decides.
	JSON string
	// Notify: a registry change sends a notification (pg_notify) on
	// store.RegistryChannel at commit, which the other replicas LISTEN for.
	Notify bool
}

// Values of Dialect.JSON.
const (
	JSONSQLite   = "sqlite"
	JSONPostgres = "postgres"
)

// DB implements store.Store over a *sql.DB.
type DB struct {
	SQL *sql.DB
	d   Dialect
	// writer holds one token when Dialect.OneWriter is set.
	writer chan struct{}
	// stmts caches prepared statements when Dialect.CacheStatements is set.
	stmts *stmtCache
	// trace, set only by tests (export_test.go), sees every read the store
	// runs, with its arguments, before it runs: the plan tests EXPLAIN the
	// statements the code builds rather than copies of them.
	trace func(query string, args []any)
}

// New wraps an open database. It does not migrate; see Migrate and CheckSchema.
func New(db *sql.DB, d Dialect) *DB {
	if d.JSON == "" {
		d.JSON = JSONSQLite
		if d.Arrays {
			d.JSON = JSONPostgres
		}
	}
	s := &DB{SQL: db, d: d}
	if d.OneWriter {
		s.writer = make(chan struct{}, 1)
	}
	if d.CacheStatements {
		s.stmts = &stmtCache{db: db, m: map[string]*sql.Stmt{}}
	}
	return s
}

func (s *DB) provider() (*goose.Provider, error) {
	var opts []goose.ProviderOption
	if s.d.SessionLocker != nil {
		opts = append(opts, goose.WithSessionLocker(s.d.SessionLocker))
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	return goose.NewProvider(s.d.Goose, s.SQL, s.d.Migrations, opts...)
}

// Migrate applies every pending migration and returns the versions applied.
func (s *DB) Migrate(ctx context.Context) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// SchemaVersions returns the database's schema version and the one this
// binary expects.
func (s *DB) SchemaVersions(ctx context.Context) (current, target int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("loading migrations: %w", err)
	}
	return p.GetVersions(ctx)
}

// CheckSchema returns an error wrapping store.ErrSchemaBehind when the
// database needs migrating, naming the command that fixes it.
func (s *DB) CheckSchema(ctx context.Context) error {
	current, target, err := s.SchemaVersions(ctx)
	if err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if current < target {
		return fmt.Errorf("%w: schema version %d, this rosterd needs %d: run `rosterd migrate`", store.ErrSchemaBehind, current, target)
	}
	if current > target {
		return fmt.Errorf("schema version %d is newer than this rosterd knows (%d): upgrade rosterd", current, target)
	}
	return nil
}

// Ready implements store.Store.
func (s *DB) Ready(ctx context.Context) error {
	if err := s.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return s.CheckSchema(ctx)
}

// Analyze refreshes the planner's statistics of the tables bulk writes
// grow. A big import into a new installation otherwise runs its lookups
// with the statistics of empty tables until autovacuum's next round.
func (s *DB) Analyze(ctx context.Context) error {
	stmt := `PRAGMA optimize`
	if s.d.Arrays {
		stmt = `ANALYZE cards, claims, group_members`
	}
	_, err := s.SQL.ExecContext(ctx, stmt)
	return s.d.MapError(err)
}

// Close implements store.Store.
func (s *DB) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	return s.SQL.Close()
}

// stmtCache holds statements prepared on the database; a transaction uses
// them through Tx.StmtContext, which reuses the copy already prepared on its
// connection. The number of distinct statements is bounded (bulk statements
// vary only in their row count, up to the parameter limit), and past
// maxCachedStatements new ones simply run unprepared.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxCachedStatements = 2048

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if len(c.m) >= maxCachedStatements {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// queryContext runs a read outside a transaction (every store read that
// is not in InTx goes through it or queryRowContext), through the statement
// cache when there is one: modernc's SQLite otherwise parses the statement
// on every call (and, once the tables have statistics, again at its first
// step) — two thirds of a SCIM GET's CPU on SQLite.
func (s *DB) queryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.trace != nil {
		s.trace(query, args)
	}
	if s.stmts != nil {
		st, err := s.stmts.get(ctx, query)
		if err != nil {
			return nil, err
		}
		if st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return s.SQL.QueryContext(ctx, query, args...)
}

// queryRowContext is queryContext for one row. A statement that cannot be
// prepared runs unprepared, so that its error comes out of Scan.
func (s *DB) queryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s.trace != nil {
		s.trace(query, args)
	}
	if s.stmts != nil {
		if st, err := s.stmts.get(ctx, query); err == nil && st != nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return s.SQL.QueryRowContext(ctx, query, args...)
}

// reads is the queryer of reads outside a transaction: queryContext's.
func (s *DB) reads() queryer { return dbReads{s} }

type dbReads struct{ s *DB }

func (r dbReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.s.queryContext(ctx, query, args...)
}

func (r dbReads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.s.SQL.ExecContext(ctx, query, args...)
}

// tracedTx shows a transaction's reads to DB.trace.
type tracedTx struct {
	queryer
	trace func(string, []any)
}

func (t tracedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.trace(query, args)
	return t.queryer.QueryContext(ctx, query, args...)
}

// cachedTx runs a transaction's statements through the cache.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
}

func (c *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.tx.QueryContext(ctx, query, args...)
	}
	return c.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (c *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.tx.ExecContext(ctx, query, args...)
	}
	return c.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// InTx implements store.Store.
func (s *DB) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.exclusive(ctx, func() error {
		sqlTx, err := s.SQL.BeginTx(ctx, nil)
		if err != nil {
			return s.d.MapError(fmt.Errorf("beginning transaction: %w", err))
		}
		// Rolled back on every way out but a commit — a panic in fn too,
		// which would otherwise leave the connection in its transaction
		// (on SQLite, holding the database's write lock for good).
		defer sqlTx.Rollback() //nolint:errcheck // after a commit: sql.ErrTxDone
		var q queryer = sqlTx
		if s.stmts != nil {
			q = &cachedTx{tx: sqlTx, cache: s.stmts}
		}
		if s.trace != nil {
			q = tracedTx{q, s.trace}
		}
		if err := fn(&tx{tx: sqlTx, q: q, d: s.d}); err != nil {
			return err
		}
		if err := sqlTx.Commit(); err != nil {
			return s.d.MapError(fmt.Errorf("committing: %w", err))
		}
		return nil
	})
}

// exclusive runs fn holding the process's single writer, where the dialect
// has one (Dialect.OneWriter): every write transaction goes through it.
func (s *DB) exclusive(ctx context.Context, fn func() error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fn()
}

// InReadTx implements store.Store. On PostgreSQL it is REPEATABLE READ,
// READ ONLY: one snapshot for all of fn's reads. On SQLite it is a
// deferred transaction, which in WAL mode reads one snapshot while writers
// go on, and does not take the one-writer turn.
func (s *DB) InReadTx(ctx context.Context, fn func(store.Tx) error) error {
	// SQLite's driver ignores the level: a transaction reads one snapshot.
	sqlTx, err := s.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return s.d.MapError(fmt.Errorf("beginning read-only transaction: %w", err))
	}
	defer sqlTx.Rollback() //nolint:errcheck // nothing was written
	var q queryer = sqlTx
	if s.stmts != nil {
		q = &cachedTx{tx: sqlTx, cache: s.stmts}
	}
	if s.trace != nil {
		q = tracedTx{q, s.trace}
	}
	return fn(&tx{tx: sqlTx, q: q, d: s.d, readOnly: true})
}

// Queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ---- time and JSON helpers

// micros stores a time as microseconds, the zero time as NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

func nullString(s string, valid bool) any {
	if !valid {
		return nil
	}
	return s
}

// placeholders returns "($k,$k+1,…),(…)" for rows of n columns starting at $start.
func placeholders(rows, cols, start int) string {
	var b strings.Builder
	p := start
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// list returns "$start,…" for n values.
func list(n, start int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(start + i))
	}
	return b.String()
}

// chunks calls fn with consecutive slices of at most size elements.
func chunks[T any](items []T, size int, fn func([]T) error) error {
	if size < 1 {
		size = 1
	}
	for len(items) > 0 {
		n := min(size, len(items))
		if err := fn(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// ---- cards

const cardColumns = `id, tenant, email, email_norm, given_name, family_name, display_name, title,
	department, location, employee_id, manager_email, role, groups_json, custom_json, enabled, reason,
	pin_actor, pin_reason, pin_at, invite_token_hash, invite_sent_at, invite_expires_at, invite_reminded_at,
	first_login_at, last_login_at, created_at, updated_at, version, last_known_source, last_known_at,
	role_source, approval_state, approval_actor, approval_reason, approval_at, relations_json`

type scanner interface{ Scan(dest ...any) error }

func scanCard(sc scanner) (store.Card, error) {
	var x cardScan
	if err := sc.Scan(x.dest()...); err != nil {
		return x.c, err
	}
	return x.finish()
}

// cardScan holds one row of cardColumns: dest are its Scan destinations,
// finish turns them into the card. (QueryClaims scans a card and a claim
// from one row.)
type cardScan struct {
	c                                     store.Card
	groups, custom                        string
	pinActor, pinReason, inviteHash       sql.NullString
	pinAt, sent, expires, reminded        sql.NullInt64
	firstLogin, lastLogin, created, updat sql.NullInt64
	lastKnownSource                       sql.NullString
	lastKnownAt                           sql.NullInt64
	approvalState, approvalActor          string
	approvalReason, relations             string
	approvalAt                            sql.NullInt64
}

func (x *cardScan) dest() []any {
	c, a := &x.c, &x.c.Attributes
	return []any{&c.ID, &c.Tenant, &c.Email, &c.EmailNorm, &a.GivenName, &a.FamilyName, &a.DisplayName, &a.Title,
		&a.Department, &a.Location, &a.EmployeeID, &a.ManagerEmail, &a.Role, &x.groups, &x.custom, &c.Enabled, &c.Reason,
		&x.pinActor, &x.pinReason, &x.pinAt, &x.inviteHash, &x.sent, &x.expires, &x.reminded,
		&x.firstLogin, &x.lastLogin, &x.created, &x.updat, &c.Version, &x.lastKnownSource, &x.lastKnownAt,
		&c.RoleSource, &x.approvalState, &x.approvalActor, &x.approvalReason, &x.approvalAt, &x.relations}
}

func (x *cardScan) finish() (store.Card, error) {
	c := x.c
	a := &c.Attributes
	if err := json.Unmarshal([]byte(x.groups), &a.Groups); err != nil {
		return c, fmt.Errorf("card %s: groups: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(x.custom), &a.Custom); err != nil {
		return c, fmt.Errorf("card %s: custom attributes: %w", c.ID, err)
	}
	if len(a.Groups) == 0 {
		a.Groups = nil
	}
	if len(a.Custom) == 0 {
		a.Custom = nil
	}
	if x.relations != "" {
		if err := json.Unmarshal([]byte(x.relations), &a.Relations); err != nil {
			return c, fmt.Errorf("card %s: relations: %w", c.ID, err)
		}
	}
	if len(a.Relations) == 0 {
		a.Relations = nil
	}
	if x.approvalState != "" {
		c.Approval = &store.Approval{State: x.approvalState, Actor: x.approvalActor, Reason: x.approvalReason, At: fromMicros(x.approvalAt)}
	}
	if x.pinActor.Valid {
		c.Pin = &store.Pin{Actor: x.pinActor.String, Reason: x.pinReason.String, At: fromMicros(x.pinAt)}
	}
	if x.sent.Valid {
		c.Invite = &store.Invite{TokenHash: x.inviteHash.String, SentAt: fromMicros(x.sent), ExpiresAt: fromMicros(x.expires), RemindedAt: fromMicros(x.reminded)}
	}
	if x.lastKnownSource.Valid {
		c.LastKnown = &store.LastKnown{Source: x.lastKnownSource.String, At: fromMicros(x.lastKnownAt)}
	}
	c.FirstLoginAt = fromMicros(x.firstLogin)
	c.LastLoginAt = fromMicros(x.lastLogin)
	c.CreatedAt = fromMicros(x.created)
	c.UpdatedAt = fromMicros(x.updat)
	return c, nil
}

func cardArgs(c *store.Card) ([]any, error) {
	a := &c.Attributes
	groups, err := json.Marshal(nonNil(a.Groups))
	if err != nil {
		return nil, err
	}
	custom, err := json.Marshal(nonNilMap(a.Custom))
	if err != nil {
		return nil, err
	}
	var pinActor, pinReason, pinAt any
	if c.Pin != nil {
		pinActor, pinReason, pinAt = c.Pin.Actor, c.Pin.Reason, micros(c.Pin.At)
	}
	var inviteHash, sent, expires, reminded any
	if c.Invite != nil {
		inviteHash = nullString(c.Invite.TokenHash, c.Invite.TokenHash != "")
		sent, expires, reminded = micros(c.Invite.SentAt), micros(c.Invite.ExpiresAt), micros(c.Invite.RemindedAt)
	}
	var lastKnownSource, lastKnownAt any
	if c.LastKnown != nil {
		lastKnownSource, lastKnownAt = c.LastKnown.Source, micros(c.LastKnown.At)
	}
	relations, err := json.Marshal(nonNilMap(a.Relations))
	if err != nil {
		return nil, err
	}
	var approvalState, approvalActor, approvalReason string
	var approvalAt any
	if c.Approval != nil {
		approvalState, approvalActor, approvalReason, approvalAt = c.Approval.State, c.Approval.Actor, c.Approval.Reason, micros(c.Approval.At)
	}
	return []any{c.ID, c.Tenant, c.Email, c.EmailNorm, a.GivenName, a.FamilyName, a.DisplayName, a.Title,
		a.Department, a.Location, a.EmployeeID, a.ManagerEmail, a.Role, string(groups), string(custom), c.Enabled, c.Reason,
		pinActor, pinReason, pinAt, inviteHash, sent, expires, reminded,
		micros(c.FirstLoginAt), micros(c.LastLoginAt), micros(c.CreatedAt), micros(c.UpdatedAt), c.Version,
		lastKnownSource, lastKnownAt,
		c.RoleSource, approvalState, approvalActor, approvalReason, approvalAt, string(relations)}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func queryCards(ctx context.Context, q queryer, query string, args ...any) ([]store.Card, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cards []store.Card
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, err
		}
		cards = append(cards, c)
	}
	return cards, rows.Err()
}

// GetCard implements store.Store.
func (s *DB) GetCard(ctx context.Context, tenant, id string) (store.Card, error) {
	cards, err := queryCards(ctx, s.reads(), `SELECT `+cardColumns+` FROM cards WHERE `+s.d.notIndexed("tenant")+` = $1 AND id = $2`, tenant, id)
	if err != nil {
		return store.Card{}, s.d.MapError(fmt.Errorf("reading card: %w", err))
	}
	if len(cards) == 0 {
		return store.Card{}, store.ErrNotFound
	}
	return cards[0], nil
}

// GetCardByEmail implements store.Store.
func (s *DB) GetCardByEmail(ctx context.Context, tenant, emailNorm string) (store.Card, error) {
	cards, err := queryCards(ctx, s.reads(), `SELECT `+cardColumns+` FROM cards WHERE `+s.d.notIndexed("tenant")+` = $1 AND email_norm = $2 AND email_norm <> ''`, tenant, emailNorm)
	if err != nil {
		return store.Card{}, s.d.MapError(fmt.Errorf("reading card: %w", err))
	}
	if len(cards) == 0 {
		return store.Card{}, store.ErrNotFound
	}
	return cards[0], nil
}

// likeEscape escapes LIKE's wildcards with a backslash.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// pendingApprovalSQL selects the cards that wait for approval: disabled,
// not pinned, approval pending (directory.StatusOf's rule).
const pendingApprovalSQL = `(NOT enabled AND approval_state = 'pending' AND pin_actor IS NULL)`

// ---- claims

// claimColumns are what scanClaim reads, in its order. login_norm is
// derived from login and not read back.
const claimColumns = `card_id, tenant, source, external_id, email, state, authoritative, attrs_json, run_id, actor, first_seen, last_seen, state_since, login, raw_json`

func scanClaim(sc scanner) (store.Claim, error) {
	var x claimScan
	if err := sc.Scan(x.dest()...); err != nil {
		return x.c, err
	}
	return x.finish()
}

// claimScan holds one row of claimColumns, as cardScan does of a card.
type claimScan struct {
	c                              store.Claim
	attrs, state                   string
	firstSeen, lastSeen, stateSine sql.NullInt64
	raw                            sql.NullString
}

func (x *claimScan) dest() []any {
	c := &x.c
	return []any{&c.CardID, &c.Tenant, &c.Source, &c.ExternalID, &c.Email, &x.state, &c.Authoritative, &x.attrs, &c.RunID, &c.Actor,
		&x.firstSeen, &x.lastSeen, &x.stateSine, &c.Login, &x.raw}
}

func (x *claimScan) finish() (store.Claim, error) {
	c := x.c
	c.State = store.ClaimState(x.state)
	if err := json.Unmarshal([]byte(x.attrs), &c.Attributes); err != nil {
		return c, fmt.Errorf("claim %s/%s: attributes: %w", c.CardID, c.Source, err)
	}
	c.FirstSeen, c.LastSeen, c.StateSince = fromMicros(x.firstSeen), fromMicros(x.lastSeen), fromMicros(x.stateSine)
	c.Raw = rawBytes(x.raw)
	return c, nil
}

// claimArgs returns a claim's values in claimsTable's column order.
func claimArgs(c *store.Claim) ([]any, error) {
	attrs, err := json.Marshal(c.Attributes)
	if err != nil {
		return nil, err
	}
	raw, err := rawArg(c.Raw)
	if err != nil {
		return nil, fmt.Errorf("claim %s/%s: %w", c.CardID, c.Source, err)
	}
	return []any{c.CardID, c.Tenant, c.Source, c.ExternalID, c.Email, string(c.State), c.Authoritative, string(attrs), c.RunID, c.Actor,
		micros(c.FirstSeen), micros(c.LastSeen), micros(c.StateSince), c.Login, strings.ToLower(c.Login), raw}, nil
}

// rawArg stores a raw record: nil (or empty) as NULL, anything else only
// if it is JSON, since filters parse it and one bad record would break
// every query of its source.
func rawArg(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, errors.New("raw record is not valid JSON")
	}
	if hasNULEscape(raw) {
		// PostgreSQL's jsonb refuses \u0000; keep both backends alike.
		return nil, errors.New(`raw record holds a \u0000 escape`)
	}
	return string(raw), nil
}

// hasNULEscape reports whether valid JSON text escapes the NUL character:
// a \u0000 whose backslash is not itself escaped.
func hasNULEscape(raw []byte) bool {
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`u0000`))
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && raw[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = j + 1
	}
}

func rawBytes(s sql.NullString) []byte {
	if !s.Valid {
		return nil
	}
	return []byte(s.String)
}

func queryClaims(ctx context.Context, q queryer, query string, args ...any) ([]store.Claim, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var claims []store.Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		claims = append(claims, c)
	}
	return claims, rows.Err()
}

// ListClaims implements store.Store.
func (s *DB) ListClaims(ctx context.Context, tenant, cardID string) ([]store.Claim, error) {
	claims, err := queryClaims(ctx, s.reads(), `SELECT `+claimColumns+` FROM claims WHERE `+s.d.notIndexed("tenant")+` = $1 AND card_id = $2 ORDER BY source`, tenant, cardID)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing claims: %w", err))
	}
	return claims, nil
}

// ---- audit, events, outbox

// ListAudit implements store.Store.
func (s *DB) ListAudit(ctx context.Context, tenant, cardID string, afterID int64, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	return s.listAudit(ctx, `SELECT id, tenant, card_id, at, actor, source, action, run_id, before_json, after_json, detail
		FROM audit_events WHERE tenant = $1 AND card_id = $2 AND id > $3 ORDER BY id LIMIT $4`, tenant, cardID, afterID, limit)
}

// ListTenantAudit implements store.Store.
func (s *DB) ListTenantAudit(ctx context.Context, tenant string, afterID int64, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	return s.listAudit(ctx, `SELECT id, tenant, card_id, at, actor, source, action, run_id, before_json, after_json, detail
		FROM audit_events WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, afterID, limit)
}

func (s *DB) listAudit(ctx context.Context, query string, args ...any) ([]store.AuditEvent, error) {
	rows, err := s.queryContext(ctx, query, args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing audit events: %w", err))
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var (
			e             store.AuditEvent
			at            sql.NullInt64
			before, after sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.Tenant, &e.CardID, &at, &e.Actor, &e.Source, &e.Action, &e.RunID, &before, &after, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		if before.Valid {
			e.Before = []byte(before.String)
		}
		if after.Valid {
			e.After = []byte(after.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListEvents implements store.Store.
func (s *DB) ListEvents(ctx context.Context, tenant string, afterID int64, limit int) ([]store.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.queryContext(ctx, `SELECT id, tenant, card_id, type, at, actor, source, data
		FROM events WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, afterID, limit)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing events: %w", err))
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e    store.Event
			at   sql.NullInt64
			data string
		)
		if err := rows.Scan(&e.ID, &e.Tenant, &e.CardID, &e.Type, &at, &e.Actor, &e.Source, &data); err != nil {
			return nil, err
		}
		e.At, e.Data = fromMicros(at), []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListOutbox implements store.Store.
func (s *DB) ListOutbox(ctx context.Context, tenant string, afterID int64, limit int) ([]store.OutboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.queryContext(ctx, `SELECT id, tenant, card_id, kind, payload, created_at
		FROM outbox WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, afterID, limit)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing outbox: %w", err))
	}
	defer rows.Close()
	var out []store.OutboxMessage
	for rows.Next() {
		var (
			m       store.OutboxMessage
			created sql.NullInt64
			payload string
		)
		if err := rows.Scan(&m.ID, &m.Tenant, &m.CardID, &m.Kind, &payload, &created); err != nil {
			return nil, err
		}
		m.Created, m.Payload = fromMicros(created), []byte(payload)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ---- credentials

// PutCredential implements store.Store.
func (s *DB) PutCredential(ctx context.Context, c store.Credential) error {
	_, err := s.SQL.ExecContext(ctx, `INSERT INTO credentials (id, kind, tenant, name, hash, read_only, origin, created_at, scopes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.ID, c.Kind, c.Tenant, c.Name, c.Hash, c.ReadOnly, c.Origin, micros(c.Created), strings.Join(c.Scopes, " "))
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing credential %q: %w", c.Name, err))
	}
	return nil
}

// FindCredential implements store.Store. The lookup is by hash: the database
// holds no usable secret, and an index lookup on a hash leaks nothing of
// the secret's bytes through timing.
func (s *DB) FindCredential(ctx context.Context, kind, hash string) (store.Credential, error) {
	c, err := scanCredential(s.queryRowContext(ctx, `SELECT `+credentialCols+`
		FROM credentials WHERE kind = $1 AND hash = $2`, kind, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, s.d.MapError(fmt.Errorf("reading credential: %w", err))
	}
	return c, nil
}

const credentialCols = `id, kind, tenant, name, hash, read_only, origin, created_at, scopes, last_used_at`

func scanCredential(sc scanner) (store.Credential, error) {
	var (
		c             store.Credential
		created, used sql.NullInt64
		scopes        string
	)
	err := sc.Scan(&c.ID, &c.Kind, &c.Tenant, &c.Name, &c.Hash, &c.ReadOnly, &c.Origin, &created, &scopes, &used)
	if scopes != "" {
		c.Scopes = strings.Fields(scopes)
	}
	c.Created, c.LastUsed = fromMicros(created), fromMicros(used)
	return c, err
}

// TouchCredential implements store.Store.
func (s *DB) TouchCredential(ctx context.Context, id string, at, notBefore time.Time) error {
	err := s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `UPDATE credentials SET last_used_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`, id, micros(at), notBefore.UnixMicro())
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("recording the use of credential %q: %w", id, err))
	}
	return nil
}

// ListCredentials implements store.Store.
func (s *DB) ListCredentials(ctx context.Context, kind string) ([]store.Credential, error) {
	rows, err := s.queryContext(ctx, `SELECT `+credentialCols+`
		FROM credentials WHERE kind = $1 ORDER BY created_at, id`, kind)
	out, err := collect(rows, err, scanCredential)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing credentials: %w", err))
	}
	return out, nil
}

// DeleteCredential implements store.Store.
func (s *DB) DeleteCredential(ctx context.Context, id string) error {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, `DELETE FROM credentials WHERE id = $1`, id)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("deleting credential: %w", err))
	}
	if n == 0 {
		return fmt.Errorf("credential %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// CountCredentials implements store.Store.
func (s *DB) CountCredentials(ctx context.Context, kind, tenant string) (int, error) {
	var n int
	err := s.queryRowContext(ctx, `SELECT count(*) FROM credentials WHERE kind = $1 AND tenant = $2`, kind, tenant).Scan(&n)
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("counting credentials: %w", err))
	}
	return n, nil
}

// ClaimsOfCards returns the claims of many cards, outside a transaction
// (a page of an export), keyed by card id.
func (s *DB) ClaimsOfCards(ctx context.Context, tenant string, cardIDs []string) (map[string][]store.Claim, error) {
	out := map[string][]store.Claim{}
	if len(cardIDs) == 0 {
		return out, nil
	}
	t := &tx{q: s.SQL, d: s.d}
	err := chunks(cardIDs, t.lookupChunk(1), func(part []string) error {
		in, args := t.in("card_id", part, tenant)
		claims, err := queryClaims(ctx, s.SQL, `SELECT `+claimColumns+` FROM claims WHERE `+s.d.notIndexed("tenant")+` = $1 AND `+in+` ORDER BY card_id, source`, args...)
		for _, c := range claims {
			out[c.CardID] = append(out[c.CardID], c)
		}
		return err
	})
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("reading claims: %w", err))
	}
	return out, nil
}

// CountCards implements store.Store without a pass over the tenant's
// cards: card_counts holds the counts by bucket, kept by triggers on cards
// (migration 00047), and the live invites are counted on their own small
// index; the expired ones are the rest of the invited.
func (s *DB) CountCards(ctx context.Context, tenant string, now time.Time) (store.CardCounts, error) {
	var c store.CardCounts
	rows, err := s.queryContext(ctx, `SELECT bucket, sum(n), count(*) FROM card_counts WHERE tenant = $1 GROUP BY bucket`, tenant)
	if err != nil {
		return c, s.d.MapError(fmt.Errorf("counting cards: %w", err))
	}
	defer rows.Close()
	invited, deltas := 0, 0
	for rows.Next() {
		var bucket string
		var n, parts int
		if err := rows.Scan(&bucket, &n, &parts); err != nil {
			return c, s.d.MapError(fmt.Errorf("counting cards: %w", err))
		}
		deltas += parts
		switch bucket {
		case "disabled":
			c.Disabled = n
		case "pending_approval":
			c.PendingApproval = n
		case "logged_in":
			c.LoggedIn = n
		case "never_invited":
			c.NeverInvited = n
		case "invited":
			invited = n
		default:
			return c, fmt.Errorf("counting cards: unknown bucket %q in card_counts", bucket)
		}
	}
	if err := rows.Err(); err != nil {
		return c, s.d.MapError(fmt.Errorf("counting cards: %w", err))
	}
	rows.Close()
	if invited > 0 {
		err := s.queryRowContext(ctx, `SELECT count(*) FROM cards WHERE tenant = $1
			AND enabled AND first_login_at IS NULL AND invite_sent_at IS NOT NULL AND invite_expires_at > $2`, tenant, now.UnixMicro()).Scan(&c.InviteLive)
		if err != nil {
			return c, s.d.MapError(fmt.Errorf("counting live invites: %w", err))
		}
		c.InviteExpired = invited - c.InviteLive
	}
	if deltas > maxCountDeltas && !s.d.OneWriter { // SQLite's rows are never deltas
		if err := s.compactCounts(ctx, tenant); err != nil {
			return c, err
		}
	}
	return c, nil
}

// maxCountDeltas is how many rows of one tenant card_counts may hold before
// CountCards replaces them by their sums. On PostgreSQL every statement
// that changes a bucket adds a row (SQLite's triggers upsert one row per
// bucket, five at most).
const maxCountDeltas = 500

// compactCounts replaces a tenant's card_counts rows by their sums, in one
// statement: rows that other transactions add meanwhile are not in its
// snapshot, so they stay; a second compaction at the same time skips the
// rows the first deleted.
func (s *DB) compactCounts(ctx context.Context, tenant string) error {
	_, err := s.SQL.ExecContext(ctx, `WITH gone AS (DELETE FROM card_counts WHERE tenant = $1 RETURNING bucket, n)
		INSERT INTO card_counts (tenant, bucket, n) SELECT $1, bucket, sum(n) FROM gone GROUP BY bucket`, tenant)
	if err != nil {
		return s.d.MapError(fmt.Errorf("compacting the card counts: %w", err))
	}
	return nil
}
