package ldapfeed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/ldaptest"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

func personDN(i int) string { return fmt.Sprintf("uid=u%05d,%s", i, ldaptest.People) }

// writePeople writes people from..to-1; tweak may add lines to an entry.
func writePeople(w io.Writer, from, to int, tweak func(i int) string) error {
	for i := from; i < to; i++ {
		extra := ""
		if tweak != nil {
			extra = tweak(i)
		}
		if _, err := fmt.Fprintf(w, "dn: %s\nobjectClass: inetOrgPerson\n%suid: u%05d\ncn: Person %d\nsn: N%d\ngivenName: Person\nmail: u%05d@example.com\ntitle: Engineer\ndepartmentNumber: R&D\nemployeeNumber: %d\n\n",
			personDN(i), extra, i, i, i, i, i); err != nil {
			return err
		}
	}
	return nil
}

// feedCfg is a feed reading s as the reader account over StartTLS.
func feedCfg(s *ldaptest.Server) config.LDAPFeed {
	return config.LDAPFeed{URL: s.URL, BindDN: s.ReaderDN, BindPassword: s.ReaderPassword, BaseDN: ldaptest.People,
		Scope: "sub", PageSize: 500, CAFile: s.CAFile, Timeout: config.Duration(20 * time.Second)}
}

func TestSlapdPaging10kStartTLS(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, 10000, nil) }})
	pages, biggest := 0, 0
	o := &options{tenant: "acme", feed: "corp", cfg: feedCfg(s), now: time.Now, onPage: func(p, n int) { pages = p; biggest = max(biggest, n) }}
	snap, err := o.fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Records) != 10000 || len(snap.Flagged) != 0 {
		t.Fatalf("%d records, %d flagged", len(snap.Records), len(snap.Flagged))
	}
	if pages <= 1 || biggest > 500 {
		t.Fatalf("%d pages, biggest %d entries: want > 1 page of at most 500", pages, biggest)
	}
	t.Logf("10000 entries in %d pages", pages)
	r := snap.Records[0]
	if len(r.Key) != 36 || !strings.HasSuffix(r.Email, "@example.com") || r.Attributes.Department != "R&D" || r.Attributes.EmployeeID == "" || r.Attributes.FamilyName == "" {
		t.Fatalf("record: %+v", r)
	}
	// The next read is sized by this one's 10,000; one sized too small
	// (700: a first chunk, then pages) or far too big (the directory
	// shrank) reads the same snapshot, and does not keep the room it did
	// not need.
	for _, found := range []int64{10000, 700, 100000} {
		if got := o.found.Load(); found == 10000 && got != 10000 {
			t.Fatalf("found after a read of 10,000: %d", got)
		}
		o.found.Store(found)
		again, err := o.fetch(ctx)
		if err != nil || again.Hash != snap.Hash || !reflect.DeepEqual(again.Records, snap.Records) {
			t.Fatalf("read sized for %d: %d records, %v; not the first read's", found, len(again.Records), err)
		}
		if cap(again.Records) > 2*len(again.Records) {
			t.Fatalf("read sized for %d keeps room for %d records", found, cap(again.Records))
		}
	}

	// The same certificate checked against another name fails; the
	// override to a name it has passes; no CA (the system pool) fails.
	for _, tc := range []struct {
		name string
		edit func(c *config.LDAPFeed)
		err  error
	}{
		{"server name override", func(c *config.LDAPFeed) { c.TLSServerName = "localhost" }, nil},
		{"wrong server name", func(c *config.LDAPFeed) { c.TLSServerName = "dc1.corp.example" }, ErrTLS},
		{"system pool", func(c *config.LDAPFeed) { c.CAFile = "" }, ErrTLS},
		{"plain refused without insecure_plaintext", func(c *config.LDAPFeed) { c.URL = s.URL; c.CAFile = "" }, ErrTLS},
		{"insecure_plaintext", func(c *config.LDAPFeed) { c.InsecurePlaintext = true; c.CAFile = "" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := feedCfg(s)
			cfg.BaseDN, cfg.Scope = personDN(1), "base"
			tc.edit(&cfg)
			o := &options{tenant: "acme", feed: "corp", cfg: cfg, now: time.Now}
			snap, err := o.fetch(ctx)
			if tc.err == nil && (err != nil || len(snap.Records) != 1) {
				t.Fatalf("%v, %d records", err, len(snap.Records))
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

func TestSlapdSizeLimit(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{SizeLimit: "100", WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, 300, nil) }})
	o := &options{tenant: "acme", feed: "corp", cfg: feedCfg(s), now: time.Now}
	o.cfg.PageSize = 50
	_, err := o.fetch(ctx)
	if !errors.Is(err, ErrSizeLimit) {
		t.Fatalf("got %v, want a size limit error", err)
	}
	t.Log(err)
}

type runEnv struct {
	dir    *directory.Service
	runner *reconcile.Runner
	feed   reconcile.Feed
	opts   *options
}

func newRunEnv(t testing.TB, st store.Backend, s *ldaptest.Server) *runEnv {
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	dir := directory.NewService(st, map[string]directory.Policy{"acme": policy})
	o := &options{tenant: "acme", feed: "corp", cfg: feedCfg(s), now: time.Now}
	return &runEnv{dir: dir, opts: o, runner: &reconcile.Runner{Dir: dir, Store: st, Batch: 200, Workers: 2},
		feed: o.reconcileFeed(true, reconcile.Limits{MaxDisablePercent: 50, MaxDisableCount: 100, MinSnapshotRatio: 0.5})}
}

func (e *runEnv) card(t *testing.T, email string) directory.Card {
	t.Helper()
	c, err := e.dir.GetByEmail(ctx, "acme", email)
	if err != nil {
		t.Fatalf("card %s: %v", email, err)
	}
	return c
}

// cards is every card: id → "email enabled version".
func (e *runEnv) cards(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	q := directory.ListQuery{Tenant: "acme", Limit: 1000}
	for {
		page, err := e.dir.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Cards {
			out[c.ID] = fmt.Sprintf("%s %t %d", c.Email, c.Enabled, c.Version)
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

func TestSlapdRunRemovedRenamedDisabled(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error {
			if err := writePeople(w, 0, 30, func(i int) string {
				switch i {
				case 3: // AD's disabled bit, through the test schema
					return "objectClass: rosterdTestAccount\nuserAccountControl: 514\n"
				case 4:
					return "manager: " + personDN(0) + "\n"
				}
				return ""
			}); err != nil {
				return err
			}
			// No email: flagged, not a person to withdraw.
			_, err := fmt.Fprintf(w, "dn: uid=nomail,%s\nobjectClass: inetOrgPerson\nuid: nomail\ncn: No Mail\nsn: Mail\n\n", ldaptest.People)
			return err
		}})
		e := newRunEnv(t, st, s)
		run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err != nil || run.Status != store.RunApplied || run.Counts["create"] != 30 {
			t.Fatalf("first run: %+v, %v", run, err)
		}
		if !strings.Contains(string(run.Flagged), "uid=nomail") || !strings.Contains(string(run.Flagged), "no email") {
			t.Fatalf("flagged: %s", run.Flagged)
		}
		if e.card(t, "u00003@example.com").Enabled {
			t.Fatal("userAccountControl 514: card enabled")
		}
		if c := e.card(t, "u00004@example.com"); !c.Enabled || c.Attributes.ManagerEmail != "u00000@example.com" {
			t.Fatalf("managed person: %+v", c)
		}
		removed, renamed, remailed := e.card(t, "u00005@example.com"), e.card(t, "u00006@example.com"), e.card(t, "u00007@example.com")
		if !removed.Enabled {
			t.Fatal("u00005 not enabled")
		}

		// In the directory: 5 leaves, 6 is moved to a new DN, 7 changes email.
		admin := s.Admin(t)
		if err := admin.Del(ldap.NewDelRequest(personDN(5), nil)); err != nil {
			t.Fatal(err)
		}
		if err := admin.ModifyDN(ldap.NewModifyDNRequest(personDN(6), "uid=renamed6", true, "")); err != nil {
			t.Fatal(err)
		}
		mod := ldap.NewModifyRequest(personDN(7), nil)
		mod.Replace("mail", []string{"new7@example.com"})
		if err := admin.Modify(mod); err != nil {
			t.Fatal(err)
		}
		run, err = e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
		if err != nil || run.Status != store.RunApplied || run.Counts["withdraw"] != 1 || run.Counts["create"] != 0 {
			t.Fatalf("second run: %+v, %v", run, err)
		}
		if c := e.card(t, "u00005@example.com"); c.ID != removed.ID || c.Enabled {
			t.Fatalf("removed person: %+v", c)
		}
		if c := e.card(t, "u00006@example.com"); c.ID != renamed.ID || !c.Enabled {
			t.Fatalf("renamed DN: %+v, was %s", c, renamed.ID)
		}
		if c := e.card(t, "new7@example.com"); c.ID != remailed.ID || !c.Enabled {
			t.Fatalf("changed email: %+v, was %s", c, remailed.ID)
		}
	})
}

