package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// Errors of a run that a caller shows as they are.
var (
	// ErrNothingNew: the source has nothing to read yet (no file, a file
	// still being written); the run is recorded as skipped.
	ErrNothingNew = errors.New("nothing new to read")
	// ErrBusy: a run of this feed is in progress (here or on another replica).
	ErrBusy = errors.New("a run of this feed is in progress")
	// ErrNotHeld: only a held run can be approved or rejected.
	ErrNotHeld = errors.New("the run is not held")
)

// Store is what a Runner needs of the store.
type Store interface {
	Claims
	PutRun(ctx context.Context, r store.Run) error
	GetRun(ctx context.Context, tenant, id string) (store.Run, error)
	LastRun(ctx context.Context, tenant, feed string, statuses ...string) (store.Run, error)
	ListRuns(ctx context.Context, q store.RunQuery) ([]store.Run, error)
	TryLock(ctx context.Context, name string) (func(), bool, error)
}

// Feed is one snapshot source as a Runner runs it.
type Feed struct {
	Source Source
	// Feed is the feed's name in its tenant ("hr"); Kind "file", "ldap" or "import".
	Feed   string
	Kind   string
	Limits Limits
	// Fetch reads the whole snapshot. ErrNothingNew (wrapped) skips the
	// run; any other error fails it — a read that failed is never taken
	// for "everybody left". done, if not nil, runs after a successful
	// apply (archiving the file).
	Fetch func(ctx context.Context) (snap Snapshot, done func(context.Context) error, err error)
	// Archive, if not nil, archives the file snap was read from after a
	// run applied that Fetch handed no done for: an approved or a resumed
	// one. It must leave alone any file that is not the one read.
	Archive func(ctx context.Context, snap Snapshot) error
}

// RunOptions says how a run was asked for.
type RunOptions struct {
	DryRun  bool
	Trigger string // schedule | manual | import
	Actor   string
	// Progress, when set, is told how far the run is: each phase as it
	// begins (0 done), as it goes and when it ends (done = total). Calls
	// come one at a time.
	Progress func(phase Phase, done, total int)
	// Planned, when set, is handed the plan once it is made (an import's
	// review is read from it). Only a dry run's lists its changes: those
	// of a plan applied or held at once are read from the run that keeps
	// them (LoadPlan), not held in memory for the apply's length.
	Planned func(Plan)
}

// Phase is the part of a run that RunOptions.Progress is told of.
type Phase string

const (
	// Reading: the source is read and parsed; total is 0 until it has
	// been, then its records.
	Reading Phase = "reading"
	// Planning: the changes are previewed, done of total.
	Planning Phase = "planning"
	// Applying: the changes are applied, done of total.
	Applying Phase = "applying"
)

// tell tells progress, when it is set.
func (opt RunOptions) tell(phase Phase, done, total int) {
	if opt.Progress != nil {
		opt.Progress(phase, done, total)
	}
}

// Runner runs feeds: fetch, plan, brake, apply, and records each run.
type Runner struct {
	Dir    Directory
	Store  Store
	Now    func() time.Time
	Logger *slog.Logger
	// Batch and Workers bound the apply (directory.BatchOptions).
	Batch, Workers int
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func lockName(f Feed) string { return "feed:" + f.Source.Tenant + "/" + f.Feed }

// lock takes the feed's lock: one run of a feed at a time, here or on
// another replica.
func (r *Runner) lock(ctx context.Context, f Feed) (release func(), err error) {
	release, ok, err := r.Store.TryLock(ctx, lockName(f))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrBusy, f.Source.Tenant, f.Feed)
	}
	return release, nil
}

func (r *Runner) runLogger(run store.Run) *slog.Logger {
	return r.logger().With("tenant", run.Tenant, "feed", run.Feed, "run", run.ID)
}

// withRun takes the feed's lock, reads the run again under it and calls fn
// with it. What a caller read before the lock may be stale — another
// replica may have resumed, applied or rejected the run since — so every
// decision about a stored run is made on what withRun reads.
func (r *Runner) withRun(ctx context.Context, f Feed, runID string, fn func(run store.Run, log *slog.Logger) (store.Run, error)) (store.Run, error) {
	release, err := r.lock(ctx, f)
	if err != nil {
		return store.Run{}, err
	}
	defer release()
	run, err := r.Store.GetRun(ctx, f.Source.Tenant, runID)
	if err != nil {
		return run, err
	}
	if run.Feed != f.Feed {
		return run, fmt.Errorf("run %s is a run of %s, not of %s", runID, run.Feed, f.Feed)
	}
	return fn(run, r.runLogger(run))
}

