package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
)

// OpenSQLite opens a fresh SQLite store in a temp dir; not migrated.
func OpenSQLite(t testing.TB) store.Backend {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a store on a fresh database of the test binary's
// throwaway PostgreSQL cluster (the package's TestMain must call
// pgtest.Main); not migrated.
func OpenPostgres(t testing.TB) store.Backend {
	t.Helper()
	s, err := postgres.Open(pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Backends names each backend's opener, for tests that run on both.
var Backends = []struct {
	Name string
	Open func(testing.TB) store.Backend
}{
	{"sqlite", OpenSQLite},
	{"postgres", OpenPostgres},
}

// ForEachBackend runs fn as a subtest per backend, each with a fresh,
// migrated store.
func ForEachBackend(t *testing.T, fn func(t *testing.T, s store.Backend)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Migrated(t, b.Open))
		})
	}
}

// Migrated opens a store with open and migrates it.
func Migrated(t testing.TB, open func(testing.TB) store.Backend) store.Backend {
	t.Helper()
	s := open(t)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// OutboxOf is every outbox message of one card, oldest first.
func OutboxOf(t testing.TB, s store.Store, tenant, cardID string) []store.OutboxMessage {
	t.Helper()
	var out []store.OutboxMessage
	for after := int64(0); ; {
		page, err := s.ListOutbox(context.Background(), tenant, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			if m.CardID == cardID {
				out = append(out, m)
			}
		}
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// SQL is the backend's database handle, for tests that read raw rows (a
// dump must not hold a secret in the clear).
func SQL(s store.Backend) *sql.DB {
	switch s := s.(type) {
	case *sqlite.Store:
		return s.SQL
	case *postgres.Store:
		return s.SQL
	}
	panic(fmt.Sprintf("storetest.SQL: no handle for %T", s))
}