// failMidSearch applies a first run of n people read in pages of 100, then
// runs again with stop(s) called after the third page, and checks that the
// run fails with want and that no card changed. It returns the run.
func failMidSearch(t *testing.T, n int, stop func(*ldaptest.Server), edit func(*options), want error) store.Run {
	t.Helper()
	st := storetest.Migrated(t, storetest.OpenSQLite)
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, n, nil) }})
	e := newRunEnv(t, st, s)
	e.opts.cfg.PageSize = 100
	if run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"}); err != nil || run.Status != store.RunApplied {
		t.Fatalf("first run: %+v, %v", run, err)
	}
	before := e.cards(t)
	if edit != nil {
		edit(e.opts)
	}
	e.opts.onPage = func(p, _ int) {
		if p == 3 {
			stop(s)
		}
	}
	run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
	if err == nil || run.Status != store.RunFailed || !errors.Is(err, want) {
		t.Fatalf("run: %+v, %v; want it failed with %v", run, err, want)
	}
	// The search fails on a page after the third, and says which and how
	// many entries came before it. Which one depends on timing: pages are
	// read one ahead, so the 4th may have arrived before the stop, and a
	// signal takes effect a moment after it is sent (under -race, with
	// other tests loading the machine, a 5th page was seen answered).
	m := regexp.MustCompile(`failed on page (\d+) after (\d+) entries`).FindStringSubmatch(run.Error)
	if m == nil || !strings.Contains(run.Error, "nothing is withdrawn") {
		t.Fatalf("error: %s", run.Error)
	}
	if page, entries := atoi(t, m[1]), atoi(t, m[2]); page < 4 || entries != (page-1)*100 {
		t.Fatalf("failed on page %d after %d entries: want a page after the 3rd, after the entries of the pages before it", page, entries)
	}
	t.Log(run.Error)
	after := e.cards(t)
	if len(after) != len(before) || len(before) != n {
		t.Fatalf("%d cards before, %d after", len(before), len(after))
	}
	for id, v := range before {
		if after[id] != v {
			t.Fatalf("card %s changed: %s → %s", id, v, after[id])
		}
	}
	return run
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSlapdKilledMidSearch(t *testing.T) {
	failMidSearch(t, 2000, (*ldaptest.Server).Kill, nil, ErrConnection)
}

