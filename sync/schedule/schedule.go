// Package schedule starts feed runs when their cron schedules say, in each
// feed's time zone: at most one run per due time across every replica (the
// due time is claimed in the store, and the replica that claims it runs
// it), and never two runs of one feed at once (the run itself takes the
// feed's lock). A run missed while no replica was up runs once at start.
//
// robfig/cron parses the specs and computes the due times; the loop is
// ours, so that tests drive it with a clock of their own.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time source; tests pass a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Slots records which due times were started, across replicas.
type Slots interface {
	ClaimSlot(ctx context.Context, tenant, feed string, due time.Time) (bool, error)
}

// Job is one scheduled feed.
type Job struct {
	Tenant, Feed string
	// Spec is a cron spec (5 fields, or @daily, @every 1h).
	Spec     string
	Location *time.Location
	// LastRun is when the feed last ran (zero if never): with
	// RunMissedOnStart, a due time between it and now runs once at start.
	LastRun          time.Time
	RunMissedOnStart bool
	// Run runs the feed for the due time.
	Run func(ctx context.Context, due time.Time) error
}

// Scheduler runs jobs until its context ends.
type Scheduler struct {
	Slots  Slots
	Clock  Clock
	Logger *slog.Logger
	jobs   []job
}

type job struct {
	Job
	sched cron.Schedule
}

// Parse checks a spec the way the scheduler reads it. robfig/cron panics on
// some malformed specs ("TZ=0 …"): that becomes an error here.
func Parse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid cron spec %q: %v", spec, r)
		}
	}()
	s, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron spec %q: %w", spec, err)
	}
	return s, nil
}

// Add adds a job.
func (s *Scheduler) Add(j Job) error {
	sched, err := Parse(j.Spec)
	if err != nil {
		return fmt.Errorf("feed %s/%s: %w", j.Tenant, j.Feed, err)
	}
	if j.Location == nil {
		j.Location = time.UTC
	}
	s.jobs = append(s.jobs, job{Job: j, sched: sched})
	return nil
}

// Next returns when a job runs next after t, for the admin API.
func Next(spec string, loc *time.Location, t time.Time) (time.Time, error) {
	sched, err := Parse(spec)
	if err != nil {
		return time.Time{}, err
	}
	if loc == nil {
		loc = time.UTC
	}
	return sched.Next(t.In(loc)), nil
}

// Run runs every job's loop until ctx ends, and returns when all have
// stopped (a run in progress finishes first: it has its own context).
func (s *Scheduler) Run(ctx context.Context) {
	if s.Clock == nil {
		s.Clock = realClock{}
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, j)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, j job) {
	log := s.Logger.With("tenant", j.Tenant, "feed", j.Feed)
	now := s.Clock.Now().In(j.Location)
	if j.RunMissedOnStart && !j.LastRun.IsZero() {
		// The latest due time that passed since the last run, if any.
		var missed time.Time
		for t := j.sched.Next(j.LastRun.In(j.Location)); !t.IsZero() && !t.After(now); t = j.sched.Next(t) {
			missed = t
		}
		if !missed.IsZero() {
			log.Info("running a scheduled run missed while rosterd was down", "due", missed)
			s.fire(ctx, j, missed, log)
		}
	}
	next := j.sched.Next(now)
	for !next.IsZero() {
		select {
		case <-ctx.Done():
			return
		case <-s.Clock.After(next.Sub(s.Clock.Now())):
		}
		s.fire(ctx, j, next, log)
		next = j.sched.Next(next)
	}
}

// fire claims the due time and, if this replica got it, runs the job.
func (s *Scheduler) fire(ctx context.Context, j job, due time.Time, log *slog.Logger) {
	ok, err := s.Slots.ClaimSlot(ctx, j.Tenant, j.Feed, due.UTC())
	if err != nil {
		log.Error("claiming a scheduled run", "due", due, "err", err)
		return
	}
	if !ok {
		log.Debug("scheduled run taken by another replica", "due", due)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			log.Error("scheduled run panicked", "due", due, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if err := j.Run(context.WithoutCancel(ctx), due); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("scheduled run failed", "due", due, "err", err)
	}
}
