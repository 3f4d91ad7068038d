package schedule_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/schedule"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fakeClock fires After channels when Advance passes their time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if !at.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at, ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func (c *fakeClock) pending() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.waiters) }

// waitFor waits until cond holds; the deadline only keeps a broken test
// from hanging, it is not what the test checks.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTwoSchedulersOneStore: two replicas over one database, a daily run
// at 06:00 Berlin time: over three days, three runs in all, each once.
func TestTwoSchedulersOneStore(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		clock := &fakeClock{now: time.Date(2026, 11, 23, 5, 0, 0, 0, berlin)}
		var runs atomic.Int64
		var mu sync.Mutex
		var dueHours []int
		newScheduler := func() *schedule.Scheduler {
			s := &schedule.Scheduler{Slots: st, Clock: clock}
			err := s.Add(schedule.Job{Tenant: "acme", Feed: "hr", Spec: "0 6 * * *", Location: berlin,
				Run: func(_ context.Context, due time.Time) error {
					runs.Add(1)
					mu.Lock()
					dueHours = append(dueHours, due.In(berlin).Hour())
					mu.Unlock()
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 2 {
			s := newScheduler()
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(ctx) }()
		}
		waitFor(t, "both schedulers to wait", func() bool { return clock.pending() == 2 })
		for day := 1; day <= 3; day++ {
			for range 24 {
				clock.Advance(time.Hour)
			}
			waitFor(t, "the day's run", func() bool { return runs.Load() == int64(day) && clock.pending() == 2 })
		}
		cancel()
		wg.Wait()
		if runs.Load() != 3 {
			t.Fatalf("%d runs over three days, want 3", runs.Load())
		}
		for _, h := range dueHours {
			if h != 6 {
				t.Fatalf("ran at hours %v (Berlin), want 6", dueHours)
			}
		}
	})
}

func TestMissedRunRunsOnceAtStart(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		var runs atomic.Int64
		s := &schedule.Scheduler{Slots: st, Clock: clock}
		// Last ran Monday; the daily 06:00 runs of Tuesday and Wednesday
		// were missed: one catch-up run, not two.
		s.Add(schedule.Job{Tenant: "acme", Feed: "hr", Spec: "0 6 * * *", LastRun: time.Date(2026, 11, 23, 6, 0, 5, 0, time.UTC),
			RunMissedOnStart: true, Run: func(context.Context, time.Time) error { runs.Add(1); return nil }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		waitFor(t, "the catch-up run", func() bool { return runs.Load() == 1 && clock.pending() == 1 })
		cancel()
		<-done
		if runs.Load() != 1 {
			t.Fatalf("%d catch-up runs, want 1", runs.Load())
		}
	})
}

func TestBadSpecsAreErrors(t *testing.T) {
	for _, spec := range []string{"* * *", "TZ=0 * * * *", "61 * * * *", "@every"} {
		if _, err := schedule.Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted it", spec)
		}
	}
	if _, err := schedule.Parse("@daily"); err != nil {
		t.Errorf("@daily: %v", err)
	}
}