// finish records the run's end.
func (r *Runner) finish(ctx context.Context, run store.Run, status string, err error, log *slog.Logger) (store.Run, error) {
	run.Status, run.Finished = status, r.now()
	if err != nil {
		run.Error = err.Error()
	}
	if perr := r.Store.PutRun(context.WithoutCancel(ctx), run); perr != nil {
		return run, errors.Join(err, perr)
	}
	log.Info("feed run finished", "status", status, "counts", run.Counts, "err", err)
	return run, err
}

// hold records a plan the brake held, with its snapshot and the feed's
// last applied run as the plan was made, for an admin.
func (r *Runner) hold(ctx context.Context, f Feed, run store.Run, plan Plan, snap Snapshot, lastApplied store.Run, reasons []string, log *slog.Logger) (store.Run, error) {
	run.HoldReasons = reasons
	run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
	if err := plan.list(); err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	if err := plan.noteCards(ctx, r.Dir); err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	st := storedOf(f, plan, &snap)
	st.LastApplied = lastApplied.ID
	var err error
	if run.Plan, err = encodePlan(st); err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	log.Warn("feed run held for approval", "reasons", reasons)
	return r.finish(ctx, run, store.RunHeld, nil, log)
}

// lastApplied is the feed's last applied run; a zero Run when there is none.
func (r *Runner) lastApplied(ctx context.Context, tenant, feed string) (store.Run, error) {
	last, err := r.Store.LastRun(ctx, tenant, feed, store.RunApplied)
	if errors.Is(err, store.ErrNotFound) {
		return store.Run{}, nil
	}
	return last, err
}

// archiver is what archives a run's file after an apply that did not
// fetch it (an approval, a resume): the feed's Archive, or nothing.
func archiver(f Feed, snap Snapshot) func(context.Context) error {
	if f.Archive == nil {
		return nil
	}
	return func(ctx context.Context) error { return f.Archive(ctx, snap) }
}

// Run runs a feed once. The returned run is recorded whatever became of it;
// the error is the run's (or ErrBusy, when no run was started).
func (r *Runner) Run(ctx context.Context, f Feed, opt RunOptions) (store.Run, error) {
	release, err := r.lock(ctx, f)
	if err != nil {
		return store.Run{}, err
	}
	defer release()

	run := store.Run{ID: uuid.Must(uuid.NewV7()).String(), Tenant: f.Source.Tenant, Feed: f.Feed, Kind: f.Kind,
		Status: store.RunPlanned, DryRun: opt.DryRun, Trigger: opt.Trigger, Actor: opt.Actor, Started: r.now()}
	log := r.runLogger(run)

	opt.tell(Reading, 0, 0)
	snap, done, err := f.Fetch(ctx)
	if err == nil {
		opt.tell(Reading, len(snap.Records), len(snap.Records))
	}
	if errors.Is(err, ErrNothingNew) {
		return r.finish(ctx, run, store.RunSkipped, nil, log)
	}
	if err != nil {
		return r.finish(ctx, run, store.RunFailed, fmt.Errorf("reading the source: %w", err), log)
	}
	run.FileName, run.FileSize, run.FileHash = snap.Name, snap.Size, snap.Hash
	if snap.Flagged != nil {
		run.Flagged, _ = json.Marshal(snap.Flagged)
	}

	lastApplied, err := r.lastApplied(ctx, run.Tenant, run.Feed)
	if err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	// An import is planned whatever the last one was: the admin may send
	// the same file again with other options (clear_empty, full_roster).
	if !opt.DryRun && f.Kind != "import" && snap.Hash != "" && lastApplied.FileHash == snap.Hash {
		run.Error = fmt.Sprintf("same content as run %s", lastApplied.ID)
		run.Counts = map[string]int{"records": len(snap.Records), "flagged": len(snap.Flagged)}
		run.Status, run.Finished = store.RunSkipped, r.now()
		return run, r.Store.PutRun(ctx, run)
	}

	// A dry run is read: its changes, and an import's what each card will
	// be (its review). A plan applied at once is read by nobody, its
	// changes only in the run that keeps them; a held one is listed, and
	// an import's cards noted, for whoever approves it (hold).
	plan, err := makePlan(ctx, r.Dir, r.Store, f.Source, snap, planFor{cards: opt.DryRun, list: opt.DryRun, progress: opt.Progress})
	if err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
	if opt.DryRun {
		if opt.Planned != nil {
			opt.Planned(plan)
		}
		st := stored{Plan: plan}
		if f.Kind == "import" {
			// An import's dry run is its review: what ApplyReview applies,
			// with the snapshot to apply and each card's version to hold
			// it to. What each card will be was shown (Planned) and is not
			// kept: at the same version the same change makes the same
			// card, and storing it took a third of a 50,000-row review.
			st = storedOf(f, leanPlan(plan), &snap)
		}
		if run.Plan, err = encodePlan(st); err != nil {
			return r.finish(ctx, run, store.RunFailed, err, log)
		}
		return r.finish(ctx, run, store.RunPlanned, nil, log)
	}
	reasons := Hold(plan, f.Limits, lastApplied.Counts["records"])
	if opt.Planned != nil {
		opt.Planned(plan)
	}
	if len(reasons) > 0 {
		return r.hold(ctx, f, run, plan, snap, lastApplied, reasons, log)
	}
	return r.apply(ctx, f, run, plan, snap, done, opt, log)
}

