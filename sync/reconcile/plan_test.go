package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// TestPlanPreviewsEveryBatch: a plan of several preview batches (they run
// at once) notes each outcome on its own change: the people another
// source already brought in are claimed, by their card, the others
// created and enabled.
func TestPlanPreviewsEveryBatch(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		const n = 2500
		var ins []directory.ClaimInput
		for i := 0; i < n; i += 7 {
			ins = append(ins, directory.ClaimInput{Tenant: "acme", Source: "scim:entra", ExternalID: fmt.Sprint("u", i),
				Email: fmt.Sprintf("p%03d@example.com", i), State: store.Present, Authoritative: true})
		}
		outs, err := e.dir.ApplyAll(ctx, directory.Actor{Name: "scim:entra"}, ins, directory.BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cardOf := map[string]string{}
		for i, o := range outs {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			cardOf[ins[i].Email] = o.Card.ID
		}

		p, err := reconcile.MakePlan(ctx, e.dir, st, e.feed.Source, roster(0, n, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) != n || p.Counts["claim"] != len(ins) || p.Counts["create"] != n-len(ins) || p.Counts["enable"] != n-len(ins) {
			t.Fatalf("%d changes, counts %v; want %d claims and %d creates that enable", len(p.Changes), p.Counts, len(ins), n-len(ins))
		}
		for i, ch := range p.Changes {
			want := fmt.Sprintf("p%03d@example.com", i)
			id, had := cardOf[want]
			switch {
			case ch.Email != want:
				t.Fatalf("change %d is %s, want %s (the records' order)", i, ch.Email, want)
			case had && (ch.Action != reconcile.Claim || ch.CardID != id || ch.Effect != ""):
				t.Fatalf("%s: %s of %q, effect %q; want a claim of %s, no effect (enabled already)", want, ch.Action, ch.CardID, ch.Effect, id)
			case !had && (ch.Action != reconcile.Create || ch.Effect != "enable"):
				t.Fatalf("%s: %s, effect %q; want create, enable", want, ch.Action, ch.Effect)
			}
		}
	})
}

// failingPreview fails the preview of any batch that holds key.
type failingPreview struct {
	reconcile.Directory
	key string
}

func (f failingPreview) Preview(ctx context.Context, actor directory.Actor, ins []directory.ClaimInput) ([]directory.Outcome, error) {
	for _, in := range ins {
		if in.ExternalID == f.key {
			return nil, errors.New("the store went away")
		}
	}
	return f.Directory.Preview(ctx, actor, ins)
}

func TestPlanFailsWhenOnePreviewFails(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newEnv(t, st)
	_, err := reconcile.MakePlan(ctx, failingPreview{e.dir, "p1500@example.com"}, st, e.feed.Source, roster(0, 2500, nil))
	if err == nil || !strings.Contains(err.Error(), "previewing the plan: the store went away") {
		t.Fatalf("MakePlan = %v, want the failed preview's error", err)
	}
}

// TestRunFailsWhenOnePreviewFails: a run that would apply at once (its
// plan streamed, never listed) fails when one preview batch fails, and
// applies nothing: not the batches previewed before it either.
func TestRunFailsWhenOnePreviewFails(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.runner.Dir = failingPreview{e.dir, "p1500@example.com"}
		e.snap = roster(0, 2500, nil)
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err == nil || run.Status != store.RunFailed || !strings.Contains(run.Error, "the store went away") {
			t.Fatalf("run: %s %q, %v; want failed with the preview's error", run.Status, run.Error, err)
		}
		if n := e.enabled(t); n != 0 {
			t.Fatalf("%d cards enabled after a failed plan, want none", n)
		}
	})
}

// TestApplySkipsWhatThePreviewRefused: a change the directory refuses (an
// email another card holds) is not applied, and the changes around it are.
func TestApplySkipsWhatThePreviewRefused(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 5, nil)
		if run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil || run.Status != store.RunApplied {
			t.Fatalf("first run: %+v, %v", run, err)
		}
		e.snap = roster(0, 5, func(i int, r *reconcile.Record) {
			switch i {
			case 1:
				r.Email = "p002@example.com" // p002's card has it
			case 0, 3:
				r.Attributes.Title = "Lead"
			}
		})
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err != nil || run.Status != store.RunApplied || run.Counts["update"] != 3 || run.Counts["refused"] != 1 || run.Counts["applied"] != 2 {
			t.Fatalf("run: %+v, %v", run.Counts, err)
		}
		for email, title := range map[string]string{"p000@example.com": "Lead", "p001@example.com": "", "p003@example.com": "Lead"} {
			c, err := e.dir.GetByEmail(ctx, "acme", email)
			if err != nil || c.Attributes.Title != title {
				t.Fatalf("%s: title %q, %v; want %q", email, c.Attributes.Title, err, title)
			}
		}
	})
}

