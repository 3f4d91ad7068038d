package filefeed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// runEnv runs a file feed over a drop folder against a real store.
type runEnv struct {
	t      *testing.T
	dir    *directory.Service
	runner *reconcile.Runner
	drop   string
	feed   reconcile.Feed
}

func newRunEnv(t *testing.T, st store.Backend, lim reconcile.Limits) *runEnv {
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
	e := &runEnv{t: t, dir: dir, runner: &reconcile.Runner{Dir: dir, Store: st}, drop: t.TempDir()}
	archive := ""
	e.feed = NewFeed("acme", config.Feed{Name: "hr", Kind: "file", File: config.FileFeed{
		Source: "dir://" + filepath.ToSlash(e.drop) + "/*.csv", StableFor: -1, Archive: &archive,
	}}, lim, nil)
	return e
}

// run drops content as hr.csv and runs the feed.
func (e *runEnv) run(content string) store.Run {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.drop, "hr.csv"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	run, err := e.runner.Run(context.Background(), e.feed, reconcile.RunOptions{Trigger: "manual"})
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return run
}

func (e *runEnv) card(email string) directory.Card {
	e.t.Helper()
	c, err := e.dir.GetByEmail(context.Background(), "acme", email)
	if err != nil {
		e.t.Fatalf("card %s: %v", email, err)
	}
	return c
}

var generous = reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000}

// TestFeedDuplicateKeyKeepsTheCard: two rows of one key leave that
// person's card exactly as it was, and create nothing for a new key.
func TestFeedDuplicateKeyKeepsTheCard(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newRunEnv(t, st, generous)
		run := e.run("Email,First Name,Title\nann@example.com,Ann,Rep\nbob@example.com,Bob,Engineer\ncarol@example.com,Carol,Analyst\n")
		if run.Status != store.RunApplied || run.Counts["create"] != 3 {
			t.Fatalf("first run: %s %v", run.Status, run.Counts)
		}
		before := e.card("ann@example.com")
		// Ann twice (which title is right?), Dan twice (new), Carol gone.
		run = e.run("Email,First Name,Title\nAnn@Example.com,Ann,Lead\nbob@example.com,Bob,Engineer\nann@example.COM,Annie,Manager\n" +
			"dan@example.com,Dan,Intern\nDAN@example.com,Daniel,Intern\n")
		if run.Status != store.RunApplied || run.Counts["create"] != 0 || run.Counts["withdraw"] != 1 || run.Counts["update"] != 0 {
			t.Fatalf("run with duplicates: %s %v %v %s", run.Status, run.Counts, run.HoldReasons, run.Error)
		}
		after := e.card("ann@example.com")
		if !after.Enabled || after.Version != before.Version || after.Attributes.Title != "Rep" || after.Attributes.GivenName != "Ann" {
			t.Fatalf("ann's card changed: before %+v, after %+v", before, after)
		}
		if _, err := e.dir.GetByEmail(context.Background(), "acme", "dan@example.com"); err == nil {
			t.Fatal("a card was created from duplicate rows")
		}
		if e.card("carol@example.com").Enabled {
			t.Fatal("carol, whom the file no longer lists, is still enabled")
		}
	})
}

// TestFeedUnreadableRowHolds: a broken line in a file that no longer
// lists someone holds the run, naming the line.
func TestFeedUnreadableRowHolds(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newRunEnv(t, st, generous)
		if run := e.run("Email,First Name,Title\nann@example.com,Ann,Rep\nbob@example.com,Bob,Engineer\n"); run.Status != store.RunApplied {
			t.Fatalf("first run: %s %v", run.Status, run.Counts)
		}
		// Bob's row is broken (a bare quote): he is not gone, he is unread.
		run := e.run("Email,First Name,Title\nann@example.com,Ann,Rep\nbob@example.com,Bob,Director of \"Apollo\" Software\n")
		if run.Status != store.RunHeld || !e.card("bob@example.com").Enabled {
			t.Fatalf("run with a broken line: %s %v %v", run.Status, run.Counts, run.HoldReasons)
		}
		if got := strings.Join(run.HoldReasons, "; "); !strings.Contains(got, "1 row could not be read (hr.csv:3)") || !strings.Contains(got, "the one person it would withdraw") {
			t.Fatalf("hold reasons: %s", got)
		}
	})
}

// TestFeedLimitsFromConfig: a feed's configured limits refuse a file,
// and the failed run names the file and the setting; nobody is touched.
func TestFeedLimitsFromConfig(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newRunEnv(t, st, generous)
		if run := e.run("Email,First Name\nann@example.com,Ann\n"); run.Status != store.RunApplied {
			t.Fatalf("first run: %s %v", run.Status, run.Counts)
		}
		for _, tc := range []struct {
			file    config.FileFeed
			content string
			want    string
		}{
			{config.FileFeed{MaxFileSize: 100}, "Email,First Name\n" + strings.Repeat("bob@example.com,Bob\n", 10), "over max_file_size 100B"},
			{config.FileFeed{MaxCellLength: 10}, "Email,First Name\nann@example.com,Annabelle Marie\n", "hr.csv:2: over a size limit: a value in column 1 is longer than max_cell_length 10B"},
		} {
			archive := ""
			tc.file.Source, tc.file.StableFor, tc.file.Archive = "dir://"+filepath.ToSlash(e.drop)+"/*.csv", -1, &archive
			e.feed = NewFeed("acme", config.Feed{Name: "hr", Kind: "file", File: tc.file}, generous, nil)
			if err := os.WriteFile(filepath.Join(e.drop, "hr.csv"), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			run, err := e.runner.Run(context.Background(), e.feed, reconcile.RunOptions{})
			if err == nil || run.Status != store.RunFailed || !strings.Contains(run.Error, tc.want) || !e.card("ann@example.com").Enabled {
				t.Fatalf("run over a limit: %s %q, %v; want failed with %q", run.Status, run.Error, err, tc.want)
			}
		}
	})
}