// apply applies a plan in bounded transactions. The run is recorded as
// applying first, with its snapshot, so that a crash midway resumes
// (Resume) rather than leaving half a plan and no record of it.
func (r *Runner) apply(ctx context.Context, f Feed, run store.Run, plan Plan, snap Snapshot, done func(context.Context) error, opt RunOptions, log *slog.Logger) (store.Run, error) {
	var err error
	run.Status = store.RunApplying
	if run.Plan, err = encodePlan(storedOf(f, plan, &snap)); err != nil {
		return run, err
	}
	if err := r.Store.PutRun(ctx, run); err != nil {
		return run, err
	}
	if !plan.applies() {
		return run, fmt.Errorf("plan of %d changes knows none of their claims: only a plan made by MakePlan applies", len(plan.Changes))
	}
	// Stored, the run's plan and snapshot are not held through the apply
	// too: a failed apply encodes them again.
	run.Plan = nil
	total, inputs := len(plan.from), func(lo, hi int) []directory.ClaimInput { return plan.inputs(span(lo, hi)) }
	if len(plan.refused) > 0 {
		// All of them but those the preview refused.
		todo := make([]int32, 0, len(plan.from)-len(plan.refused))
		for i, refused := 0, plan.refused; i < len(plan.from); i++ {
			if len(refused) > 0 && refused[0] == int32(i) {
				refused = refused[1:]
				continue
			}
			todo = append(todo, int32(i))
		}
		total, inputs = len(todo), func(lo, hi int) []directory.ClaimInput { return plan.inputs(todo[lo:hi]) }
	}
	if run.Counts == nil {
		run.Counts = map[string]int{}
	}
	applied, invited := 0, 0
	tally := func(outs []directory.Outcome) {
		for _, o := range outs {
			if o.Changed {
				run.Counts["applied"]++
			}
			if o.Err != nil {
				run.Counts["refused"]++
			}
			if o.Created && o.Err == nil && o.Card.Invite != nil {
				invited++
			}
		}
	}
	opt.tell(Applying, 0, total)
	// Outcomes are counted batch by batch (Each) rather than kept: a
	// million-card apply would otherwise hold a card per input to the end.
	outs, err := r.Dir.ApplyInputs(ctx, directory.Actor{Name: f.Source.Name, RunID: run.ID}, total, inputs, directory.BatchOptions{
		Size: r.Batch, Workers: r.Workers,
		Each: func(_ int, outs []directory.Outcome) { tally(outs) },
		Done: func(n int) {
			applied += n
			opt.tell(Applying, applied, total)
		},
	})
	tally(outs) // none with Each, unless the directory is one that ignores it
	if f.Source.Import {
		run.Counts["invited"] = invited // what was sent, not what was planned
	}
	if err != nil {
		run.Status, run.Finished, run.Error = store.RunFailed, r.now(), "applying: "+err.Error()
		// Keep the snapshot: the same plan applies again idempotently.
		run.Plan, _ = encodePlan(storedOf(f, plan, &snap))
		_ = r.Store.PutRun(context.WithoutCancel(ctx), run)
		return run, fmt.Errorf("applying: %w", err)
	}
	// Applied: the plan is kept, the snapshot is not needed any more.
	if run.Plan, err = encodePlan(stored{Plan: plan}); err != nil {
		return run, err
	}
	if done != nil {
		if err := done(ctx); err != nil {
			log.Warn("archiving the processed file failed", "err", err)
			run.Error = "applied; archiving failed: " + err.Error()
		}
	}
	run.Status, run.Finished = store.RunApplied, r.now()
	if err := r.Store.PutRun(context.WithoutCancel(ctx), run); err != nil {
		return run, err
	}
	log.Info("feed run applied", "counts", run.Counts)
	return run, nil
}