// TestWithdrawalsComeLastByKey: the people a full roster no longer lists
// are withdrawn after the roster's own changes, in key order.
func TestWithdrawalsComeLastByKey(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newEnv(t, st)
	e.snap = roster(0, 40, nil)
	if run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil || run.Status != store.RunApplied {
		t.Fatalf("first run: %+v, %v", run, err)
	}
	p, err := reconcile.MakePlan(ctx, e.dir, st, e.feed.Source, roster(30, 41, nil))
	if err != nil || len(p.Changes) != 31 || p.Counts["withdraw"] != 30 || p.Counts["disable"] != 30 {
		t.Fatalf("plan: %d changes, %v, %v", len(p.Changes), p.Counts, err)
	}
	if ch := p.Changes[0]; ch.Action != reconcile.Create || ch.Email != "p040@example.com" {
		t.Fatalf("first change: %+v", ch)
	}
	for i, ch := range p.Changes[1:] {
		if want := fmt.Sprintf("p%03d@example.com", i); ch.Action != reconcile.Withdraw || ch.Key != want || ch.Email != want || ch.Effect != "disable" {
			t.Fatalf("withdrawal %d: %+v, want %s", i, ch, want)
		}
	}
}

// TestPartialPlanComparesLikeTheDirectory: a partial source's snapshot of
// only email and department, run against claims that hold names too:
// unchanged people are "unchanged" (their names are not cleared), a new
// department is an update of that attribute only, an empty cell changes
// nothing; applied, the names stay. With clear_empty the empty cell is a
// change that clears the department, and the plan says so.
func TestPartialPlanComparesLikeTheDirectory(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 3, func(i int, r *reconcile.Record) { r.Attributes.Role = "editor" })
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil {
			t.Fatal(err)
		}
		src := e.feed.Source
		src.Partial = true
		snap := roster(0, 3, func(i int, r *reconcile.Record) {
			r.Attributes = store.Attributes{Department: []string{"R&D", "Sales", ""}[i]}
		})
		snap.Columns = []string{"department"}
		p, err := reconcile.MakePlan(ctx, e.dir, st, src, snap)
		if err != nil {
			t.Fatal(err)
		}
		if p.Counts["unchanged"] != 2 || len(p.Changes) != 1 || !p.Partial || p.ClearEmpty {
			t.Fatalf("partial plan: %+v", p)
		}
		ch := p.Changes[0]
		if ch.Action != reconcile.Update || ch.Email != "p001@example.com" || len(ch.Attributes) != 1 ||
			ch.Attributes[0] != (directory.AttributeChange{Name: "department", Old: "R&D", New: "Sales"}) || len(ch.Cleared) != 0 {
			t.Fatalf("change: %+v", ch)
		}

		src.ClearEmpty = true
		p, err = reconcile.MakePlan(ctx, e.dir, st, src, snap)
		if err != nil {
			t.Fatal(err)
		}
		if p.Counts["unchanged"] != 1 || len(p.Changes) != 2 || !p.ClearEmpty {
			t.Fatalf("clear-empty plan: %+v", p)
		}
		if ch := p.Changes[1]; ch.Email != "p002@example.com" || !slicesEqual(ch.Cleared, []string{"department"}) {
			t.Fatalf("clear-empty change: %+v", ch)
		}
		var csv strings.Builder
		if err := p.WriteCSV(&csv); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(csv.String(), "update,p002@example.com,p002@example.com,") || !strings.Contains(csv.String(), ",department: R&D → ,department,") {
			t.Fatalf("CSV plan:\n%s", csv.String())
		}
	})
}

// TestFullRosterPlanListsWhatItClears: a full-roster file that lost its
// department column clears everyone's department; each change lists it.
func TestFullRosterPlanListsWhatItClears(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	e := newEnv(t, st)
	e.snap = roster(0, 2, nil)
	if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil {
		t.Fatal(err)
	}
	snap := roster(0, 2, func(i int, r *reconcile.Record) { r.Attributes.Department = "" })
	p, err := reconcile.MakePlan(ctx, e.dir, st, e.feed.Source, snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 {
		t.Fatalf("plan: %+v", p)
	}
	for _, ch := range p.Changes {
		if !slicesEqual(ch.Cleared, []string{"department"}) {
			t.Fatalf("change %s clears %v, want [department]", ch.Email, ch.Cleared)
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestHeldPartialPlanApprovedStaysPartial: a partial feed's run is held
// (it would withdraw most people); approved, it is planned again from
// the stored snapshot, which keeps its columns: the names stay.
func TestHeldPartialPlanApprovedStaysPartial(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		e.snap = roster(0, 10, nil)
		if _, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil {
			t.Fatal(err)
		}
		e.feed.Source.Partial = true
		e.snap = roster(0, 3, func(i int, r *reconcile.Record) { r.Attributes = store.Attributes{Department: "Sales"} })
		e.snap.Columns = []string{"department"}
		held, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err != nil || held.Status != store.RunHeld {
			t.Fatalf("run: %+v, %v", held, err)
		}
		run, err := e.runner.Approve(ctx, e.feed, held.ID, "admin:ops")
		if err != nil || run.Status != store.RunApplied || run.Counts["update"] != 3 || run.Counts["withdraw"] != 7 {
			t.Fatalf("approve: %+v, %v", run, err)
		}
		card, err := e.dir.GetByEmail(ctx, "acme", "p001@example.com")
		if err != nil || card.Attributes.GivenName != "P" || card.Attributes.FamilyName != "1" || card.Attributes.Department != "Sales" {
			t.Fatalf("p001 after the approved partial run: %+v, %v", card.Attributes, err)
		}
	})
}
