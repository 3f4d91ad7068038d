package admin

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/benchseed"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkBulkDisableByFilter: POST …/cards/bulk disabling every card of
// a department (100,000 by default, BENCH_CARDS to change) on each
// backend, from the request to the job's end (selection, the dry run the
// safety brake needs, the batches, the job's record), reported as
// cards/s. In the same run, on the same rows, floor_cards/s is one raw
// UPDATE of every card of the tenant (what the database alone costs to
// touch them once, without audit lines or events), and x_floor the
// bulk's time over the floor's. go_cpu_us/card and pg_cpu_us/card are
// the CPU time this process and the PostgreSQL test cluster spent per
// card, allocs/card this process's allocations (the measures a loaded
// machine inflates least).
//
//	go test -run '^$' -bench BulkDisableByFilter -benchtime 1x -timeout 30m ./admin/
func BenchmarkBulkDisableByFilter(b *testing.B) {
	n := benchseed.Size(100_000)
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st := storetest.Migrated(b, be.Open)
				e := newEnv(&testing.T{}, st)
				benchseed.Cards(b, e.dir, "acme", n, func(i int) directory.Attributes {
					return directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "Closing"}
				})
				// acme's limits allow 1,000: confirm with the count.
				req := map[string]any{"action": "disable", "filter": map[string]string{"department": "closing"}, "confirm": n}
				b.StartTimer()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				start, cpu0 := time.Now(), readCPU()
				r := e.do("POST", acme+"/cards/bulk", rwKey, req)
				if r.Status != http.StatusAccepted && r.Status != http.StatusOK {
					b.Fatalf("bulk: %d %.300s", r.Status, r.Raw)
				}
				id := fmt.Sprint(r.Body["id"])
				for r.Body["status"] == "applying" {
					time.Sleep(20 * time.Millisecond)
					r = e.do("GET", acme+"/bulk/"+id, roKey, nil)
				}
				d, cpu := time.Since(start), readCPU().sub(cpu0)
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				if r.Body["status"] != "applied" || count(r, "changed") != float64(n) {
					b.Fatalf("job: %.300s", r.Raw)
				}
				floor := rawDisableFloor(b, st, n)
				b.ReportMetric(float64(n)/d.Seconds(), "cards/s")
				b.ReportMetric(float64(n)/floor.Seconds(), "floor_cards/s")
				b.ReportMetric(d.Seconds()/floor.Seconds(), "x_floor")
				// CPU time per card, which the machine's load does not
				// inflate as it does wall-clock time.
				b.ReportMetric(float64(cpu.self.Microseconds())/float64(n), "go_cpu_us/card")
				// Allocations per card: what the machine's load changes not at all.
				b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/card")
				if be.Name == "postgres" {
					b.ReportMetric(float64(cpu.postgres.Microseconds())/float64(n), "pg_cpu_us/card")
				}
			}
		})
	}
}

// rawDisableFloor times one UPDATE of every card of acme, the columns a
// disable changes, on the store's own connection pool.
func rawDisableFloor(b *testing.B, st store.Backend, n int) time.Duration {
	b.Helper()
	var db *sql.DB
	switch s := st.(type) {
	case *postgres.Store:
		db = s.SQL
	case *sqlite.Store:
		db = s.SQL
	default:
		b.Fatalf("no raw connection for %T", st)
	}
	start := time.Now()
	res, err := db.Exec(`UPDATE cards SET enabled = false, reason = 'floor', pin_actor = 'floor', pin_reason = '', pin_at = 1,
		updated_at = updated_at + 1, version = version + 1 WHERE tenant = 'acme'`)
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		b.Fatalf("floor updated %d cards, want %d", got, n)
	}
	return d
}

// cpuTimes is the CPU time (user + system) of this process and of the
// PostgreSQL processes it started (the test cluster's postmaster with the
// backends it reaped, and the live backends).
type cpuTimes struct{ self, postgres time.Duration }

func (c cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{c.self - o.self, c.postgres - o.postgres}
}

func readCPU() cpuTimes {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	c := cpuTimes{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	type proc struct {
		ppid          int
		comm          string
		own, children int64 // clock ticks
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17)
		line := string(raw)
		open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(line[close+1:])
		if len(f) < 15 {
			continue
		}
		num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		ppid, _ := strconv.Atoi(f[1])
		procs[pid] = proc{ppid: ppid, comm: line[open+1 : close], own: num(11) + num(12), children: num(13) + num(14)}
	}
	self := os.Getpid()
	descends := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid = procs[pid].ppid; pid == self {
				return true
			}
		}
		return false
	}
	var ticks int64
	for pid, p := range procs {
		if p.comm != "postgres" || !descends(pid) {
			continue
		}
		ticks += p.own
		if procs[p.ppid].comm != "postgres" { // the postmaster: its reaped backends too
			ticks += p.children
		}
	}
	c.postgres = time.Duration(ticks) * (time.Second / 100) // USER_HZ
	return c
}
