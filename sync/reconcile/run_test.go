package reconcile_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// roster makes a snapshot of people p<from>..p<to-1>.
func roster(from, to int, tweak func(i int, r *reconcile.Record)) reconcile.Snapshot {
	var s reconcile.Snapshot
	h := sha256.New()
	for i := from; i < to; i++ {
		email := fmt.Sprintf("p%03d@example.com", i)
		r := reconcile.Record{Key: email, Email: email, Line: fmt.Sprintf("hr.csv:%d", i+2),
			Attributes: store.Attributes{GivenName: "P", FamilyName: fmt.Sprint(i), Department: "R&D"}}
		if tweak != nil {
			tweak(i, &r)
		}
		s.Records = append(s.Records, r)
		fmt.Fprintf(h, "%v", r)
	}
	s.Name, s.Hash = "hr.csv", hex.EncodeToString(h.Sum(nil))
	return s
}

type env struct {
	dir    *directory.Service
	st     store.Backend
	runner *reconcile.Runner
	snap   reconcile.Snapshot
	feed   reconcile.Feed
	done   int
}

func newEnv(t *testing.T, st store.Backend) *env {
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
	e := &env{dir: dir, st: st, runner: &reconcile.Runner{Dir: dir, Store: st, Batch: 7, Workers: 2}}
	e.feed = reconcile.Feed{
		Source: reconcile.Source{Tenant: "acme", Name: "file:hr", Authoritative: true, Withdraw: true},
		Feed:   "hr", Kind: "file",
		Limits: reconcile.Limits{MaxDisablePercent: 10, MaxDisableCount: 50, MinSnapshotRatio: 0.5},
		Fetch: func(context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			return e.snap, func(context.Context) error { e.done++; return nil }, nil
		},
	}
	return e
}

func (e *env) enabled(t *testing.T) int {
	t.Helper()
	page, err := e.dir.List(ctx, directory.ListQuery{Tenant: "acme", Status: "enabled", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Cards)
}

func TestRunApplyHoldApproveReject(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		var progress []string
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual", Progress: func(phase reconcile.Phase, done, total int) {
			progress = append(progress, fmt.Sprintf("%s %d/%d", phase, done, total))
		}})
		if err != nil || run.Status != store.RunApplied || run.Counts["create"] != 40 || run.Counts["enable"] != 40 || e.enabled(t) != 40 || e.done != 1 {
			t.Fatalf("first run: %+v, %v; %d enabled, done %d", run, err, e.enabled(t), e.done)
		}
		// Read, then previewed in one batch (1,000 a preview), then
		// applied in six batches of at most 7, each told of all 40, in
		// whatever order the two workers commit them.
		want := []string{"reading 0/0", "reading 40/40", "planning 0/40", "planning 40/40", "applying 0/40"}
		if len(progress) != len(want)+6 || !slices.Equal(progress[:len(want)], want) || progress[len(progress)-1] != "applying 40/40" {
			t.Fatalf("progress %q, want %q, then six batches applied to 40/40", progress, want)
		}
		for _, p := range progress[len(want):] {
			if !strings.HasPrefix(p, "applying ") || !strings.HasSuffix(p, "/40") {
				t.Fatalf("progress %q: %q is not a batch of the apply", progress, p)
			}
		}
		// The same content again: skipped.
		again, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err != nil || again.Status != store.RunSkipped || !strings.Contains(again.Error, run.ID) {
			t.Fatalf("same content: %+v, %v", again, err)
		}
		// A dry run of a change plans it and changes nothing.
		e.snap = roster(0, 40, func(i int, r *reconcile.Record) {
			if i == 3 {
				r.Attributes.Title = "Lead"
			}
			if i == 4 {
				r.Deactivated = true
			}
		})
		dry, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{DryRun: true})
		if err != nil || dry.Status != store.RunPlanned || dry.Counts["update"] != 1 || dry.Counts["deactivate"] != 1 || dry.Counts["disable"] != 1 || dry.Counts["unchanged"] != 38 {
			t.Fatalf("dry run: %+v, %v", dry, err)
		}
		plan, _ := reconcile.LoadPlan(dry)
		if len(plan.Changes) != 2 || plan.Changes[0].Attributes[0].Name != "title" || plan.Changes[0].Attributes[0].New != "Lead" {
			t.Fatalf("dry run plan: %+v", plan.Changes)
		}
		if e.enabled(t) != 40 {
			t.Fatal("a dry run changed cards")
		}
		// A truncated file (half the people gone) is held.
		e.snap = roster(0, 15, nil)
		held, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "schedule"})
		if err != nil || held.Status != store.RunHeld || len(held.HoldReasons) == 0 || e.enabled(t) != 40 {
			t.Fatalf("truncated: %+v, %v; %d enabled", held, err, e.enabled(t))
		}
		if !strings.Contains(strings.Join(held.HoldReasons, "; "), "would disable 25 of the 40") {
			t.Fatalf("hold reasons: %v", held.HoldReasons)
		}
		// Rejected: every card as it was.
		rejected, err := e.runner.Reject(ctx, "acme", held.ID, "admin:ops")
		if err != nil || rejected.Status != store.RunRejected || e.enabled(t) != 40 {
			t.Fatalf("reject: %+v, %v; %d enabled", rejected, err, e.enabled(t))
		}
		if _, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops"); !errors.Is(err, reconcile.ErrNotHeld) {
			t.Fatalf("approving a rejected run: %v", err)
		}
		// Held again, approved: applied.
		e.snap = roster(0, 15, func(i int, r *reconcile.Record) { r.Attributes.Title = "x" }) // another hash
		held2, _ := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "schedule"})
		if held2.Status != store.RunHeld {
			t.Fatalf("second truncated run: %+v", held2)
		}
		approved, err := e.runner.Approve(ctx, e.feed, held2.ID, "admin:ops")
		if err != nil || approved.Status != store.RunApplied || approved.Counts["withdraw"] != 25 || e.enabled(t) != 15 {
			t.Fatalf("approve: %+v, %v; %d enabled", approved, err, e.enabled(t))
		}
		card, _ := e.dir.GetByEmail(ctx, "acme", "p030@example.com")
		if card.Enabled || !strings.Contains(card.Reason, "withdrawn by file:hr in run "+approved.ID) {
			t.Fatalf("withdrawn card: %+v", card)
		}
	})
}

func TestRunFailedReadChangesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 10, nil)
		e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		e.feed.Fetch = func(context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			return reconcile.Snapshot{}, nil, errors.New("connection reset by peer")
		}
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err == nil || run.Status != store.RunFailed || !strings.Contains(run.Error, "connection reset") || e.enabled(t) != 10 {
			t.Fatalf("failed read: %+v, %v; %d enabled", run, err, e.enabled(t))
		}
		e.feed.Fetch = func(context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			return reconcile.Snapshot{}, nil, fmt.Errorf("no file matches /drop/*.csv: %w", reconcile.ErrNothingNew)
		}
		run, err = e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || run.Status != store.RunSkipped || e.enabled(t) != 10 {
			t.Fatalf("nothing new: %+v, %v", run, err)
		}
	})
}

func TestRunBusy(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		release, ok, _ := st.TryLock(ctx, "feed:acme/hr")
		if !ok {
			t.Fatal("lock")
		}
		defer release()
		e.snap = roster(0, 3, nil)
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); !errors.Is(err, reconcile.ErrBusy) {
			t.Fatalf("run while another runs: %v", err)
		}
	})
}

func TestApplyIsIdempotentAndResumes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 30, nil)
		// A crash midway: the run is recorded applying with its snapshot,
		// and only part of the plan went in.
		failing := &failAfter{Service: e.dir, left: 2}
		crashed := &reconcile.Runner{Dir: failing, Store: st, Batch: 5, Workers: 1}
		run, err := crashed.Run(ctx, e.feed, reconcile.RunOptions{})
		if err == nil || run.Status != store.RunFailed {
			t.Fatalf("crashed run: %+v, %v", run, err)
		}
		partial := e.enabled(t)
		if partial == 0 || partial == 30 {
			t.Fatalf("%d cards after a crash midway; want some", partial)
		}
		// Simulate the process dying while applying: mark it so and resume.
		run.Status = store.RunApplying
		st.PutRun(ctx, run)
		resumed, err := e.runner.Resume(ctx, e.feed, run)
		if err != nil || resumed.Status != store.RunApplied || e.enabled(t) != 30 || resumed.Counts["create"] != 30-partial {
			t.Fatalf("resumed: %+v, %v; %d enabled", resumed, err, e.enabled(t))
		}
	})
}

