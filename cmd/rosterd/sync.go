package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/dropbox"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/ldapfeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/sync/schedule"
	"github.com/rosterd/rosterd/tenant"
)

// feedsOf builds every configured feed of every tenant, by "tenant/feed";
// log takes the feeds' warnings.
func feedsOf(cfg *config.Config, now func() time.Time, log *slog.Logger) map[string]reconcile.Feed {
	out := map[string]reconcile.Feed{}
	for _, t := range cfg.Tenants {
		limits := tenant.FromConfig(&t).Limits()
		for _, f := range t.Feeds {
			switch f.Kind {
			case "file":
				// A source: upload feed reads its drop box inbox.
				out[t.ID+"/"+f.Name] = filefeed.NewFeed(t.ID, dropbox.AsDirFeed(cfg, t.ID, f), limits, now)
			case "ldap":
				out[t.ID+"/"+f.Name] = ldapfeed.NewFeed(t.ID, f, limits, log)
			}
		}
	}
	return out
}

// findFeed resolves FEED or TENANT/FEED; with one tenant the tenant may be
// left out.
func findFeed(cfg *config.Config, feeds map[string]reconcile.Feed, name, tenant string) (reconcile.Feed, error) {
	if t, f, ok := strings.Cut(name, "/"); ok {
		tenant, name = t, f
	}
	if tenant == "" {
		if len(cfg.Tenants) != 1 {
			return reconcile.Feed{}, fmt.Errorf("%w: several tenants: name the feed as TENANT/FEED or give --tenant", errUsage)
		}
		tenant = cfg.Tenants[0].ID
	}
	f, ok := feeds[tenant+"/"+name]
	if !ok {
		var names []string
		for k := range feeds {
			names = append(names, k)
		}
		return reconcile.Feed{}, fmt.Errorf("%w: no feed %s/%s (configured: %s)", errUsage, tenant, name, strings.Join(names, ", "))
	}
	return f, nil
}

// app is what the one-shot commands open: configuration, store, directory.
type app struct {
	cfg    *config.Config
	st     store.Backend
	dir    *directory.Service
	logger *slog.Logger
	reg    *tenant.Registry // registry's cache
}

// tenant is the tenant a command names with --tenant, or the only one.
func (a *app) tenant(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if len(a.cfg.Tenants) != 1 {
		return "", fmt.Errorf("%w: several tenants: give --tenant", errUsage)
	}
	return a.cfg.Tenants[0].ID, nil
}

// parseInterleaved parses flags that may stand before, between or after
// the positional arguments ("sync plan hr --tenant acme"), and returns the
// positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			positional, args = append(positional, args[0]), args[1:]
		}
	}
	return positional, nil
}