// TestSlapdStopsAnswering: a server that keeps the connection open and
// answers nothing more (slapd frozen mid-search) fails the run after the
// request timeout. The error names the feed's own 1 s timer; a run that
// waited for the frozen server instead would hang until go test's
// timeout, which catches it without a clock check here.
func TestSlapdStopsAnswering(t *testing.T) {
	run := failMidSearch(t, 1000, (*ldaptest.Server).Freeze, func(o *options) { o.cfg.Timeout = config.Duration(time.Second) }, ErrTimeout)
	if !strings.Contains(run.Error, "did not answer in time") || !strings.Contains(run.Error, "within 1s") {
		t.Fatalf("error: %s", run.Error)
	}
}

func TestSlapdBadPassword(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error { return writePeople(w, 0, 5, nil) }})
	e := newRunEnv(t, st, s)
	e.opts.cfg.BindPassword = "wrong"
	run, err := e.runner.Run(ctx, e.feed, reconcile.RunOptions{Trigger: "manual"})
	if err == nil || run.Status != store.RunFailed || !errors.Is(err, ErrBind) {
		t.Fatalf("bad password: %+v, %v", run, err)
	}
	if !strings.Contains(run.Error, `bind as "cn=reader,dc=example,dc=com"`) || !strings.Contains(run.Error, "Invalid Credentials") {
		t.Fatalf("error: %s", run.Error)
	}
	t.Log(run.Error)
}