// Approve applies a held run, if it still does what the admin was shown.
// The plan is made again from the run's snapshot against the claims as
// they are; when it differs from the held one — a newer run applied,
// claims or cards changed — nothing is applied: the fresh plan is held in
// its place and a *ChangedError says what changed. Otherwise the admin's
// approval stands in for the brake, and the file is archived as a direct
// run's is.
func (r *Runner) Approve(ctx context.Context, f Feed, runID, actor string) (store.Run, error) {
	return r.withRun(ctx, f, runID, func(run store.Run, log *slog.Logger) (store.Run, error) {
		if run.Status != store.RunHeld {
			return run, fmt.Errorf("%w: run %s is %s", ErrNotHeld, runID, run.Status)
		}
		st, err := decodePlan(run.Plan)
		if err == nil && st.Snapshot == nil {
			err = errors.New("no snapshot stored")
		}
		if err != nil {
			return run, fmt.Errorf("run %s: its snapshot cannot be read: %w", runID, err)
		}
		last, err := r.lastApplied(ctx, run.Tenant, run.Feed)
		if err != nil {
			return run, err
		}
		// The stored plan keeps no claim inputs: plan again to apply,
		// listed to be compared with the held one.
		plan, err := makePlan(ctx, r.Dir, r.Store, f.Source, *st.Snapshot, planFor{list: true})
		if err != nil {
			return run, err
		}
		if changes := planChanges(st, run.ID, plan, last); len(changes) > 0 {
			reasons := Hold(plan, f.Limits, last.Counts["records"])
			if len(reasons) == 0 {
				reasons = []string{"the plan changed since it was held; approve it again to apply it as it is now"}
			}
			run.Error = ""
			held, err := r.hold(ctx, f, run, plan, *st.Snapshot, last, reasons, log)
			if err != nil {
				return held, err
			}
			log.Warn("approval refused: the plan changed since it was held", "changes", len(changes))
			return held, &ChangedError{RunID: runID, Changes: changes}
		}
		run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
		run.Trigger, run.Actor, run.Error = "approval", actor, ""
		return r.apply(ctx, f, run, plan, *st.Snapshot, archiver(f, *st.Snapshot), RunOptions{Trigger: "approval", Actor: actor}, log)
	})
}

// ErrChanged is what a *ChangedError is: an approval refused because the
// plan is no longer the one that was held.
var ErrChanged = errors.New("the plan changed since it was held")

// ChangedError refuses an approval: applying the held run now would do
// something other than the plan the admin was shown. The fresh plan is
// held in its place.
type ChangedError struct {
	RunID string
	// Changes says what changed, a line each: "run … was applied since",
	// "withdraw 25 → 35".
	Changes []string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("run %s: %v: %s; the fresh plan is held for approval", e.RunID, ErrChanged, strings.Join(e.Changes, "; "))
}