func openApp(ctx context.Context, g globalFlags, stderr io.Writer) (*app, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	if g.logLevel == "" {
		cfg.Log.Level = "warn" // a command's own output is what matters
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	if err := prepareSchema(ctx, cfg, st, logger); err != nil {
		st.Close()
		return nil, err
	}
	invites, err := inviteKey(cfg, logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &app{cfg: cfg, st: st, logger: logger,
		dir: directory.NewService(st, policies(cfg), directory.WithLogger(logger), directory.WithInviteKey(invites))}, nil
}

// registry is the store's tenant registry (read, never written), loaded
// once; nil when it cannot be read (said in the log).
func (a *app) registry(ctx context.Context) *tenant.Registry {
	if a.reg != nil {
		return a.reg
	}
	reg := tenant.New(a.st, tenant.Options{Logger: a.logger, DropBox: a.cfg.APIDropBox(), Secrets: func() (*secretbox.Box, error) { return secretsBox(a.cfg, a.logger) }})
	if err := reg.Reload(ctx); err != nil {
		a.logger.Warn("reading the tenant registry", "err", err)
		return nil
	}
	a.reg = reg
	return reg
}

// tenantIDs are the tenants the commands know: the file's, then those the
// admin API made (the registry's), each once.
func (a *app) tenantIDs(ctx context.Context) []string {
	var ids []string
	seen := map[string]bool{}
	for _, t := range a.cfg.Tenants {
		ids, seen[t.ID] = append(ids, t.ID), true
	}
	if reg := a.registry(ctx); reg != nil {
		for _, t := range reg.List() {
			if !seen[t.ID()] {
				ids, seen[t.ID()] = append(ids, t.ID()), true
			}
		}
	}
	return ids
}

// registryRunner is a runner whose directory takes the registry's
// policies: for the tenants the admin API made.
func (a *app) registryRunner(reg *tenant.Registry) *reconcile.Runner {
	dir := directory.NewService(a.st, nil, directory.WithPolicies(reg), directory.WithLogger(a.logger), directory.WithInviteKey(a.dir.InviteKey()))
	return &reconcile.Runner{Dir: dir, Store: a.st, Logger: a.logger}
}

// registryFeed finds FEED or TENANT/FEED among the feeds the admin API
// added, in the store's registry, with a runner whose directory takes the
// registry's policies.
func (a *app) registryFeed(ctx context.Context, name, tenantID string) (reconcile.Feed, *reconcile.Runner, bool) {
	if t, f, ok := strings.Cut(name, "/"); ok {
		tenantID, name = t, f
	}
	if tenantID == "" && len(a.cfg.Tenants) == 1 {
		tenantID = a.cfg.Tenants[0].ID
	}
	reg := a.registry(ctx)
	if reg == nil {
		return reconcile.Feed{}, nil, false
	}
	t, err := reg.Get(ctx, tenantID)
	if err != nil {
		return reconcile.Feed{}, nil, false
	}
	fc, ok := t.Feed(name)
	if !ok || fc.ManagedBy != store.ManagedByAPI {
		return reconcile.Feed{}, nil, false
	}
	f, ok := buildFeed(a.cfg, t, fc, nil, a.logger)
	if !ok {
		return reconcile.Feed{}, nil, false
	}
	return f, a.registryRunner(reg), true
}

func (a *app) runner() *reconcile.Runner {
	return &reconcile.Runner{Dir: a.dir, Store: a.st, Logger: a.logger}
}

func syncCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = `Usage: rosterd sync COMMAND [flags]

Commands:
  plan FEED       fetch and plan, apply nothing (a dry run); --output plan.csv|plan.json
  run FEED        run the feed now: fetch, plan, apply (or hold)
  approve RUN     apply a held run
  reject RUN      close a held run; nothing is applied
  runs            list recent runs (--feed FEED)

FEED is the feed's name, or TENANT/FEED when there are several tenants.`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	var g globalFlags
	fs := newFlagSet("sync "+sub, "See rosterd sync --help.", stderr, &g)
	tenantFlag := fs.String("tenant", "", "the tenant (when there are several)")
	output := fs.String("output", "", "(plan) also write the plan to `FILE`, CSV or JSON by its extension")
	feedFilter := fs.String("feed", "", "(runs) only this feed's runs")
	actor := fs.String("actor", "cli", "(approve, reject) who decides, for the audit trail")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	feeds := feedsOf(a.cfg, nil, a.logger)

	switch sub {
	case "plan", "run":
		if len(positional) != 1 {
			return fmt.Errorf("%w: sync %s takes one FEED", errUsage, sub)
		}
		runner := a.runner()
		f, err := findFeed(a.cfg, feeds, positional[0], *tenantFlag)
		if err != nil {
			// Not the file's: perhaps a feed the admin API added.
			rf, rr, ok := a.registryFeed(ctx, positional[0], *tenantFlag)
			if !ok {
				return err
			}
			f, runner = rf, rr
		}
		line := progress(stderr)
		opt := reconcile.RunOptions{DryRun: sub == "plan", Trigger: "manual", Actor: "cli", Progress: line.report()}
		run, err := runner.Run(ctx, f, opt)
		line.end()
		printRun(stdout, run)
		if err != nil {
			return err
		}
		if *output != "" {
			return writePlan(run, *output)
		}
		return nil
	case "approve", "reject":
		if len(positional) != 1 {
			return fmt.Errorf("%w: sync %s takes one RUN id", errUsage, sub)
		}
		run, err := findRun(ctx, a, positional[0], *tenantFlag)
		if err != nil {
			return err
		}
		// The run's tenant is the file's, or one the admin API made: then
		// its feed, its import's limits and its policy are the registry's.
		runner := a.runner()
		var apiTenant *tenant.Tenant
		if _, ok := a.cfg.FindTenant(run.Tenant); !ok {
			reg := a.registry(ctx)
			if reg == nil {
				return fmt.Errorf("run %s: tenant %s is not in the configuration, and the tenant registry could not be read", run.ID, run.Tenant)
			}
			t, err := reg.Get(ctx, run.Tenant)
			if err != nil {
				return fmt.Errorf("run %s: tenant %s: %w", run.ID, run.Tenant, err)
			}
			apiTenant, runner = t, a.registryRunner(reg)
		}
		if sub == "reject" {
			run, err = runner.Reject(ctx, run.Tenant, run.ID, "cli:"+*actor)
		} else {
			var f reconcile.Feed
			var ferr error
			switch {
			case run.Kind == "import" && apiTenant != nil:
				f, ferr = importFeedOf(apiTenant, run)
			case run.Kind == "import":
				tc, _ := a.cfg.FindTenant(run.Tenant)
				f, ferr = importFeedOf(tenant.FromConfig(tc), run)
			case apiTenant != nil:
				var ok bool
				if f, _, ok = a.registryFeed(ctx, run.Feed, run.Tenant); !ok {
					ferr = fmt.Errorf("run %s: tenant %s has no feed %s any more", run.ID, run.Tenant, run.Feed)
				}
			default:
				f, ferr = findFeed(a.cfg, feeds, run.Tenant+"/"+run.Feed, "")
			}
			if ferr != nil {
				return ferr
			}
			run, err = runner.Approve(ctx, f, run.ID, "cli:"+*actor)
		}
		printRun(stdout, run)
		var changed *reconcile.ChangedError
		if errors.As(err, &changed) {
			// Nothing applied; the fresh plan is held, printed above.
			return fmt.Errorf("not applied: the plan changed since it was held (%s); read it again, then approve or reject %s",
				strings.Join(changed.Changes, "; "), run.ID)
		}
		return err
	case "runs":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tTENANT\tFEED\tSTATUS\tSTARTED\tFILE\tCHANGES\tNOTE")
		for _, id := range a.tenantIDs(ctx) {
			if *tenantFlag != "" && id != *tenantFlag {
				continue
			}
			runs, err := a.st.ListRuns(ctx, store.RunQuery{Tenant: id, Feed: *feedFilter, Limit: 20})
			if err != nil {
				return err
			}
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Tenant, r.Feed, r.Status, r.Started.Format(time.RFC3339), r.FileName,
					countsLine(r.Counts), oneLine(r.Error))
			}
		}
		return tw.Flush()
	default:
		return fmt.Errorf("%w: unknown sync command %q", errUsage, sub)
	}
}

