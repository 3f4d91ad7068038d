package sqlite

import (
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite backend.
type Store struct {
	*sqlstore.DB
	Path string
}

var _ store.Backend = (*Store)(nil)

// Open opens (creating if need be) the SQLite database at path, a file name
// or a "file:" URI. It does not migrate: call Migrate or CheckSchema.
//
// Every connection runs in WAL mode with a busy timeout, and transactions
// begin IMMEDIATE: a writer takes the write lock at BEGIN rather than
// failing with SQLITE_BUSY when it first writes after reading.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	file := strings.TrimPrefix(path, "file:")
	if i := strings.IndexByte(file, '?'); i >= 0 {
		file = file[:i]
	}
	if file != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: creating directory for %s: %w", file, err)
		}
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	// wal_autocheckpoint: the WAL is copied into the database once it
	// holds 8,000 pages (32 MB), not SQLite's 1,000: a bulk write's index
	// pages are dirtied again by every batch, and each checkpoint wrote
	// them out anew (7 % of a 50,000-row import's CPU, BENCHMARKS.md).
	dsn := path + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" +
		"&_pragma=wal_autocheckpoint(8000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", file, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	s := &Store{
		DB: sqlstore.New(db, sqlstore.Dialect{
			Goose:      goose.DialectSQLite3,
			Migrations: sub,
			// modernc binds $N parameters by name, a linear search per
			// parameter, so statements of tens of thousands of them cost
			// seconds; bulk writes, the only statements cut to this limit,
			// bind anonymous ? by position (47ca6fa), where 8,000 (about
			// 300 cards per INSERT, against 37 at SQLite's classic 999)
			// spends ~4 % less CPU on an import.
			MaxParams:       8000,
			MapError:        mapError,
			OneWriter:       true,
			CacheStatements: true,
		}),
		Path: file,
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", file, err)
	}
	return s, nil
}

func mapError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_SNAPSHOT, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}
