package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/rosterd/rosterd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx.Connect(%q): %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDatabasesAreIndependent(t *testing.T) {
	ctx := context.Background()
	dsnA, dsnB := pgtest.DSN(t), pgtest.DSN(t)
	if dsnA == dsnB {
		t.Fatalf("two DSN calls returned the same DSN %q", dsnA)
	}
	a, b := connect(t, dsnA), connect(t, dsnB)

	var nameA, nameB string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	if nameA == nameB {
		t.Fatalf("both DSNs point at database %q", nameA)
	}

	// Empty: no user tables.
	var n int
	if err := a.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("new database %s has %d user tables, want 0", nameA, n)
	}

	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int PRIMARY KEY); INSERT INTO only_in_a VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var reg *string
	if err := a.QueryRow(ctx, "SELECT to_regclass('only_in_a')::text").Scan(&reg); err != nil || reg == nil {
		t.Fatalf("table missing in its own database: %v %v", reg, err)
	}
	if err := b.QueryRow(ctx, "SELECT to_regclass('only_in_a')::text").Scan(&reg); err != nil {
		t.Fatal(err)
	}
	if reg != nil {
		t.Fatalf("table created in %s is visible in %s", nameA, nameB)
	}
	_, err := b.Exec(ctx, "SELECT * FROM only_in_a")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table
		t.Fatalf("querying A's table from B: err = %v, want undefined_table", err)
	}
}

func TestDSNWithDatabaseSQL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO kv VALUES ($1, $2)", "a", 42); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = $1", "a").Scan(&v); err != nil || v != 42 {
		t.Fatalf("got %d, %v; want 42", v, err)
	}
}

func TestDSNWithPgxpool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	// Use several pooled connections at once.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := pool.Exec(ctx, "INSERT INTO kv VALUES ($1, $2)", string(rune('a'+i)), i)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 8 {
		t.Fatalf("count = %d, %v; want 8", n, err)
	}
}

func TestDSNShape(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg, err := pgconn.ParseConfig(dsn) // what pgx, pgxpool and stdlib all parse with
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", dsn, err)
	}
	if cfg.Host == "" || cfg.Host[0] != '/' {
		t.Errorf("host = %q, want a Unix socket directory", cfg.Host)
	}
	if len(cfg.Host)+len("/.s.PGSQL.65535") > 107 {
		t.Errorf("socket path under %q is too long for a Unix socket", cfg.Host)
	}
	if cfg.User != "postgres" || cfg.Database == "" {
		t.Errorf("user=%q database=%q", cfg.User, cfg.Database)
	}
	t.Logf("DSN: %s", dsn)
}

func TestDroppedOnCleanup(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		conn := connect(t, pgtest.DSN(t))
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// Leave a second connection open on purpose: DROP ... WITH (FORCE) must cope.
		leaked, err := pgx.Connect(ctx, conn.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		_ = leaked
	})
	admin := connect(t, pgtest.DSN(t))
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test's cleanup", name)
	}
}

func TestParallelDSN(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				conn := connect(t, pgtest.DSN(t))
				var db string
				if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				dup := seen[db]
				seen[db] = true
				mu.Unlock()
				if dup {
					t.Errorf("database %s handed out twice", db)
				}
			})
		}
	})
	if len(seen) != n {
		t.Fatalf("got %d distinct databases from %d parallel DSN calls, want %d", len(seen), n, n)
	}
}

// BenchmarkDSN is what a DSN call costs once the cluster runs: a fresh
// database (CREATE DATABASE; they are dropped when the benchmark ends).
// It measures and asserts nothing, so it is a benchmark, not a test:
//
//	go test -run '^$' -bench DSN ./internal/pgtest/
func BenchmarkDSN(b *testing.B) {
	pgtest.DSN(b) // the cluster is started outside the timing
	for b.Loop() {
		pgtest.DSN(b)
	}
}