func findRun(ctx context.Context, a *app, id, tenant string) (store.Run, error) {
	for _, t := range a.tenantIDs(ctx) {
		if tenant != "" && t != tenant {
			continue
		}
		run, err := a.st.GetRun(ctx, t, id)
		if err == nil {
			return run, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return run, err
		}
	}
	return store.Run{}, fmt.Errorf("no run %s", id)
}

// printRun prints a run's outcome as a short table.
func printRun(w io.Writer, r store.Run) {
	if r.ID == "" {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s\n", r.ID)
	fmt.Fprintf(tw, "feed\t%s/%s\n", r.Tenant, r.Feed)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	switch {
	case r.FileName != "" && r.FileSize > 0:
		fmt.Fprintf(tw, "file\t%s (%d bytes, sha256 %.12s…)\n", r.FileName, r.FileSize, r.FileHash)
	case r.FileName != "":
		// A directory read (LDAP) has no byte size. (An empty file, refused
		// as having no header, is shown this way too.)
		fmt.Fprintf(tw, "source\t%s (sha256 %.12s…)\n", r.FileName, r.FileHash)
	}
	for _, k := range []string{"records", "flagged", "create", "claim", "update", "deactivate", "reactivate", "withdraw", "unchanged", "enable", "disable", "refused", "applied"} {
		if n, ok := r.Counts[k]; ok {
			fmt.Fprintf(tw, "%s\t%d\n", k, n)
		}
	}
	label := "held"
	if r.Status != store.RunHeld {
		label = "was held"
	}
	for _, reason := range r.HoldReasons {
		fmt.Fprintf(tw, "%s\t%s\n", label, reason)
	}
	if r.Status == store.RunHeld {
		fmt.Fprintf(tw, "\t→ rosterd sync approve %s   or   rosterd sync reject %s\n", r.ID, r.ID)
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "note\t%s\n", r.Error)
	}
	tw.Flush()
	if len(r.Flagged) > 2 {
		fmt.Fprintf(w, "flagged rows: %s\n", r.Flagged)
	}
}

