package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
)

// TestFeedScheduleOnTwoReplicas: a feed created through the API on
// replica A, then given a schedule of every second, is armed on both
// replicas and runs once per due second, on whichever replica claims it
// (two real daemons, one real PostgreSQL); deleted on B, it runs on
// neither any more.
func TestFeedScheduleOnTwoReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := replicaConfig(t, dsn)
	a := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	b := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	st, err := postgres.Open(dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	feedScheduleScenario(t, a, b, st)
}

// TestFeedScheduleOnSQLite: the same with the embedded store, where one
// process is the only replica.
func TestFeedScheduleOnSQLite(t *testing.T) {
	data := t.TempDir()
	a := startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", data, operatorKey))
	st, err := sqlite.Open(filepath.Join(data, "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	feedScheduleScenario(t, a, a, st)
}

// feedScheduleScenario: a feed made on a, seen and run on b, scheduled
// every second on a, runs once per due second on one of them; deleted on
// b, it runs no more.
func feedScheduleScenario(t *testing.T, a, b *daemonRun, st store.Store) {
	ctx := context.Background()

	drop := t.TempDir()
	if err := os.WriteFile(filepath.Join(drop, "people.csv"), []byte("email,given_name\nann@initech.test,Ann\nbob@initech.test,Bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant on A: %d %v", code, body)
	}
	// First without a schedule that comes due in the test.
	feed := fmt.Sprintf(`{"name": "hr", "kind": "file", "source": "dir://%s/*.csv", "stable_for": "0s", "archive": "", "schedule": "0 0 1 1 *"}`, drop)
	if code, body := call(t, "POST", a.base+"/api/v1/tenants/initech/feeds", operatorKey, feed); code != 201 {
		t.Fatalf("create the feed on A: %d %v", code, body)
	}
	within(t, 2*time.Second, "B knows the feed made on A", func() bool {
		code, _ := call(t, "GET", b.base+"/api/v1/tenants/initech/feeds/hr", operatorKey, "")
		return code == 200
	})
	// Run now, on B: the feed runs there with what A stored.
	if code, body := call(t, "POST", b.base+"/api/v1/tenants/initech/feeds/hr/runs", operatorKey, ""); code != 201 || body["status"] != "applied" {
		t.Fatalf("run the feed on B: %d %v", code, body)
	}

	scheduled := func() []store.Run {
		runs, err := st.ListRuns(ctx, store.RunQuery{Tenant: "initech", Feed: "hr", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var out []store.Run
		for _, r := range runs {
			if r.Trigger == "schedule" {
				out = append(out, r)
			}
		}
		return out
	}
	if n := len(scheduled()); n != 0 {
		t.Fatalf("%d scheduled runs before the schedule was due", n)
	}

	// The schedule changes on A: every second.
	if code, body := call(t, "PATCH", a.base+"/api/v1/tenants/initech/feeds/hr", operatorKey, `{"schedule": "@every 1s"}`); code != 200 {
		t.Fatalf("change the schedule on A: %d %v", code, body)
	}
	took := within(t, 5*time.Second, "a scheduled run", func() bool { return len(scheduled()) > 0 })
	t.Logf("first scheduled run %s after the change", took)
	const window = 5 * time.Second
	start := time.Now()
	time.Sleep(window)
	runs := scheduled()
	perSecond := map[int64]int{}
	inWindow := 0
	for _, r := range runs {
		if r.Status != store.RunSkipped && r.Status != store.RunApplied {
			t.Errorf("run %s: %s %s", r.ID, r.Status, r.Error)
		}
		perSecond[r.Started.Unix()]++
		if !r.Started.Before(start) {
			inWindow++
		}
	}
	for sec, n := range perSecond {
		if n > 1 {
			t.Errorf("%d runs started in the second %s: a due time ran on both replicas", n, time.Unix(sec, 0).UTC().Format(time.TimeOnly))
		}
	}
	// One per due second; a second may go by without one when its run
	// met the feed's lock still held, never two.
	if inWindow < 3 || inWindow > int(window/time.Second)+1 {
		t.Errorf("%d scheduled runs in %s, want one per second", inWindow, window)
	}
	claimed := func(d *daemonRun) int {
		return strings.Count(d.stderr.String(), `"msg":"scheduled run claimed by this replica"`)
	}
	ca, cb := claimed(a), claimed(b)
	if a == b {
		cb = 0
	}
	// A due time claimed at the window's end may not have its record yet.
	if ca+cb != len(runs) && ca+cb != len(runs)+1 {
		t.Errorf("the replicas claimed %d and %d due times, and %d runs were recorded", ca, cb, len(runs))
	} else {
		t.Logf("%d scheduled runs in all: %d on A, %d on B", len(runs), ca, cb)
	}

	// Deleted on B: after the change reached A, no replica runs it.
	if code, body := call(t, "DELETE", b.base+"/api/v1/tenants/initech/feeds/hr", operatorKey, ""); code != 204 {
		t.Fatalf("delete the feed on B: %d %v", code, body)
	}
	within(t, 2*time.Second, "A forgets the feed deleted on B", func() bool {
		code, _ := call(t, "GET", a.base+"/api/v1/tenants/initech/feeds/hr", operatorKey, "")
		return code == 404
	})
	time.Sleep(1100 * time.Millisecond) // a run that had begun ends
	before := len(scheduled())
	time.Sleep(3 * time.Second)
	if after := len(scheduled()); after != before {
		t.Fatalf("%d scheduled runs after the feed was deleted", after-before)
	}
	if code, _ := call(t, "GET", a.base+"/api/v1/tenants/initech/runs", operatorKey, ""); code != 200 {
		t.Fatalf("the deleted feed's runs stay readable: %d", code)
	}
}
