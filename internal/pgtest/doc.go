// Package pgtest gives tests and benchmarks a real PostgreSQL: one
// throwaway cluster per test binary, started lazily from the installed
// binaries (initdb + postgres, found on PATH or in /usr/lib/postgresql/*/bin;
// tested with PostgreSQL 15, needs 13+), and a fresh, empty database for
// each DSN call.
//
// Usage:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) } // required: stops the cluster, removes its files
//	pool, err := pgxpool.New(ctx, pgtest.DSN(t))            // or sql.Open("pgx", pgtest.DSN(t)), pgx.Connect
//	defer pool.Close()                                        // the database itself is dropped in t.Cleanup
//
// What a caller should know:
//
//   - The cluster listens only on a Unix socket (no TCP) in a short temp
//     directory, /dev/shm/pgNNN when /dev/shm is a tmpfs with >= 1 GiB free,
//     else /tmp/pgNNN. The DSN is a URL, postgres://postgres@/DB?host=…&port=…,
//     for the superuser "postgres" with trust auth, which pgx, pgxpool,
//     database/sql with pgx's stdlib driver, and psql all accept.
//   - It runs with fsync=off, synchronous_commit=off, full_page_writes=off
//     and max_connections=200: fast, and not durable. Do not measure commit
//     latency or crash safety with it.
//   - Each DSN call runs CREATE DATABASE … TEMPLATE template0 (STRATEGY
//     file_copy on 15+): a few ms. Nothing is copied from template1, so
//     extensions or objects a test wants must be created by the test (or by
//     its migrations) in its own database. DSN is safe to call from parallel
//     tests; names are t<N>_<test name>, unique within the test binary.
//   - t.Cleanup drops the database WITH (FORCE), which ends any connection
//     the test left open; close pools in a Cleanup registered after DSN, or
//     with defer, to avoid "terminating connection" noise in logs.
//   - When run as root, initdb and postgres run as the "postgres" OS user
//     (initdb refuses root); otherwise as the current user.
//   - Missing binaries or a cluster that will not start are reported through
//     testenv.Unavailable (with the initdb/postgres log tail): a skip on a
//     developer's machine, a failure under CI=true.
//   - postgres is started with Pdeathsig=SIGKILL, so a test binary that
//     crashes or is killed takes it along; the files it leaves are removed
//     by the next test binary that starts a cluster.
package pgtest