// oneLine is a run's error for a table cell: one line, at most 160
// characters (rosterd sync runs; the API and printRun show it whole).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:159]) + "…"
	}
	return s
}

func countsLine(c map[string]int) string {
	var parts []string
	for _, k := range []string{"create", "claim", "update", "deactivate", "reactivate", "withdraw", "enable", "disable", "flagged"} {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
		}
	}
	return strings.Join(parts, ", ")
}

func writePlan(run store.Run, path string) error {
	plan, err := reconcile.LoadPlan(run)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		err = plan.WriteJSON(f)
	} else {
		err = plan.WriteCSV(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// importCommand is the admin's one-off import: the admin API's own import
// (admin.API.Import, as POST …/imports and the console's import pages run
// it), with the admin as the source; it adds and updates, and disables
// nobody unless the file is declared the full roster.
func importCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("import", `Import people from a CSV, TSV or XLSX file as the admin: adds and updates cards; with --full-roster also withdraws the admin's claim on everyone the file omits. Only the attributes the file has columns for change; an empty cell leaves its attribute as it is unless --clear-empty.

FILE - reads pasted rows from standard input (a header row, then a row per person, split by commas or tabs, as a spreadsheet's copy gives them): rosterd import - --tenant acme < rows.txt

--columns is the admin API's columns: a JSON object of header → target, a card field (email, given_name, location, …), custom.<name>, relation.<name> (a relation the tenant declares) or ignore, for example
  --columns '{"Office Location": "location", "Parent": "relation.parent"}'
Given, it is the whole mapping on top of the headers rosterd knows, each of its headers must be in the file, and it becomes the tenant's import default, as through the API and the console; not given, that default applies.

Usage: rosterd import FILE|- --tenant T [--columns JSON] [--dry-run] [--invite] [--full-roster] [--clear-empty]`, stderr, &g)
	tenantID := fs.String("tenant", "", "the tenant to import into (required with several tenants)")
	columnsFlag := fs.String("columns", "", "the column mapping, a JSON object of header → target (see above)")
	dryRun := fs.Bool("dry-run", false, "plan only: print what would change")
	invite := fs.Bool("invite", false, "send invites to the cards the import creates (never to existing ones)")
	fullRoster := fs.Bool("full-roster", false, "the file is everyone: withdraw the admin's claims on people it omits")
	clearEmpty := fs.Bool("clear-empty", false, "an empty cell clears its attribute (default: an empty cell leaves it as it is)")
	output := fs.String("output", "", "also write the plan to `FILE` (CSV or JSON)")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: import takes one FILE (or - for standard input)", errUsage)
	}
	var columns map[string]string
	if *columnsFlag != "" {
		// Decoded as the API decodes its columns; the mapping itself is
		// checked by the import (filefeed.CheckColumns and the tenant's
		// relations), with errors that name the header.
		if err := json.Unmarshal([]byte(*columnsFlag), &columns); err != nil || columns == nil {
			return fmt.Errorf(`%w: --columns must be a JSON object of header → target, such as {"Office Location": "location"}`, errUsage)
		}
	}
	name, data, err := readImportInput(positional[0])
	if err != nil {
		return err
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	t, err := a.tenant(*tenantID)
	if err != nil {
		return err
	}
	if _, ok := a.cfg.FindTenant(t); !ok {
		return fmt.Errorf("%w: no tenant %q", errUsage, t)
	}
	api := admin.New(nil, fileRegistry(fileTenants(a.cfg)), a.logger, prometheus.NewRegistry()).
		With(admin.Services{Directory: a.dir, Store: a.st, Runner: a.runner()})
	line := progress(stderr)
	body, err := api.Import(ctx, t, "cli", admin.ImportInput{Name: name, Data: data, Columns: columns, DryRun: *dryRun, Invite: *invite,
		FullRoster: *fullRoster, ClearEmpty: *clearEmpty, Interruptible: true, Progress: line.report()})
	line.end()
	var refused *admin.ImportError
	if errors.As(err, &refused) {
		if refused.Status == http.StatusBadRequest {
			return fmt.Errorf("%w: %s", errUsage, refused.Message)
		}
		return errors.New(refused.Message)
	}
	if err != nil {
		return err
	}
	printRun(stdout, body.Run)
	if body.Failure != nil {
		return body.Failure
	}
	if body.Failed() {
		return fmt.Errorf("the import failed: %s", body.Error)
	}
	if *output != "" {
		return writePlan(body.Run, *output)
	}
	return nil
}

// readImportInput reads an import's FILE, or pasted rows from standard
// input for "-" (read under admin.PastedName, as the API reads its text).
// Either is held to max_file_size before more is read.
func readImportInput(path string) (name string, data []byte, err error) {
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, config.DefaultMaxFileSize+1))
		if err != nil {
			return "", nil, fmt.Errorf("reading standard input: %w", err)
		}
		if err := filefeed.CheckImportSize("standard input", int64(len(data))); err != nil {
			return "", nil, err
		}
		if strings.TrimSpace(string(data)) == "" {
			return "", nil, fmt.Errorf("%w: standard input is empty: paste a header row and a row per person", errUsage)
		}
		return admin.PastedName, data, nil
	}
	if fi, err := os.Stat(path); err != nil {
		return "", nil, err
	} else if err := filefeed.CheckImportSize(path, fi.Size()); err != nil {
		return "", nil, err
	}
	data, err = os.ReadFile(path)
	return path, data, err
}

