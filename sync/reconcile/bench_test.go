package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// benchRows is the roster size of the big benchmarks (BENCH_ROWS overrides).
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// rosterCSV generates an HR file of n people; people whose index is a
// multiple of changeEvery (when > 0) get another title.
func rosterCSV(n, changeEvery int) []byte {
	var b bytes.Buffer
	b.WriteString("Employee ID,First Name,Last Name,Work Email,Department,Office,Job Title,Manager Email,Status\n")
	for i := range n {
		title := "Engineer"
		if changeEvery > 0 && i%changeEvery == 0 {
			title = "Senior Engineer"
		}
		// Managed by the first of each ten; the first by the second (a
		// manager of oneself is refused since issue 15).
		manager := (i / 10) * 10
		if manager == i {
			manager = i + 1
		}
		fmt.Fprintf(&b, "%07d,Given%d,Family%d,user%07d@example.com,Dept%d,Office%d,%s,user%07d@example.com,active\n",
			i, i, i, i, i%50, i%20, title, manager)
	}
	return b.Bytes()
}

// peakRSS is the process's high-water resident memory, from /proc.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}

// BenchmarkFileFeed measures, on PostgreSQL (the production backend), the
// issue's numbers: a full apply of 100,000 new cards; then, with
// BENCH_ROWS (1,000,000) claims in place, parse + validate + plan of an
// unchanged file of that size, the raw encoding/csv read of it, and the
// run of a file with 1% of the people changed.
//
//	go test -run '^$' -bench FileFeed -benchtime 1x -timeout 60m ./sync/reconcile/
func BenchmarkFileFeed(b *testing.B) {
	ctx := context.Background()
	n := benchRows()
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenPostgres)
		policy := directory.DefaultPolicy()
		policy.Invite = "none"
		dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
		runner := &reconcile.Runner{Dir: dir, Store: st}
		var data []byte
		feed := reconcile.Feed{
			Source: reconcile.Source{Tenant: "acme", Name: "file:hr", Authoritative: true, Withdraw: true},
			Feed:   "hr", Kind: "file",
			Limits: reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: n, MinSnapshotRatio: 0},
			Fetch: func(context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
				snap, err := filefeed.Parse("employees.csv", data, filefeed.ParseOptions{Feed: "hr", Key: "employee_id"})
				return snap, nil, err
			},
		}

		// 1. A full apply of 100,000 new cards.
		data = rosterCSV(100_000, 0)
		b.StartTimer()
		start := time.Now()
		run, err := runner.Run(ctx, feed, reconcile.RunOptions{})
		full100k := time.Since(start)
		b.StopTimer()
		if err != nil || run.Counts["create"] != 100_000 {
			b.Fatalf("100k apply: %+v, %v", run.Counts, err)
		}
		b.ReportMetric(100_000/full100k.Seconds(), "cards/s(100k-apply)")

		// 2. Grow to n claims (not measured), then plan an unchanged file.
		data = rosterCSV(n, 0)
		if _, err := runner.Run(ctx, feed, reconcile.RunOptions{}); err != nil {
			b.Fatal(err)
		}
		// The plan's own peak: return freed memory to the OS and reset the
		// high-water mark before it (Linux: clear_refs 5).
		data = nil
		runtime.GC()
		debug.FreeOSMemory()
		data = rosterCSV(n, 0)
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		b.StartTimer()
		start = time.Now()
		snap, err := filefeed.Parse("employees.csv", data, filefeed.ParseOptions{Feed: "hr", Key: "employee_id"})
		if err != nil {
			b.Fatal(err)
		}
		// As the feed's Fetch does: the file's bytes are dropped once parsed
		// (the plan holds the snapshot, not the file).
		size := len(data)
		data = nil
		parsed := time.Since(start)
		parsePeak := peakRSS()
		plan, err := reconcile.MakePlan(ctx, dir, st, feed.Source, snap)
		planned := time.Since(start)
		planPeak := peakRSS()
		b.StopTimer()
		if err != nil || plan.Counts["unchanged"] != n {
			b.Fatalf("plan: %v, %v", plan.Counts, err)
		}
		// The source's claims streamed alone, for the split of the plan.
		claimsStart := time.Now()
		nClaims := 0
		if err := st.SourceClaims(ctx, "acme", "file:hr", func(store.Claim) error { nClaims++; return nil }); err != nil || nClaims != n {
			b.Fatalf("claims: %d, %v", nClaims, err)
		}
		claimsRead := time.Since(claimsStart)

		data = rosterCSV(n, 0) // the same bytes again, for the raw read
		rawStart := time.Now()
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		rows := 0
		for {
			if _, err := r.Read(); err != nil {
				break
			}
			rows++
		}
		raw := time.Since(rawStart)

		// 3. A file with 1% changed, run in full (plan and apply).
		data = rosterCSV(n, 100)
		start = time.Now()
		run, err = runner.Run(ctx, feed, reconcile.RunOptions{})
		onePct := time.Since(start)
		if err != nil || run.Counts["update"] != n/100 {
			b.Fatalf("1%% run: %+v, %v", run.Counts, err)
		}
		// The full run of the same size, for the ratio: every person changed.
		data = rosterCSV(n, 1)
		start = time.Now()
		if _, err := runner.Run(ctx, feed, reconcile.RunOptions{}); err != nil {
			b.Fatal(err)
		}
		fullRun := time.Since(start)

		b.ReportMetric(parsed.Seconds(), "s(parse)")
		b.ReportMetric(claimsRead.Seconds(), "s(claims-read)")
		b.ReportMetric(planned.Seconds(), "s(parse+plan)")
		b.ReportMetric(raw.Seconds(), "s(encoding/csv)")
		b.ReportMetric(planned.Seconds()/raw.Seconds(), "x(plan/csv)")
		b.ReportMetric(onePct.Seconds(), "s(1%-run)")
		b.ReportMetric(fullRun.Seconds(), "s(full-run)")
		b.ReportMetric(100*onePct.Seconds()/fullRun.Seconds(), "%(1%/full)")
		b.Logf("peak RSS by the end of the parse %s", parsePeak)
		b.Logf("rows %d; peak RSS during parse+plan %s (including the %d-byte file while it is parsed); peak RSS of the whole benchmark %s", rows, planPeak, size, peakRSS())
	}
}

// BenchmarkMakePlanCreates is the plan half of the LDAP benchmark on its
// own: MakePlan of 100,000 new people against an empty SQLite store, each
// previewed by the directory (BENCHMARKS.md, LDAP):
//
//	go test ./sync/reconcile -run '^$' -bench MakePlanCreates -benchtime 5x -benchmem
func BenchmarkMakePlanCreates(b *testing.B) {
	ctx := context.Background()
	st := storetest.Migrated(b, storetest.OpenSQLite)
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
	snap, err := filefeed.Parse("employees.csv", rosterCSV(100_000, 0), filefeed.ParseOptions{Feed: "hr", Key: "employee_id"})
	if err != nil {
		b.Fatal(err)
	}
	src := reconcile.Source{Tenant: "acme", Name: "file:hr", Authoritative: true, Withdraw: true}
	b.ResetTimer()
	for range b.N {
		p, err := reconcile.MakePlan(ctx, dir, st, src, snap)
		if err != nil || p.Counts["create"] != 100_000 || p.Counts["enable"] != 100_000 {
			b.Fatal(err, p.Counts)
		}
	}
}
