package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// crash runs the env's snapshot with a runner that dies after two batches
// of five, and leaves the run as a killed process does: applying.
func (e *env) crash(t *testing.T) store.Run {
	t.Helper()
	crashed := &reconcile.Runner{Dir: &failAfter{Service: e.dir, left: 2}, Store: e.st, Batch: 5, Workers: 1}
	run, err := crashed.Run(ctx, e.feed, reconcile.RunOptions{})
	if err == nil || run.Status != store.RunFailed {
		t.Fatalf("crashed run: %+v, %v", run, err)
	}
	run.Status, run.Error = store.RunApplying, ""
	if err := e.st.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestResumeAfterANewerRunIsSuperseded: a run left applying whose feed
// applied a newer snapshot since is never applied: its older snapshot
// would withdraw everyone the newer one added, past the brake.
func TestResumeAfterANewerRunIsSuperseded(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		stale := e.crash(t)
		// Another replica runs the feed meanwhile: 100 people.
		e.snap = roster(0, 100, nil)
		newer, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || newer.Status != store.RunApplied || e.enabled(t) != 100 {
			t.Fatalf("newer run: %+v, %v; %d enabled", newer, err, e.enabled(t))
		}
		resumed, err := e.runner.Resume(ctx, e.feed, stale)
		if err != nil || resumed.Status != "superseded" || !strings.Contains(resumed.Error, newer.ID) || e.enabled(t) != 100 {
			t.Fatalf("stale resume: %+v, %v; %d enabled, want superseded by %s and 100", resumed, err, e.enabled(t), newer.ID)
		}
		if got, _ := st.GetRun(ctx, "acme", stale.ID); got.Status != "superseded" || got.Finished.IsZero() {
			t.Fatalf("stored stale run: %+v", got)
		}
		if last, _ := st.LastRun(ctx, "acme", "hr", store.RunApplied); last.ID != newer.ID {
			t.Fatalf("last applied %s, want %s", last.ID, newer.ID)
		}
	})
}

// TestResumeOfAFinishedRunChangesNothing: a replica that read a run as
// applying, and resumes it after another replica finished it, leaves it
// applied — and so the next truncated file is still compared with it.
func TestResumeOfAFinishedRunChangesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		// Only the truncated-file check can hold a run here.
		e.feed.Limits = reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000, MinSnapshotRatio: 0.5}
		e.snap = roster(0, 40, nil)
		applied, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || applied.Status != store.RunApplied {
			t.Fatalf("run: %+v, %v", applied, err)
		}
		readBefore := applied
		readBefore.Status = store.RunApplying // what the late replica read
		again, err := e.runner.Resume(ctx, e.feed, readBefore)
		if err != nil || again.Status != store.RunApplied {
			t.Fatalf("resume of an applied run: %+v, %v", again, err)
		}
		if got, _ := st.GetRun(ctx, "acme", applied.ID); got.Status != store.RunApplied || got.Error != "" {
			t.Fatalf("stored run after a late resume: %+v", got)
		}
		e.snap = roster(0, 15, nil)
		held, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || held.Status != store.RunHeld || !strings.Contains(strings.Join(held.HoldReasons, ";"), "under 0.5 of the last applied one (40)") {
			t.Fatalf("truncated file after a late resume: %+v, %v", held, err)
		}
	})
}

// TestResumedPlanGoesThroughTheBrake: what is left of a run is planned
// again at resume and held when it breaks the brake as it is now (the
// admin tightened the limits after the crash).
func TestResumedPlanGoesThroughTheBrake(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		e.feed.Limits = reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000}
		e.snap = roster(0, 15, nil) // 25 withdrawals, 10 of them in before the crash
		stale := e.crash(t)
		if n := e.enabled(t); n != 30 {
			t.Fatalf("%d enabled after the crash, want 30", n)
		}
		e.feed.Limits = reconcile.Limits{MaxDisablePercent: 10, MaxDisableCount: 5}
		resumed, err := e.runner.Resume(ctx, e.feed, stale)
		if err != nil || resumed.Status != store.RunHeld || resumed.Counts["withdraw"] != 15 || e.enabled(t) != 30 {
			t.Fatalf("resume past the brake: %+v, %v; %d enabled", resumed, err, e.enabled(t))
		}
		if !strings.Contains(strings.Join(resumed.HoldReasons, ";"), "more than max_disable_count 5") {
			t.Fatalf("hold reasons: %v", resumed.HoldReasons)
		}
		approved, err := e.runner.Approve(ctx, e.feed, stale.ID, "admin:ops")
		if err != nil || approved.Status != store.RunApplied || e.enabled(t) != 15 {
			t.Fatalf("approved after the resume held it: %+v, %v; %d enabled", approved, err, e.enabled(t))
		}
	})
}

