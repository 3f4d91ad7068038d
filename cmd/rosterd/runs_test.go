package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// dyingDirectory applies a number of batches, then fails as a killed
// process would stop.
type dyingDirectory struct {
	*directory.Service
	left int
}

func (d *dyingDirectory) ApplyInputs(ctx context.Context, actor directory.Actor, n int, inputs func(lo, hi int) []directory.ClaimInput, opt directory.BatchOptions) ([]directory.Outcome, error) {
	var all []directory.Outcome
	for lo := 0; lo < n; lo += opt.Size {
		if d.left == 0 {
			return all, errors.New("killed")
		}
		d.left--
		out, err := d.Service.ApplyClaims(ctx, actor, inputs(lo, min(lo+opt.Size, n)))
		if err != nil {
			return all, err
		}
		all = append(all, out...)
	}
	return all, nil
}

// TestImportLeftApplyingResumesAtStart: an admin import killed half-way
// is finished when the daemon starts — with its invites — not left
// applying.
func TestImportLeftApplyingResumesAtStart(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		cfg := &config.Config{Tenants: []config.Tenant{{ID: "acme", Invite: "email"}}}
		dir := directory.NewService(st, policies(cfg))
		var csv strings.Builder
		csv.WriteString("Email,First Name\n")
		for i := range 30 {
			fmt.Fprintf(&csv, "p%02d@acme.example,P%d\n", i, i)
		}
		f := filefeed.ImportFeed("acme", "people.csv", []byte(csv.String()), filefeed.ImportOptions{Invite: true}, reconcile.Limits{MaxDisablePercent: 10, MaxDisableCount: 5})
		dying := &reconcile.Runner{Dir: &dyingDirectory{Service: dir, left: 2}, Store: st, Batch: 5, Workers: 1}
		run, err := dying.Run(ctx, f, reconcile.RunOptions{Trigger: "import", Actor: "cli"})
		if err == nil {
			t.Fatalf("import that dies: %+v", run.Status)
		}
		run.Status, run.Error = store.RunApplying, "" // the process died, not the apply
		if err := st.PutRun(ctx, run); err != nil {
			t.Fatal(err)
		}

		runner := &reconcile.Runner{Dir: dir, Store: st}
		if _, err := startScheduler(ctx, fileTenants(cfg), st, runner, nil, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetRun(ctx, "acme", run.ID)
		if err != nil || got.Status != store.RunApplied || got.Trigger != "resume" || got.Counts["create"] != 20 {
			t.Fatalf("import after the start: %s %s %v, %v", got.Status, got.Trigger, got.Counts, err)
		}
		page, _ := dir.List(ctx, directory.ListQuery{Tenant: "acme", Limit: 100})
		if len(page.Cards) != 30 {
			t.Fatalf("%d cards, want 30", len(page.Cards))
		}
		if outbox, _ := st.ListOutbox(ctx, "acme", 0, 100); len(outbox) != 30 {
			t.Fatalf("%d invites queued, want one for each of the 30 cards the import created", len(outbox))
		}
	})
}

// TestSyncRunsSaysWhy: the runs list gives, in one line, why a run failed.
func TestSyncRunsSaysWhy(t *testing.T) {
	dir, drop := t.TempDir(), t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+dir+`
tenants:
  - id: acme
    feeds:
      - name: hr
        kind: file
        source: dir://`+drop+`/employees-*.csv
        stable_for: 0s
`), 0o600)
	os.WriteFile(filepath.Join(drop, "employees-1.csv"), []byte("Name,Phone\nAnn,1\n"), 0o600)
	code, out, errOut := rosterdCmd(t, "sync", "run", "hr", "--config", cfg)
	if code == 0 || !regexp.MustCompile(`status\s+failed`).MatchString(out) {
		t.Fatalf("sync run of a file without an email column: exit %d\n%s\n%s", code, out, errOut)
	}
	why := regexp.MustCompile(`note\s+(.+)`).FindStringSubmatch(out)
	if why == nil {
		t.Fatalf("no note:\n%s", out)
	}
	code, out, _ = rosterdCmd(t, "sync", "runs", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "NOTE") || !strings.Contains(lines[1], "failed") ||
		!strings.Contains(lines[1], firstLine(why[1])) {
		t.Fatalf("runs: exit %d\n%s\nwant the failed run with %q", code, out, why[1])
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)[:min(40, len(strings.TrimSpace(s)))]
}

// TestRunOfARemovedFeedIsInterruptedAtStart: a run left applying whose
// feed is no longer configured cannot be resumed; it is marked
// interrupted, with why, rather than left applying for ever.
func TestRunOfARemovedFeedIsInterruptedAtStart(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		cfg := &config.Config{Tenants: []config.Tenant{{ID: "acme"}}}
		left := store.Run{ID: "01a20000-0000-7000-8000-000000000001", Tenant: "acme", Feed: "old-hr", Kind: "file", Status: store.RunApplying,
			Trigger: "schedule", Started: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), Counts: map[string]int{"create": 4}}
		if err := st.PutRun(ctx, left); err != nil {
			t.Fatal(err)
		}
		runner := &reconcile.Runner{Dir: directory.NewService(st, policies(cfg)), Store: st}
		if _, err := startScheduler(ctx, fileTenants(cfg), st, runner, nil, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetRun(ctx, "acme", left.ID)
		if err != nil || got.Status != store.RunInterrupted || !strings.Contains(got.Error, `feed "old-hr" is no longer configured`) || got.Finished.IsZero() {
			t.Fatalf("run of a removed feed after the start: %+v, %v", got, err)
		}
	})
}
