package postgres

import (
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL backend.
type Store struct {
	*sqlstore.DB
	// connConfig opens Listen's own connection.
	connConfig *pgx.ConnConfig
}

var _ store.Backend = (*Store)(nil)

// Options tunes the connection pool.
type Options struct {
	// MaxConns bounds the pool; 0 means 20.
	MaxConns int
}

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword/value string). It does not migrate: call Migrate or CheckSchema.
func Open(dsn string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: say less.
		return nil, errors.New("postgres: the store DSN cannot be parsed")
	}
	// pgx prepares each statement once per connection, and PostgreSQL
	// switches a prepared statement to a cached generic plan after five
	// runs. Planning is most of what a small statement costs (54 % of the
	// server's CPU on a SCIM GET, 74 % on a filtered list), so rosterd
	// keeps the cache. The danger of cached plans is a plan made while the
	// tables were nearly empty (a fresh install, the first minutes of a big
	// import, before autovacuum analyzes them): a scan of the whole table
	// for a lookup by email, cached while the table grows — single applies
	// were measured 40 % slower and slowing with every card. Every query of
	// the store has an index to go by, so sequential scans are turned off:
	// no plan, cached or not, scans a table when an index can serve, and a
	// query no index serves still runs (as a scan). SCIM at 100,000 users:
	// GET 3,202 → 4,314/s, filtered list 1,661 → 4,061/s, PATCH 786 →
	// 1,060/s (BENCHMARKS.md). A DSN may still set either parameter.
	if _, set := cfg.RuntimeParams["enable_seqscan"]; !set {
		cfg.RuntimeParams["enable_seqscan"] = "off"
	}
	db := stdlib.OpenDB(*cfg)
	n := opts.MaxConns
	if n <= 0 {
		n = 20
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Several replicas may start at once: one migrates, the others wait on
	// this advisory lock and then find nothing to do.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return &Store{connConfig: cfg, DB: sqlstore.New(db, sqlstore.Dialect{
		Goose:         goose.DialectPostgres,
		Migrations:    sub,
		ForUpdate:     " FOR UPDATE",
		MaxParams:     65535,
		MapError:      mapError,
		Arrays:        true,
		ArrayColumn:   bindColumn,
		AdvisoryLocks: true,
		SessionLocker: locker,
		Notify:        true,
	})}, nil
}

// Pool returns the underlying pool, for Postgres-only work such as advisory locks.
func (s *Store) Pool() *sql.DB { return s.SQL }

func mapError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}
