// Package schedule starts feed runs when their cron schedules say, in each
// feed's time zone: at most one run per due time across every replica (the
// due time is claimed in the store, and the replica that claims it runs
// it), and never two runs of one feed at once (the run itself takes the
// feed's lock). A run missed while no replica was up runs once at start.
//
// robfig/cron parses the specs and computes the due times; the loop is
// ours, so that tests drive it with a clock of their own. Set re-arms a
// running scheduler with the feeds as they are now (a feed the admin API
// created, changed or deleted on any replica): a new or changed job's loop
// starts, a removed one's stops, the others go on untouched.
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
	// Rev names the feed's settings as they are (its version): Set
	// re-arms a job whose Rev, Spec or Location changed.
	Rev string
}

func (j Job) key() string { return j.Tenant + "/" + j.Feed }

// Scheduler runs jobs until its context ends.
type Scheduler struct {
	Slots  Slots
	Clock  Clock
	Logger *slog.Logger

	mu sync.Mutex
	// jobs are the jobs by tenant/feed; armed their running loops once
	// Run has started.
	jobs    map[string]job
	armed   map[string]context.CancelFunc
	ctx     context.Context
	running bool
	wg      sync.WaitGroup
}

type job struct {
	Job
	sched cron.Schedule
}

func (j job) same(o job) bool {
	return j.Spec == o.Spec && j.Location.String() == o.Location.String() && j.Rev == o.Rev
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
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return alignedEvery{every.Delay}, nil
	}
	return s, nil
}

// alignedEvery is "@every D" with its due times at multiples of D (since
// the zero time, whatever the zone): robfig/cron counts D from the moment
// a loop starts, so two replicas started (or re-armed) apart would claim
// different due times and run the feed twice per D between them. Aligned,
// every replica computes the same due times and one claims each.
type alignedEvery struct{ d time.Duration }

func (e alignedEvery) Next(t time.Time) time.Time { return t.Truncate(e.d).Add(e.d) }

// Add adds a job (or replaces the job of its feed).
func (s *Scheduler) Add(j Job) error {
	pj, err := prepare(j)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.jobs[j.key()] = pj
	if s.running {
		s.arm(pj)
	}
	return nil
}

func prepare(j Job) (job, error) {
	sched, err := Parse(j.Spec)
	if err != nil {
		return job{}, fmt.Errorf("feed %s/%s: %w", j.Tenant, j.Feed, err)
	}
	if j.Location == nil {
		j.Location = time.UTC
	}
	return job{Job: j, sched: sched}, nil
}

func (s *Scheduler) init() {
	if s.jobs == nil {
		s.jobs, s.armed = map[string]job{}, map[string]context.CancelFunc{}
	}
}

// Set makes jobs the whole set: a job that is new, or whose Spec, Location
// or Rev changed, is (re-)armed; one left out stops (a run in progress
// finishes); the others keep their loops. A re-armed job does not run
// what it missed (that is for the start). A job whose spec does not parse
// is left out and named in the error; the others are set.
func (s *Scheduler) Set(jobs []Job) error {
	next := map[string]job{}
	var errs []error
	for _, j := range jobs {
		pj, err := prepare(j)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next[j.key()] = pj
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	for key, old := range s.jobs {
		if nj, ok := next[key]; !ok || !nj.same(old) {
			if cancel := s.armed[key]; cancel != nil {
				cancel()
				delete(s.armed, key)
			}
			delete(s.jobs, key)
			if !ok {
				s.logger().Info("feed unscheduled", "tenant", old.Tenant, "feed", old.Feed)
			}
		}
	}
	for key, nj := range next {
		if _, kept := s.jobs[key]; kept {
			continue
		}
		nj.RunMissedOnStart = nj.RunMissedOnStart && !s.running
		s.jobs[key] = nj
		if s.running {
			s.logger().Info("feed scheduled", "tenant", nj.Tenant, "feed", nj.Feed, "schedule", nj.Spec, "timezone", nj.Location.String())
			s.arm(nj)
		}
	}
	return errors.Join(errs...)
}

// Jobs names the feeds scheduled now (tenant/feed), for tests and logs.
func (s *Scheduler) Jobs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, j := range s.jobs {
		out[k] = j.Spec
	}
	return out
}

// arm starts j's loop; s.mu is held and Run has begun.
func (s *Scheduler) arm(j job) {
	if cancel := s.armed[j.key()]; cancel != nil {
		cancel()
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.armed[j.key()] = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx, j)
	}()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
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
// Jobs added or set while it runs are armed at once.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	if s.Clock == nil {
		s.Clock = realClock{}
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.init()
	s.ctx, s.running = ctx, true
	for _, j := range s.jobs {
		s.arm(j)
	}
	s.mu.Unlock()
	<-ctx.Done()
	// No loop is armed once running is false, so Wait sees them all.
	s.mu.Lock()
	s.running = false
	s.armed = map[string]context.CancelFunc{}
	s.mu.Unlock()
	s.wg.Wait()
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
	// A due time this loop woke for is claimed and run even if the loop
	// is stopped meanwhile (a re-arm at that instant computes its next
	// due time after now, so it would never run it).
	ctx = context.WithoutCancel(ctx)
	ok, err := s.Slots.ClaimSlot(ctx, j.Tenant, j.Feed, due.UTC())
	if err != nil {
		log.Error("claiming a scheduled run", "due", due, "err", err)
		return
	}
	if !ok {
		log.Debug("scheduled run taken by another replica", "due", due)
		return
	}
	// Which replica ran a due time is worth a line: the others say
	// nothing of it above debug.
	log.Info("scheduled run claimed by this replica", "due", due.UTC())
	defer func() {
		if r := recover(); r != nil {
			log.Error("scheduled run panicked", "due", due, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if err := j.Run(ctx, due); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("scheduled run failed", "due", due, "err", err)
	}
}
