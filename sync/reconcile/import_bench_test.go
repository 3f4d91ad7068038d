package reconcile_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant"
)

// importRows is the size of BenchmarkImportSQLite (BENCH_IMPORT_ROWS
// overrides: 1000000 for the second figure).
func importRows() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_IMPORT_ROWS")); err == nil && n > 0 {
		return n
	}
	return 50_000
}

// importCSV is an admin's import file of n new people, 7 columns.
func importCSV(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 110)
	b.WriteString("Email,First Name,Last Name,Job Title,Department,Office,Phone\n")
	depts := []string{"Sales", "Engineering", "Finance", "People", "Support"}
	for i := range n {
		fmt.Fprintf(&b, "person.%07d@example.com,First%d,Last%d,Specialist,%s,Building %d,+1 555 %07d\n",
			i, i, i, depts[i%len(depts)], i%40, i)
	}
	return b.Bytes()
}

// csvRows splits data with encoding/csv, for the floors (header dropped).
func csvRows(b testing.TB, data []byte) [][]string {
	r := csv.NewReader(bytes.NewReader(data))
	rows, err := r.ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	return rows[1:]
}

// vmHWM is the process's peak resident memory in bytes (/proc VmHWM).
func vmHWM() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuTime is the process's user + system CPU time so far: SQLite
// (modernc) runs in the process, so on SQLite this is the import's whole
// cost, whatever else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImportSQLite is `rosterd import FILE --tenant default` into a
// new embedded default: a fresh, migrated SQLite file store, the file read
// from disk, and admin.API.Import over the directory and the Runner
// (parse, plan with the directory's preview, apply, the stored run), as
// importCommand wires them. The raw floor, measured in the same iteration on the same disk:
// SQLite (the same driver and pragmas) inserting the same rows into one
// table, one transaction, one prepared INSERT. Peak RSS is the import's:
// the high-water mark is reset before it (Linux clear_refs 5).
//
//	go test -run '^$' -bench ImportSQLite -benchtime 1x ./sync/reconcile/
//	BENCH_IMPORT_ROWS=1000000 go test -run '^$' -bench ImportSQLite -benchtime 1x -timeout 30m ./sync/reconcile/
func BenchmarkImportSQLite(b *testing.B) {
	ctx := context.Background()
	n := importRows()
	path := filepath.Join(b.TempDir(), "people.csv")
	if err := os.WriteFile(path, importCSV(n), 0o600); err != nil {
		b.Fatal(err)
	}
	var imp, impCPU, floor, floorCPU time.Duration
	var peak float64
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenSQLite)
		dir := directory.NewService(st, map[string]directory.Policy{"default": directory.DefaultPolicy()})
		runner := &reconcile.Runner{Dir: dir, Store: st}
		tenants := defaultTenant{tenant.FromConfig(&config.Default().Tenants[0])}
		api := admin.New(nil, tenants, slog.New(slog.DiscardHandler), prometheus.NewRegistry()).
			With(admin.Services{Directory: dir, Store: st, Runner: runner})
		runtime.GC()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		b.StartTimer()
		c0, start := cpuTime(), time.Now()
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		body, err := api.Import(ctx, "default", "cli", admin.ImportInput{Name: filepath.Base(path), Data: data, Interruptible: true})
		imp += time.Since(start)
		impCPU += cpuTime() - c0
		b.StopTimer()
		peak = max(peak, vmHWM())
		if err != nil || body.Failed() || body.Counts["create"] != n || body.Status != store.RunApplied {
			b.Fatalf("import: %s %+v, %v, %v", body.Status, body.Counts, err, body.Failure)
		}
		d, dc := sqliteFloor(b, csvRows(b, importCSV(n)))
		floor += d
		floorCPU += dc
	}
	N := float64(b.N)
	b.ReportMetric(imp.Seconds()/N, "s(import)")
	b.ReportMetric(impCPU.Seconds()/N, "cpu-s(import)")
	b.ReportMetric(float64(n)*N/imp.Seconds(), "rows/s(import)")
	b.ReportMetric(floor.Seconds()/N, "s(floor)")
	b.ReportMetric(floorCPU.Seconds()/N, "cpu-s(floor)")
	b.ReportMetric(imp.Seconds()/floor.Seconds(), "x(import/floor)")
	b.ReportMetric(impCPU.Seconds()/floorCPU.Seconds(), "x(cpu-import/floor)")
	b.ReportMetric(peak/(1<<20), "MiB(peak-RSS)")
}