// failAfter lets a number of ApplyInputs batches through, then fails.
type failAfter struct {
	*directory.Service
	left int
}

func (f *failAfter) ApplyInputs(ctx context.Context, actor directory.Actor, n int, inputs func(lo, hi int) []directory.ClaimInput, opt directory.BatchOptions) ([]directory.Outcome, error) {
	var all []directory.Outcome
	for lo := 0; lo < n; lo += opt.Size {
		if f.left == 0 {
			return all, errors.New("killed")
		}
		f.left--
		out, err := f.Service.ApplyClaims(ctx, actor, inputs(lo, min(lo+opt.Size, n)))
		if err != nil {
			return all, err
		}
		all = append(all, out...)
	}
	return all, nil
}

// TestFlaggedRowKeepsItsPerson: a row skipped for a bad cell names its
// person by key; a full roster does not withdraw them for the typo.
func TestFlaggedRowKeepsItsPerson(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 10, nil)
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		e.snap = roster(0, 10, nil)
		e.snap.Records = append(e.snap.Records[:5], e.snap.Records[6:]...)
		e.snap.Flagged = []reconcile.Flag{{Line: "hr.csv:7", Key: "p005@example.com", Reason: `invalid email "p005@example"`}}
		e.snap.Hash = "other"
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || run.Status != store.RunSkipped && run.Counts["withdraw"] != 0 || e.enabled(t) != 10 {
			t.Fatalf("run with a flagged row: %+v, %v; %d enabled", run, err, e.enabled(t))
		}
	})
}

// TestUnreadableRowHoldsWithdrawals: a row the parser could not read (no
// key) may be anyone the file no longer lists; a plan that has one and
// withdraws people is held, and says which lines and how many people.
func TestUnreadableRowHoldsWithdrawals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 40, nil)
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		// p007 and p031 are missing; two lines could not be read. The
		// withdrawals are within the limits (2 of 40).
		e.snap = roster(0, 40, nil)
		e.snap.Records = slices.DeleteFunc(e.snap.Records, func(r reconcile.Record) bool {
			return r.Key == "p007@example.com" || r.Key == "p031@example.com"
		})
		e.snap.Flagged = []reconcile.Flag{
			{Line: "hr.csv:5", Reason: "column \"Mail\" ignored", Header: true},
			{Line: "hr.csv:9", Reason: `" inside an unquoted value (line 9, column 30)`},
			{Line: "hr.csv:33", Reason: "value \"x\" in column 5, beyond the header's 4 columns"},
			{Line: "hr.csv:40", Key: "p038@example.com", Reason: "invalid email"},
		}
		e.snap.Hash = "with-unreadable-rows"
		held, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{})
		if err != nil || held.Status != store.RunHeld || e.enabled(t) != 40 {
			t.Fatalf("unreadable rows and withdrawals: %s %v, %v; %d enabled", held.Status, held.Counts, err, e.enabled(t))
		}
		want := "2 rows could not be read (hr.csv:9, hr.csv:33) and may list any of the 2 people it would withdraw"
		if !slices.Contains(held.HoldReasons, want) || len(held.HoldReasons) != 1 {
			t.Fatalf("hold reasons %q, want only %q", held.HoldReasons, want)
		}
		// Approved, the withdrawals apply.
		approved, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		if err != nil || approved.Status != store.RunApplied || approved.Counts["withdraw"] != 2 || e.enabled(t) != 38 {
			t.Fatalf("approve: %s %v, %v; %d enabled", approved.Status, approved.Counts, err, e.enabled(t))
		}
		// Unreadable rows without withdrawals, or keyed flags and header
		// notes with withdrawals, hold nothing.
		left := slices.Clone(e.snap.Records)
		e.snap.Flagged = []reconcile.Flag{{Line: "hr.csv:9", Reason: "broken"}}
		e.snap.Hash = "no-withdrawals"
		if run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); err != nil || run.Status != store.RunApplied || run.Counts["unchanged"] != 38 {
			t.Fatalf("unreadable row, nothing withdrawn: %s %v %v", run.Status, run.Counts, err)
		}
		e.snap.Records = slices.DeleteFunc(left, func(r reconcile.Record) bool { return r.Key == "p012@example.com" })
		e.snap.Flagged = []reconcile.Flag{{Line: "hr.csv:1", Reason: "column ignored", Header: true}, {Line: "hr.csv:4", Key: "p002@example.com", Reason: "invalid email"}}
		e.snap.Hash = "keyed-only"
		if run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{}); err != nil || run.Status != store.RunApplied || run.Counts["withdraw"] != 1 {
			t.Fatalf("keyed flags and a withdrawal: %s %v %v %v", run.Status, run.Counts, run.HoldReasons, err)
		}
	})
}

