package reconcile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
}

// RunOptions says how a run was asked for.
type RunOptions struct {
	DryRun  bool
	Trigger string // schedule | manual | import
	Actor   string
	// Progress, when set, is told how many changes were applied so far.
	Progress func(done, total int)
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

// stored is what a run keeps of its plan: the plan, and the snapshot it
// was made from while it may still be applied (held or applying), so that
// an approval or a resumed apply can plan again against current claims.
type stored struct {
	Plan     Plan      `json:"plan"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
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

// Run runs a feed once. The returned run is recorded whatever became of it;
// the error is the run's (or ErrBusy, when no run was started).
func (r *Runner) Run(ctx context.Context, f Feed, opt RunOptions) (store.Run, error) {
	release, ok, err := r.Store.TryLock(ctx, lockName(f))
	if err != nil {
		return store.Run{}, err
	}
	if !ok {
		return store.Run{}, fmt.Errorf("%w: %s/%s", ErrBusy, f.Source.Tenant, f.Feed)
	}
	defer release()

	run := store.Run{ID: uuid.Must(uuid.NewV7()).String(), Tenant: f.Source.Tenant, Feed: f.Feed, Kind: f.Kind,
		Status: store.RunPlanned, DryRun: opt.DryRun, Trigger: opt.Trigger, Actor: opt.Actor, Started: r.now()}
	log := r.logger().With("tenant", run.Tenant, "feed", run.Feed, "run", run.ID)
	finish := func(status string, err error) (store.Run, error) {
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

	snap, done, err := f.Fetch(ctx)
	if errors.Is(err, ErrNothingNew) {
		return finish(store.RunSkipped, nil)
	}
	if err != nil {
		return finish(store.RunFailed, fmt.Errorf("reading the source: %w", err))
	}
	run.FileName, run.FileSize, run.FileHash = snap.Name, snap.Size, snap.Hash
	if snap.Flagged != nil {
		run.Flagged, _ = json.Marshal(snap.Flagged)
	}

	lastApplied, lastErr := r.Store.LastRun(ctx, run.Tenant, run.Feed, store.RunApplied)
	if lastErr != nil && !errors.Is(lastErr, store.ErrNotFound) {
		return finish(store.RunFailed, lastErr)
	}
	// An import is planned whatever the last one was: the admin may send
	// the same file again with other options (clear_empty, full_roster).
	if !opt.DryRun && f.Kind != "import" && snap.Hash != "" && lastErr == nil && lastApplied.FileHash == snap.Hash {
		run.Error = fmt.Sprintf("same content as run %s", lastApplied.ID)
		run.Counts = map[string]int{"records": len(snap.Records), "flagged": len(snap.Flagged)}
		run.Status, run.Finished = store.RunSkipped, r.now()
		return run, r.Store.PutRun(ctx, run)
	}

	plan, err := MakePlan(ctx, r.Dir, r.Store, f.Source, snap)
	if err != nil {
		return finish(store.RunFailed, err)
	}
	run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
	if opt.DryRun {
		if run.Plan, err = encodePlan(stored{Plan: plan}); err != nil {
			return finish(store.RunFailed, err)
		}
		return finish(store.RunPlanned, nil)
	}
	if reasons := Hold(plan, f.Limits, lastApplied.Counts["records"]); len(reasons) > 0 {
		run.HoldReasons = reasons
		if run.Plan, err = encodePlan(stored{Plan: plan, Snapshot: &snap}); err != nil {
			return finish(store.RunFailed, err)
		}
		log.Warn("feed run held for approval", "reasons", reasons)
		return finish(store.RunHeld, nil)
	}
	return r.apply(ctx, f, run, plan, snap, done, opt, log)
}

// apply applies a plan in bounded transactions. The run is recorded as
// applying first, with its snapshot, so that a crash midway resumes
// (Resume) rather than leaving half a plan and no record of it.
func (r *Runner) apply(ctx context.Context, f Feed, run store.Run, plan Plan, snap Snapshot, done func(context.Context) error, opt RunOptions, log *slog.Logger) (store.Run, error) {
	var err error
	run.Status = store.RunApplying
	if run.Plan, err = encodePlan(stored{Plan: plan, Snapshot: &snap}); err != nil {
		return run, err
	}
	if err := r.Store.PutRun(ctx, run); err != nil {
		return run, err
	}
	if len(plan.ins) != len(plan.Changes) {
		return run, fmt.Errorf("plan of %d changes carries %d claims: only a plan made by MakePlan applies", len(plan.Changes), len(plan.ins))
	}
	ins := plan.ins // all of them, unless the preview refused some
	if plan.Counts["refused"] > 0 {
		ins = make([]directory.ClaimInput, 0, len(plan.ins))
		for i, ch := range plan.Changes {
			if ch.Refused == "" {
				ins = append(ins, plan.ins[i])
			}
		}
	}
	applied := 0
	outs, err := r.Dir.ApplyAll(ctx, directory.Actor{Name: f.Source.Name, RunID: run.ID}, ins, directory.BatchOptions{
		Size: r.Batch, Workers: r.Workers,
		Done: func(n int) {
			applied += n
			if opt.Progress != nil {
				opt.Progress(applied, len(ins))
			}
		},
	})
	if run.Counts == nil {
		run.Counts = map[string]int{}
	}
	for _, o := range outs {
		if o.Changed {
			run.Counts["applied"]++
		}
		if o.Err != nil {
			run.Counts["refused"]++
		}
	}
	if err != nil {
		run.Status, run.Finished, run.Error = store.RunFailed, r.now(), "applying: "+err.Error()
		// Keep the snapshot: the same plan applies again idempotently.
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

// Approve applies a held run. The plan is made again from the run's
// snapshot, so changes of the source's claims since it was held are taken
// into account; the admin's approval stands in for the brake.
func (r *Runner) Approve(ctx context.Context, f Feed, runID, actor string) (store.Run, error) {
	release, ok, err := r.Store.TryLock(ctx, lockName(f))
	if err != nil {
		return store.Run{}, err
	}
	if !ok {
		return store.Run{}, fmt.Errorf("%w: %s/%s", ErrBusy, f.Source.Tenant, f.Feed)
	}
	defer release()
	run, err := r.Store.GetRun(ctx, f.Source.Tenant, runID)
	if err != nil {
		return run, err
	}
	if run.Status != store.RunHeld || run.Feed != f.Feed {
		return run, fmt.Errorf("%w: run %s is %s", ErrNotHeld, runID, run.Status)
	}
	st, err := decodePlan(run.Plan)
	if err != nil || st.Snapshot == nil {
		return run, fmt.Errorf("run %s: its snapshot cannot be read: %v", runID, err)
	}
	plan := st.Plan
	if fp, err := r.Store.SourceFingerprint(ctx, f.Source.Tenant, f.Source.Name); err != nil {
		return run, err
	} else if fp != plan.Fingerprint {
		r.logger().Info("source changed since the plan was held; planning again", "run", runID)
	}
	// Always plan again: the stored plan keeps no claim inputs, and a
	// plan against current claims is right either way.
	if plan, err = MakePlan(ctx, r.Dir, r.Store, f.Source, *st.Snapshot); err != nil {
		return run, err
	}
	run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
	run.Trigger, run.Actor, run.Error = "approval", actor, ""
	log := r.logger().With("tenant", run.Tenant, "feed", run.Feed, "run", run.ID)
	return r.apply(ctx, f, run, plan, *st.Snapshot, nil, RunOptions{Trigger: "approval", Actor: actor}, log)
}

// Reject closes a held run; nothing of it is applied.
func (r *Runner) Reject(ctx context.Context, tenant, runID, actor string) (store.Run, error) {
	run, err := r.Store.GetRun(ctx, tenant, runID)
	if err != nil {
		return run, err
	}
	if run.Status != store.RunHeld {
		return run, fmt.Errorf("%w: run %s is %s", ErrNotHeld, runID, run.Status)
	}
	st, err := decodePlan(run.Plan)
	if err == nil {
		st.Snapshot = nil
		run.Plan, _ = encodePlan(st)
	}
	run.Status, run.Finished, run.Actor = store.RunRejected, r.now(), actor
	return run, r.Store.PutRun(ctx, run)
}

// Resume finishes a run a crash left applying: its snapshot is planned
// again against the claims as they are (what was applied is unchanged now)
// and the rest applied.
func (r *Runner) Resume(ctx context.Context, f Feed, run store.Run) (store.Run, error) {
	release, ok, err := r.Store.TryLock(ctx, lockName(f))
	if err != nil {
		return run, err
	}
	if !ok {
		return run, fmt.Errorf("%w: %s/%s", ErrBusy, f.Source.Tenant, f.Feed)
	}
	defer release()
	full, err := r.Store.GetRun(ctx, run.Tenant, run.ID)
	if err != nil {
		return run, err
	}
	st, err := decodePlan(full.Plan)
	if err != nil || st.Snapshot == nil {
		full.Status, full.Finished, full.Error = store.RunFailed, r.now(), "interrupted, and its snapshot cannot be read"
		return full, r.Store.PutRun(ctx, full)
	}
	plan, err := MakePlan(ctx, r.Dir, r.Store, f.Source, *st.Snapshot)
	if err != nil {
		return full, err
	}
	full.Trigger, full.Error = "resume", ""
	full.Counts, full.Fingerprint = plan.Counts, plan.Fingerprint
	log := r.logger().With("tenant", full.Tenant, "feed", full.Feed, "run", full.ID)
	return r.apply(ctx, f, full, plan, *st.Snapshot, nil, RunOptions{Trigger: "resume"}, log)
}

// LoadPlan returns a run's stored plan.
func LoadPlan(run store.Run) (Plan, error) {
	st, err := decodePlan(run.Plan)
	return st.Plan, err
}

func encodePlan(st stored) ([]byte, error) {
	var buf bytes.Buffer
	// BestSpeed: a plan is written once and rarely read again; for 100,000
	// creates the default level took 73 ms against 44, for 4 % fewer bytes.
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := writeStored(zw, st); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeStored writes st as encoding/json does (and a newline), the plan's
// changes and the snapshot's records one at a time: json.Encoder builds a
// whole value in memory before it writes, 20 MB for a plan of 100,000
// creates and far more with a snapshot of a million records. The rest is
// marshalled with the two lists left out, and the lists are written where
// json put their null: a key such as "changes" can only appear in that
// output unescaped as the key itself.
func writeStored(w io.Writer, st stored) error {
	changes := st.Plan.Changes
	st.Plan.Changes = nil
	var records []Record
	if st.Snapshot != nil {
		snap := *st.Snapshot
		records, snap.Records = snap.Records, nil
		st.Snapshot = &snap
	}
	shell, err := json.Marshal(st)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head, rest, ok := bytes.Cut(shell, []byte(`"changes":null`))
	if !ok {
		return errors.New("encoding a plan: no changes key in its JSON")
	}
	bw.Write(head)
	bw.WriteString(`"changes":`)
	if err := writeList(bw, changes); err != nil {
		return err
	}
	if st.Snapshot != nil {
		var mid []byte
		if mid, rest, ok = bytes.Cut(rest, []byte(`"Records":null`)); !ok {
			return errors.New("encoding a plan: no records key in its snapshot's JSON")
		}
		bw.Write(mid)
		bw.WriteString(`"Records":`)
		if err := writeList(bw, records); err != nil {
			return err
		}
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeList writes xs as a JSON array, an element at a time (null for nil,
// as encoding/json).
func writeList[T any](w *bufio.Writer, xs []T) error {
	if xs == nil {
		_, err := w.WriteString("null")
		return err
	}
	enc := json.NewEncoder(w)
	w.WriteByte('[')
	for i := range xs {
		if i > 0 {
			w.WriteByte(',')
		}
		if err := enc.Encode(&xs[i]); err != nil { // the value, then a newline
			return err
		}
	}
	return w.WriteByte(']')
}

func decodePlan(b []byte) (stored, error) {
	var st stored
	if len(b) == 0 {
		return st, errors.New("no plan stored")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return st, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}