// fileRegistry is the file's tenants as the admin API looks tenants up,
// for the commands that work without the registry (import: its safety
// limits are the file's tenant's).
type fileRegistry []*tenant.Tenant

func (f fileRegistry) Get(_ context.Context, id string) (*tenant.Tenant, error) {
	for _, t := range f {
		if t.ID() == id {
			return t, nil
		}
	}
	return nil, tenant.ErrNotFound
}

func (f fileRegistry) List() []*tenant.Tenant { return f }

// startScheduler resumes the runs a crash left applying, of the tenants
// given (the registry's at start), and returns a scheduler armed with
// their scheduled feeds; serve re-arms it whenever the registry changes.
func startScheduler(ctx context.Context, tenants []*tenant.Tenant, st store.Backend, runner *reconcile.Runner, feeds map[string]reconcile.Feed, logger *slog.Logger) (*schedule.Scheduler, error) {
	s := &schedule.Scheduler{Slots: st, Logger: logger}
	for _, t := range tenants {
		// An admin's import is no configured feed: each run left applying
		// is resumed as the import it was, through the tenant's brake.
		resumeLeftApplying(ctx, st, runner, t.ID(), "import", func(run store.Run) (reconcile.Feed, error) { return importFeedOf(t, run) }, logger)
		// A run of a feed since removed from the configuration cannot be:
		// it is closed as interrupted rather than left applying.
		left, err := st.ListRuns(ctx, store.RunQuery{Tenant: t.ID(), Statuses: []string{store.RunApplying}, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, run := range left {
			if _, ok := feeds[t.ID()+"/"+run.Feed]; ok || run.Feed == "import" {
				continue
			}
			if _, err := runner.Interrupt(ctx, t.ID(), run.Feed, run.ID, fmt.Sprintf("its feed %q is no longer configured", run.Feed)); err != nil {
				logger.Error("closing a run left applying", "tenant", t.ID(), "feed", run.Feed, "run", run.ID, "err", err)
			}
		}
		for _, fc := range t.Feeds() {
			f, ok := feeds[t.ID()+"/"+fc.Name]
			if !ok {
				continue
			}
			resumeLeftApplying(ctx, st, runner, t.ID(), fc.Name, func(store.Run) (reconcile.Feed, error) { return f, nil }, logger)
		}
	}
	jobs, err := feedJobs(ctx, tenants, feeds, st, runner, true)
	if err != nil {
		return nil, err
	}
	if err := s.Set(jobs); err != nil {
		return nil, err
	}
	return s, nil
}

// feedJobs are the scheduler's jobs for the scheduled feeds of tenants;
// atStart, each knows when its feed last ran, so that a run missed while
// no replica was up runs once.
func feedJobs(ctx context.Context, tenants []*tenant.Tenant, feeds map[string]reconcile.Feed, st store.Backend, runner *reconcile.Runner, atStart bool) ([]schedule.Job, error) {
	var jobs []schedule.Job
	for _, t := range tenants {
		for _, fc := range t.Feeds() {
			f, ok := feeds[t.ID()+"/"+fc.Name]
			if !ok || fc.Schedule == "" {
				continue
			}
			loc, err := fc.Location()
			if err != nil {
				return nil, fmt.Errorf("feed %s/%s: %w", t.ID(), fc.Name, err)
			}
			var lastRun time.Time
			if atStart {
				if last, err := st.LastRun(ctx, t.ID(), fc.Name); err == nil {
					lastRun = last.Started
				}
			}
			jobs = append(jobs, schedule.Job{Tenant: t.ID(), Feed: fc.Name, Spec: fc.Schedule, Location: loc, LastRun: lastRun,
				RunMissedOnStart: atStart && fc.RunMissedOnStartEnabled(),
				// The feed as built holds the tenant's limits too.
				Rev: fmt.Sprintf("%d/%d", t.Version(), fc.Version),
				Run: func(ctx context.Context, due time.Time) error {
					_, err := runner.Run(ctx, f, reconcile.RunOptions{Trigger: "schedule", Actor: "scheduler"})
					return err
				}})
		}
	}
	return jobs, nil
}

// fileTenants are the file's tenants, for commands that work without the
// registry.
func fileTenants(cfg *config.Config) []*tenant.Tenant {
	var out []*tenant.Tenant
	for i := range cfg.Tenants {
		out = append(out, tenant.FromConfig(&cfg.Tenants[i]))
	}
	return out
}

// resumeLeftApplying resumes the runs of a feed a crash left applying,
// newest first: once one is applied, the older ones are superseded
// (Resume decides, under the feed's lock).
func resumeLeftApplying(ctx context.Context, st store.Backend, runner *reconcile.Runner, tenant, feed string, feedOf func(store.Run) (reconcile.Feed, error), logger *slog.Logger) {
	seen := map[string]bool{}
	for {
		left, err := st.LastRun(ctx, tenant, feed, store.RunApplying)
		if err != nil || seen[left.ID] {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				logger.Error("looking for runs left applying", "tenant", tenant, "feed", feed, "err", err)
			}
			return
		}
		seen[left.ID] = true
		full, err := st.GetRun(ctx, tenant, left.ID) // with its plan
		if err != nil {
			logger.Error("resuming a run left applying", "tenant", tenant, "feed", feed, "run", left.ID, "err", err)
			return
		}
		left = full
		f, err := feedOf(left)
		if err != nil {
			logger.Error("resuming a run left applying", "tenant", tenant, "feed", feed, "run", left.ID, "err", err)
			return
		}
		logger.Info("resuming a run left applying", "tenant", tenant, "feed", feed, "run", left.ID)
		run, err := runner.Resume(ctx, f, left)
		if err != nil {
			logger.Error("resuming a run left applying", "tenant", tenant, "feed", feed, "run", left.ID, "err", err)
			return
		}
		logger.Info("resumed a run left applying", "tenant", tenant, "feed", feed, "run", run.ID, "status", run.Status)
	}
}

// importFeedOf is the feed an admin's import run was made by, for its
// approval or its resume: its file's content is in its stored snapshot;
// the tenant's limits are the brake it meets again.
func importFeedOf(t *tenant.Tenant, run store.Run) (reconcile.Feed, error) {
	opts, err := reconcile.ImportChoices(run)
	if err != nil {
		return reconcile.Feed{}, err
	}
	return filefeed.ImportFeed(t.ID(), run.FileName, nil, opts, t.Limits()), nil
}