// TestApproveAppliesWhatWasShown: a held plan that would do something
// else now (a newer run applied) is not applied: the approval is refused
// with what changed, and the fresh plan is held in its place.
func TestApproveAppliesWhatWasShown(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		e.snap = roster(0, 15, nil)
		held, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || held.Status != store.RunHeld || held.Counts["withdraw"] != 25 {
			t.Fatalf("held: %+v, %v", held, err)
		}
		// Ten more people arrive in a newer file before the admin decides.
		e.snap = roster(0, 50, nil)
		newer, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || newer.Status != store.RunApplied || e.enabled(t) != 50 {
			t.Fatalf("newer: %+v, %v", newer, err)
		}
		got, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		var changed *reconcile.ChangedError
		if !errors.As(err, &changed) || !errors.Is(err, reconcile.ErrChanged) || got.Status != store.RunHeld || e.enabled(t) != 50 {
			t.Fatalf("approval of a plan that changed: %+v, %v; %d enabled", got, err, e.enabled(t))
		}
		what := strings.Join(changed.Changes, "; ")
		for _, want := range []string{"run " + newer.ID + " was applied since", "withdraw 25 → 35"} {
			if !strings.Contains(what, want) {
				t.Errorf("changes %q: no %q", what, want)
			}
		}
		if got.Counts["withdraw"] != 35 || len(got.HoldReasons) == 0 {
			t.Fatalf("fresh plan held: %+v", got)
		}
		if stored, _ := st.GetRun(ctx, "acme", held.ID); stored.Status != store.RunHeld || stored.Counts["withdraw"] != 35 {
			t.Fatalf("stored run: %+v", stored)
		}
		// Approved as now shown: applied.
		approved, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		if err != nil || approved.Status != store.RunApplied || e.enabled(t) != 15 {
			t.Fatalf("second approval: %+v, %v; %d enabled", approved, err, e.enabled(t))
		}
	})
}

// TestApprovedRunIsArchived: an approved held run's file is moved as a
// direct run's is, once it applied; a rejected one's is not.
func TestApprovedRunIsArchived(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		var archived []string
		e.feed.Archive = func(_ context.Context, snap reconcile.Snapshot) error {
			archived = append(archived, snap.Hash)
			return nil
		}
		e.snap = roster(0, 40, nil)
		e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		e.snap = roster(0, 15, nil)
		held, _ := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if held.Status != store.RunHeld || len(archived) != 0 || e.done != 1 {
			t.Fatalf("held: %+v; archived %v, done %d", held, archived, e.done)
		}
		approved, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		if err != nil || approved.Status != store.RunApplied || len(archived) != 1 || archived[0] != e.snap.Hash {
			t.Fatalf("approved: %+v, %v; archived %v", approved, err, archived)
		}
	})
}

// TestApproveAfterACardWasEdited: a card edited since the plan was held
// (an admin disabled one of the people it would disable) changes what the
// plan does; the approval is refused with what changed.
func TestApproveAfterACardWasEdited(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		e.snap = roster(0, 15, nil)
		held, _ := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if held.Status != store.RunHeld || held.Counts["disable"] != 25 {
			t.Fatalf("held: %s %v", held.Status, held.Counts)
		}
		card, _ := e.dir.GetByEmail(ctx, "acme", "p030@example.com")
		if _, err := e.dir.Disable(ctx, directory.Actor{Name: "admin:ops"}, "acme", card.ID, "left early"); err != nil {
			t.Fatal(err)
		}
		got, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		var changed *reconcile.ChangedError
		if !errors.As(err, &changed) || got.Status != store.RunHeld || e.enabled(t) != 39 {
			t.Fatalf("approval after an edit: %s, %v; %d enabled", got.Status, err, e.enabled(t))
		}
		if what := strings.Join(changed.Changes, "; "); !strings.Contains(what, "disable 25 → 24") || strings.Contains(what, "was applied since") {
			t.Fatalf("changes: %s", what)
		}
	})
}