func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// planChanges says how the plan an approval would apply (now, with the
// feed's last applied run now) differs from the held one: nothing when it
// is the same plan against the same claims.
func planChanges(held stored, heldID string, now Plan, lastApplied store.Run) []string {
	var out []string
	was := held.Plan
	// A plan held before last_applied was stored: any run applied after it.
	if lastApplied.ID != held.LastApplied && (held.LastApplied != "" || lastApplied.ID > heldID) {
		out = append(out, fmt.Sprintf("run %s was applied since", lastApplied.ID))
	}
	if was.Fingerprint != now.Fingerprint {
		out = append(out, "the source's claims changed since")
	}
	keys := slices.Sorted(maps.Keys(was.Counts))
	for k := range now.Counts {
		if _, ok := was.Counts[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if was.Counts[k] != now.Counts[k] {
			out = append(out, fmt.Sprintf("%s %d → %d", k, was.Counts[k], now.Counts[k]))
		}
	}
	if n := len(now.Changes); len(out) == 0 && (n != len(was.Changes) || !slices.EqualFunc(was.Changes, now.Changes, sameChange)) {
		differ := max(n, len(was.Changes)) - min(n, len(was.Changes))
		for i := range min(n, len(was.Changes)) {
			if !sameChange(was.Changes[i], now.Changes[i]) {
				differ++
			}
		}
		out = append(out, fmt.Sprintf("%d of its changes differ", differ))
	}
	return out
}

func sameChange(a, b Change) bool {
	return a.Action == b.Action && a.Key == b.Key && a.Email == b.Email && a.CardID == b.CardID &&
		a.Effect == b.Effect && a.Refused == b.Refused && a.Line == b.Line && slices.Equal(a.Attributes, b.Attributes)
}

// Reject closes a held run; nothing of it is applied. It decides under
// the feed's lock too, so that an approval under way is not overwritten.
func (r *Runner) Reject(ctx context.Context, tenant, runID, actor string) (store.Run, error) {
	run, err := r.Store.GetRun(ctx, tenant, runID)
	if err != nil {
		return run, err
	}
	f := Feed{Source: Source{Tenant: tenant}, Feed: run.Feed}
	return r.withRun(ctx, f, runID, func(run store.Run, log *slog.Logger) (store.Run, error) {
		if run.Status != store.RunHeld {
			return run, fmt.Errorf("%w: run %s is %s", ErrNotHeld, runID, run.Status)
		}
		st, err := decodePlan(run.Plan)
		if err == nil {
			st.Snapshot = nil
			run.Plan, _ = encodePlan(st)
		}
		run.Status, run.Finished, run.Actor = store.RunRejected, r.now(), actor
		log.Info("held run rejected")
		return run, r.Store.PutRun(ctx, run)
	})
}

// Resume finishes a run a crash left applying. Under the feed's lock it
// checks the run is still applying (another replica may have finished it:
// then it is left as it is), and that no newer run of the feed applied
// since (then its older snapshot would undo the newer one: it is
// superseded, never applied). Its snapshot is planned again against the
// claims as they are — what was applied is unchanged now — and the rest
// goes through the brake again, as a new run would: held, or applied.
func (r *Runner) Resume(ctx context.Context, f Feed, stale store.Run) (store.Run, error) {
	return r.withRun(ctx, f, stale.ID, func(run store.Run, log *slog.Logger) (store.Run, error) {
		if run.Status != store.RunApplying {
			log.Info("not resuming a run that is no longer applying", "status", run.Status)
			return run, nil
		}
		last, err := r.lastApplied(ctx, run.Tenant, run.Feed)
		if err != nil {
			return run, err
		}
		if last.ID > run.ID { // ids are UUIDv7: they sort by start time
			run.Error = fmt.Sprintf("interrupted while applying; run %s was applied after it, so the rest of its older snapshot was not applied", last.ID)
			log.Warn("a run left applying is superseded", "by", last.ID)
			return r.finish(ctx, run, store.RunSuperseded, nil, log)
		}
		st, err := decodePlan(run.Plan)
		if err == nil && st.Snapshot == nil {
			err = errors.New("no snapshot stored")
		}
		if err != nil {
			run.Error = fmt.Sprintf("interrupted while applying, part of its plan applied; the rest was not: its snapshot cannot be read: %v", err)
			log.Error("a run left applying cannot be resumed", "err", err)
			return r.finish(ctx, run, store.RunInterrupted, nil, log)
		}
		plan, err := makePlan(ctx, r.Dir, r.Store, f.Source, *st.Snapshot, planFor{})
		if err != nil {
			return run, err
		}
		run.Trigger, run.Error = "resume", ""
		run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
		if reasons := Hold(plan, f.Limits, last.Counts["records"]); len(reasons) > 0 {
			return r.hold(ctx, f, run, plan, *st.Snapshot, last, reasons, log)
		}
		return r.apply(ctx, f, run, plan, *st.Snapshot, archiver(f, *st.Snapshot), RunOptions{Trigger: "resume"}, log)
	})
}

// Interrupt closes a run a crash left applying that cannot be resumed (its
// feed is no longer configured): interrupted, with why. Part of its plan
// may have applied; its counts are the plan's. A run no longer applying
// is left as it is.
func (r *Runner) Interrupt(ctx context.Context, tenant, feed, runID, why string) (store.Run, error) {
	f := Feed{Source: Source{Tenant: tenant}, Feed: feed}
	return r.withRun(ctx, f, runID, func(run store.Run, log *slog.Logger) (store.Run, error) {
		if run.Status != store.RunApplying {
			return run, nil
		}
		run.Error = "interrupted while applying, part of its plan applied; the rest was not: " + why
		log.Warn("a run left applying cannot be resumed", "why", why)
		return r.finish(ctx, run, store.RunInterrupted, nil, log)
	})
}

// leanPlan is p without what its changes say the cards will be (Card,
// CardChanges), for storing.
func leanPlan(p Plan) Plan {
	p.Changes = slices.Clone(p.Changes)
	for i := range p.Changes {
		p.Changes[i].Card, p.Changes[i].CardChanges = nil, nil
	}
	return p
}
