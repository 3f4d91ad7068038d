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