// TestImportAppliedAtOnceKeepsNoCardPreviews: an import's dry run — its
// review — says what each card will be; an import applied at once,
// reviewed by nobody, neither hands that on nor stores it (at a million
// new people it was a third of the plan's memory through the apply).
func TestImportAppliedAtOnceKeepsNoCardPreviews(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.feed.Source.Import, e.feed.Kind, e.feed.Feed = true, "import", "import"
		e.snap = roster(0, 5, nil)
		var reviewed, applied reconcile.Plan
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{DryRun: true, Trigger: "import",
			Planned: func(p reconcile.Plan) { reviewed = p }}); err != nil {
			t.Fatal(err)
		}
		if len(reviewed.Changes) != 5 || reviewed.Changes[0].Card == nil || reviewed.Changes[0].Card.FamilyName != "0" || len(reviewed.Changes[0].CardChanges) == 0 {
			t.Fatalf("the review does not say what the cards will be: %+v", reviewed.Changes)
		}
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "import", Planned: func(p reconcile.Plan) { applied = p }})
		if err != nil || run.Status != store.RunApplied || run.Counts["create"] != 5 {
			t.Fatalf("import: %+v, %v", run, err)
		}
		stored, err := reconcile.LoadPlan(run)
		if err != nil {
			t.Fatal(err)
		}
		// Applied at once, the plan lists its changes only in the run.
		if applied.Changes != nil || applied.Counts["create"] != 5 {
			t.Fatalf("the plan applied at once, as Planned is handed it: %d changes, counts %v", len(applied.Changes), applied.Counts)
		}
		if len(stored.Changes) != 5 {
			t.Fatalf("%d changes stored, want 5", len(stored.Changes))
		}
		for i, ch := range stored.Changes {
			if ch.Card != nil || ch.CardChanges != nil {
				t.Fatalf("an import applied at once kept %s's card preview: %+v", ch.Email, ch)
			}
			if want := fmt.Sprintf("p%03d@example.com", i); ch.Action != reconcile.Create || ch.Email != want || ch.Effect != "enable" {
				t.Fatalf("stored change %d: %+v, want a create of %s", i, ch, want)
			}
		}

		// A held import keeps them for whoever approves it: two of the
		// five disabled trips the brake (10 %).
		e.snap = roster(0, 5, func(i int, r *reconcile.Record) {
			r.Deactivated = i < 2
			r.Attributes.Department = "Sales"
		})
		run, err = e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "import"})
		if err != nil || run.Status != store.RunHeld {
			t.Fatalf("import: %+v, %v", run, err)
		}
		held, err := reconcile.LoadPlan(run)
		if err != nil || len(held.Changes) != 5 {
			t.Fatalf("held plan: %+v, %v", held, err)
		}
		for _, ch := range held.Changes {
			want := []directory.AttributeChange{{Name: "department", Old: "R&D", New: "Sales"}}
			if ch.Card == nil || ch.Card.Department != "Sales" || !slices.Equal(ch.CardChanges, want) || ch.Version == 0 {
				t.Fatalf("the held import does not say what %s's card will be: %+v", ch.Email, ch)
			}
		}
	})
}