// sqliteFloor inserts rows into one table of a new SQLite file with the
// store's driver and pragmas: one transaction, one prepared statement.
func sqliteFloor(b testing.TB, rows [][]string) (time.Duration, time.Duration) {
	dsn := filepath.Join(b.TempDir(), "floor.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, given TEXT, family TEXT, title TEXT, department TEXT, office TEXT, phone TEXT)`); err != nil {
		b.Fatal(err)
	}
	c0, start := cpuTime(), time.Now()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO people (email, given, family, title, department, office, phone) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		if _, err := ins.Exec(r[0], r[1], r[2], r[3], r[4], r[5], r[6]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), cpuTime() - c0
}

// BenchmarkFileApplyPostgres is a file feed's full apply of 100,000 new
// cards on PostgreSQL (run it with PGTEST_DURABLE=1 for fsync on): parse,
// plan, apply through the Runner, as BenchmarkFileFeed's first step. The
// raw floor in the same iteration: pgx CopyFrom of the same rows into one
// table of a new database on the same cluster.
//
//	PGTEST_DURABLE=1 go test -run '^$' -bench FileApplyPostgres -benchtime 1x ./sync/reconcile/
func BenchmarkFileApplyPostgres(b *testing.B) {
	ctx := context.Background()
	const n = 100_000
	data := rosterCSV(n, 0)
	var apply, floor time.Duration
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenPostgres)
		policy := directory.DefaultPolicy()
		policy.Invite = "none"
		dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
		runner := &reconcile.Runner{Dir: dir, Store: st}
		feed := reconcile.Feed{
			Source: reconcile.Source{Tenant: "acme", Name: "file:hr", Authoritative: true, Withdraw: true},
			Feed:   "hr", Kind: "file",
			Limits: reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: n},
			Fetch: func(context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
				snap, err := filefeed.Parse("employees.csv", data, filefeed.ParseOptions{Feed: "hr", Key: "employee_id"})
				return snap, nil, err
			},
		}
		b.StartTimer()
		start := time.Now()
		run, err := runner.Run(ctx, feed, reconcile.RunOptions{})
		apply += time.Since(start)
		b.StopTimer()
		if err != nil || run.Counts["create"] != n {
			b.Fatalf("apply: %+v, %v", run.Counts, err)
		}
		floor += copyFloor(b, csvRows(b, data))
	}
	N := float64(b.N)
	b.ReportMetric(n*N/apply.Seconds(), "cards/s(apply)")
	b.ReportMetric(n*N/floor.Seconds(), "rows/s(COPY)")
	b.ReportMetric(floor.Seconds()/N, "s(COPY)")
	b.ReportMetric(apply.Seconds()/floor.Seconds(), "x(apply/COPY)")
	b.Logf("durable (fsync on): %v", pgtest.Durable())
}

// copyFloor copies rows into one table of a new database with pgx
// CopyFrom (one COPY, its own transaction).
func copyFloor(b testing.TB, rows [][]string) time.Duration {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE people (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, employee_id text NOT NULL UNIQUE,
		given text, family text, email text, department text, office text, title text, manager text, status text)`); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		return []any{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]}, nil
	})
	got, err := conn.CopyFrom(ctx, pgx.Identifier{"people"}, []string{"employee_id", "given", "family", "email", "department", "office", "title", "manager", "status"}, src)
	if err != nil || got != int64(len(rows)) {
		b.Fatalf("copy: %d, %v", got, err)
	}
	return time.Since(start)
}

// defaultTenant is the embedded default's one tenant, as the admin API
// looks tenants up.
type defaultTenant struct{ t *tenant.Tenant }

func (d defaultTenant) Get(_ context.Context, id string) (*tenant.Tenant, error) {
	if id != d.t.ID() {
		return nil, store.ErrNotFound
	}
	return d.t, nil
}

func (d defaultTenant) List() []*tenant.Tenant { return []*tenant.Tenant{d.t} }