func TestPanickingRunIsRecovered(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	clock := &fakeClock{now: time.Date(2026, 11, 23, 5, 59, 0, 0, time.UTC)}
	var runs atomic.Int64
	s := &schedule.Scheduler{Slots: st, Clock: clock}
	s.Add(schedule.Job{Tenant: "acme", Feed: "hr", Spec: "0 * * * *", Run: func(context.Context, time.Time) error {
		runs.Add(1)
		panic("boom")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "the scheduler to wait", func() bool { return clock.pending() == 1 })
	clock.Advance(time.Minute)
	waitFor(t, "the first run", func() bool { return runs.Load() == 1 && clock.pending() == 1 })
	clock.Advance(time.Hour)
	waitFor(t, "a second run after the panic", func() bool { return runs.Load() == 2 })
	cancel()
	<-done
}

// TestSetRearms: two replicas over one store re-armed with a feed's new
// schedule run it at the new times, each due time once; set without it,
// neither runs it again.
func TestSetRearms(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		clock := &fakeClock{now: time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)}
		var runs atomic.Int64
		var mu sync.Mutex
		var dues []string
		job := func(spec, rev string) schedule.Job {
			return schedule.Job{Tenant: "acme", Feed: "hr", Spec: spec, Rev: rev, Run: func(_ context.Context, due time.Time) error {
				runs.Add(1)
				mu.Lock()
				dues = append(dues, due.Format("15:04"))
				mu.Unlock()
				return nil
			}}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var replicas []*schedule.Scheduler
		for range 2 {
			s := &schedule.Scheduler{Slots: st, Clock: clock}
			if err := s.Set([]schedule.Job{job("0 * * * *", "1")}); err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, s)
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(ctx) }()
		}
		waitFor(t, "both schedulers to wait", func() bool { return clock.pending() == 2 })
		clock.Advance(time.Hour)
		waitFor(t, "the 06:00 run", func() bool { return runs.Load() == 1 && clock.pending() == 2 })

		// The schedule changes: every 30 minutes. The old loops' timers
		// stay in the fake clock until their time (2 stale).
		for _, s := range replicas {
			if err := s.Set([]schedule.Job{job("*/30 * * * *", "2")}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the re-armed loops", func() bool { return clock.pending() == 4 })
		clock.Advance(30 * time.Minute)
		waitFor(t, "the 06:30 run", func() bool { return runs.Load() == 2 && clock.pending() == 4 })
		clock.Advance(30 * time.Minute)
		waitFor(t, "the 07:00 run", func() bool { return runs.Load() == 3 && clock.pending() == 2 })

		// The feed is deleted: no replica runs it again.
		for _, s := range replicas {
			if err := s.Set(nil); err != nil {
				t.Fatal(err)
			}
			if len(s.Jobs()) != 0 {
				t.Fatalf("jobs left: %v", s.Jobs())
			}
		}
		clock.Advance(2 * time.Hour)
		waitFor(t, "the stale timers to fire", func() bool { return clock.pending() == 0 })
		// A loop still armed would run now and wait for its next time.
		time.Sleep(100 * time.Millisecond)
		if n := clock.pending(); n != 0 || runs.Load() != 3 {
			t.Fatalf("after the feed was unscheduled: %d runs, %d timers", runs.Load(), n)
		}
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if runs.Load() != 3 || dues[0] != "06:00" || dues[1] != "06:30" || dues[2] != "07:00" {
			t.Fatalf("runs due at %v, want 06:00 06:30 07:00", dues)
		}
		if err := (&schedule.Scheduler{}).Set([]schedule.Job{{Tenant: "acme", Feed: "x", Spec: "* * *"}}); err == nil {
			t.Fatal("a bad spec was set")
		}
	})
}

// TestEveryIsAligned: "@every D" is due at multiples of D, so that
// replicas armed at different moments agree on its due times.
func TestEveryIsAligned(t *testing.T) {
	s, err := schedule.Parse("@every 90m")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	a := s.Next(base.Add(10 * time.Minute))
	b := s.Next(base.Add(80 * time.Minute))
	if !a.Equal(base.Add(90*time.Minute)) || !b.Equal(a) {
		t.Fatalf("armed at 00:10 and 01:20: next %s and %s, want 01:30 for both", a.Format(time.TimeOnly), b.Format(time.TimeOnly))
	}
	if n := s.Next(a); !n.Equal(a.Add(90 * time.Minute)) {
		t.Fatalf("after %s: %s", a, n)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if n := s.Next(base.Add(10 * time.Minute).In(berlin)); !n.Equal(a) {
		t.Fatalf("in another zone: %s", n)
	}
	// Seconds: every second, on the second.
	one, _ := schedule.Parse("@every 1s")
	if n := one.Next(base.Add(1500 * time.Millisecond)); !n.Equal(base.Add(2 * time.Second)) {
		t.Fatalf("@every 1s after 00:00:01.5: %s", n)
	}
}
