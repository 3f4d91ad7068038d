package ldapfeed

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/ldaptest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// BenchmarkPlan100k is the benchmark of BENCHMARKS.md "LDAP (issue 6)":
// 100,000 entries in a real slapd; the time and peak memory of a dry-run
// plan (fetch + diff against an empty SQLite store: 100,000 creates), and
// ldapsearch paging the same entries with the same attributes, page size
// and StartTLS on the same server. One iteration is the whole measurement
// (slapadd of 100,000 entries comes first, outside it): five rounds of one
// ldapsearch and one plan, interleaved so that both see the machine alike;
// the ratio is of the medians (and of the bests). A dry run applies
// nothing, so every round plans the same 100,000 creates. Each plan starts
// with the heap given back to the operating system, as a daemon's
// scheduled run finds it once the runtime's scavenger has returned what
// the last run used; the first round is also a feed's first read (no size
// to go by).
//
//	go test ./sync/ldapfeed -run '^$' -bench Plan100k -benchtime 1x -v
func BenchmarkPlan100k(t *testing.B) {
	const n, rounds = 100000, 5
	ldapsearch := testenv.LookPath(t, "ldapsearch", "apt-get install ldap-utils")
	start := time.Now()
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, n, nil) }})
	t.Logf("slapadd + start of %d entries: %v", n, time.Since(start).Round(time.Millisecond))

	mp, _ := newMapping(false, nil)
	args := append([]string{"-x", "-ZZ", "-H", s.URL, "-D", s.ReaderDN, "-w", s.ReaderPassword, "-b", ldaptest.People,
		"-LLL", "-E", "pr=500/noprompt", "(objectClass=inetOrgPerson)"}, mp.requested()...)
	search := func() time.Duration {
		cmd := exec.Command(ldapsearch, args...)
		cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile)
		out, err := os.Create(t.TempDir() + "/out.ldif")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = out
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("ldapsearch: %v: %s", err, stderr.String())
		}
		d := time.Since(t0)
		out.Close()
		data, _ := os.ReadFile(out.Name())
		dns := bytes.Count(data, []byte("\ndn: "))
		if bytes.HasPrefix(data, []byte("dn: ")) {
			dns++
		}
		if dns != n {
			t.Fatalf("ldapsearch read %d entries", dns)
		}
		return d
	}

	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newRunEnv(t, st, s)
	pages := 0
	e.opts.onPage = func(p, _ int) { pages = p }
	t.ResetTimer()
	var searches, plans []time.Duration
	for i := range rounds {
		d := search()
		searches = append(searches, d)

		runtime.GC()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
		stop := samplePeakHeap()
		t0 := time.Now()
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{DryRun: true, Trigger: "manual"})
		plan := time.Since(t0)
		heap := stop()
		if err != nil || run.Status != store.RunPlanned || run.Counts["create"] != n || pages != n/500 {
			t.Fatalf("plan: %+v, %d pages, %v", run.Counts, pages, err)
		}
		plans = append(plans, plan)
		t.Logf("round %d: ldapsearch %v; plan %v = %.2f×; peak Go heap in use %.0f MiB; VmHWM %s",
			i+1, d.Round(time.Millisecond), plan.Round(time.Millisecond), float64(plan)/float64(d), float64(heap)/(1<<20), vmHWM())
	}

	// Fetch alone, for the split.
	runtime.GC()
	t0 := time.Now()
	snap, err := e.opts.fetch(ctx)
	if err != nil || len(snap.Records) != n {
		t.Fatalf("fetch: %d records, %v", len(snap.Records), err)
	}
	fetch := time.Since(t0)

	med := func(ds []time.Duration) time.Duration { ds = slices.Clone(ds); slices.Sort(ds); return ds[len(ds)/2] }
	ratio, best := float64(med(plans))/float64(med(searches)), float64(slices.Min(plans))/float64(slices.Min(searches))
	t.ReportMetric(ratio, "x-ldapsearch(median)")
	t.ReportMetric(best, "x-ldapsearch(best)")
	t.ReportMetric(med(plans).Seconds(), "s(plan-median)")
	t.Logf("RESULT: medians of %d rounds: ldapsearch %v, plan %v = %.2f× ldapsearch (bests %v, %v = %.2f×; first round %.2f×); fetch alone %v = %.2f× the median ldapsearch; load average %s",
		rounds, med(searches).Round(time.Millisecond), med(plans).Round(time.Millisecond), ratio,
		slices.Min(searches).Round(time.Millisecond), slices.Min(plans).Round(time.Millisecond), best, float64(plans[0])/float64(searches[0]),
		fetch.Round(time.Millisecond), float64(fetch)/float64(med(searches)), loadavg())
}

// samplePeakHeap samples the Go heap in use every 20 ms until stop.
func samplePeakHeap() func() uint64 {
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
