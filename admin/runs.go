package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/sync/schedule"
)

// RunBody is a run as the API shows it, with its flagged rows.
type RunBody struct {
	store.Run
	Flagged json.RawMessage `json:"flagged,omitempty"`
}

func runBody(r store.Run) RunBody {
	b := RunBody{Run: r}
	if len(r.Flagged) > 0 && json.Valid(r.Flagged) {
		b.Flagged = r.Flagged
	}
	return b
}

// planChangedBody answers an approval of a plan that changed since it was
// held: the error, what changed, and the run holding the fresh plan.
type planChangedBody struct {
	Error planChangedDetail `json:"error"`
	Run   RunBody           `json:"run"`
}

type planChangedDetail struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Changes []string `json:"changes"`
}

// FeedBody is a configured feed with its last run and its next scheduled
// time.
type FeedBody struct {
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	Source   string     `json:"source"`
	Schedule string     `json:"schedule,omitempty"`
	Timezone string     `json:"timezone,omitempty"`
	NextRun  *time.Time `json:"next_run,omitempty"`
	LastRun  *RunBody   `json:"last_run,omitempty"`
	// ManagedBy is config (the file's feed) or api; Settings its keys as
	// the file writes them, secrets redacted.
	ManagedBy string          `json:"managed_by,omitempty"`
	Settings  json.RawMessage `json:"settings,omitempty"`
}

func (a *API) listFeeds(w http.ResponseWriter, r *http.Request, tenant string) {
	feeds := []FeedBody{}
	now := a.services.Directory.Now()
	t, _ := a.liveTenant(r.Context(), tenant)
	for key, f := range a.feeds() {
		if !strings.HasPrefix(key, tenant+"/") {
			continue
		}
		b := FeedBody{Name: f.Run.Feed, Kind: f.Run.Kind, Source: f.Run.Source.Name, Schedule: f.Schedule}
		if t != nil {
			if tf, ok := t.Feed(f.Run.Feed); ok {
				b.ManagedBy, b.Settings = tf.ManagedBy, tf.View().Settings
			}
		}
		if f.Schedule != "" {
			loc := f.Location
			if loc == nil {
				loc = time.UTC
			}
			b.Timezone = loc.String()
			if next, err := schedule.Next(f.Schedule, loc, now); err == nil {
				b.NextRun = &next
			}
		}
		last, err := a.services.Store.LastRun(r.Context(), tenant, f.Run.Feed)
		switch {
		case err == nil:
			lb := runBody(last)
			b.LastRun = &lb
		case !errors.Is(err, store.ErrNotFound):
			a.fail(w, r, err)
			return
		}
		feeds = append(feeds, b)
	}
	slices.SortFunc(feeds, func(x, y FeedBody) int { return strings.Compare(x.Name, y.Name) })
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"feeds": feeds})
}

func (a *API) runner(w http.ResponseWriter) (Runner, bool) {
	if a.services.Runner == nil {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "feeds cannot run in this process")
		return nil, false
	}
	return a.services.Runner, true
}

// runFeed: POST …/feeds/{name}/runs?dry_run=true — run a feed now. The
// answer waits for the run to end. A run that failed is still a run:
// 201 with its status and error.
func (a *API) runFeed(w http.ResponseWriter, r *http.Request, tenant string) {
	runner, ok := a.runner(w)
	if !ok {
		return
	}
	f, found := a.feeds()[tenant+"/"+r.PathValue("name")]
	if !found {
		daemon.WriteError(w, http.StatusNotFound, "unknown_feed", "name", "no feed of that name in this tenant")
		return
	}
	dry, ok := boolParam(w, "dry_run", r.URL.Query().Get("dry_run"))
	if !ok {
		return
	}
	// A client that hangs up does not stop an apply midway.
	run, err := runner.Run(context.WithoutCancel(r.Context()), f.Run, reconcile.RunOptions{DryRun: dry, Trigger: "manual", Actor: actor(r).Name})
	a.answerRun(w, r, run, err, http.StatusCreated)
}

// answerRun answers with a run, or with the error when no run was made.
func (a *API) answerRun(w http.ResponseWriter, r *http.Request, run store.Run, err error, status int) {
	var changed *reconcile.ChangedError
	if errors.As(err, &changed) {
		// Not what the admin was shown: nothing applied, the fresh plan
		// held. Say what changed, with the run as it is now.
		daemon.WriteJSON(w, http.StatusConflict, planChangedBody{
			Error: planChangedDetail{Code: "plan_changed", Message: err.Error(), Changes: changed.Changes},
			Run:   runBody(run),
		})
		return
	}
	if err != nil && (run.ID == "" || errors.Is(err, reconcile.ErrBusy) || errors.Is(err, reconcile.ErrNotHeld) || errors.Is(err, store.ErrNotFound)) {
		a.fail(w, r, err)
		return
	}
	if err != nil {
		a.logger.Warn("run failed", "tenant", run.Tenant, "feed", run.Feed, "run", run.ID, "err", err)
	}
	w.Header().Set("Location", "/api/v1/tenants/"+run.Tenant+"/runs/"+run.ID)
	daemon.WriteJSON(w, status, runBody(run))
}

// listRuns: GET …/runs?feed=&cursor=&limit=, newest first.
func (a *API) listRuns(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, ok := pageLimit(w, r, 50, 500)
	if !ok {
		return
	}
	runs, err := a.services.Store.ListRuns(r.Context(), store.RunQuery{Tenant: tenant, Feed: r.URL.Query().Get("feed"),
		Before: r.URL.Query().Get("cursor"), Limit: limit + 1})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := ""
	if len(runs) > limit {
		runs = runs[:limit]
		next = runs[limit-1].ID
	}
	out := make([]RunBody, len(runs))
	for i, run := range runs {
		out[i] = runBody(run)
	}
	daemon.WriteJSON(w, http.StatusOK, struct {
		Runs []RunBody `json:"runs"`
		Next string    `json:"next,omitempty"`
	}{out, next})
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request, tenant string) {
	run, err := a.services.Store.GetRun(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, runBody(run))
}

// getPlan: GET …/runs/{id}/plan, JSON, or CSV with ?format=csv or
// Accept: text/csv.
func (a *API) getPlan(w http.ResponseWriter, r *http.Request, tenant string) {
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "csv":
	default:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "format", "format must be json or csv")
		return
	}
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	run, err := a.services.Store.GetRun(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	plan, err := reconcile.LoadPlan(run)
	if err != nil {
		daemon.WriteError(w, http.StatusNotFound, "no_plan", "id", "this run has no plan (it was skipped or failed before planning)")
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="plan-`+run.ID+`.csv"`)
		_ = plan.WriteCSV(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = plan.WriteJSON(w)
}

// approveRun: POST …/runs/{id}/approve — apply a held plan.
func (a *API) approveRun(w http.ResponseWriter, r *http.Request, tenant string) {
	if _, ok := a.runner(w); !ok {
		return
	}
	var body struct{}
	if !decodeJSON(w, r, &body, true) {
		return
	}
	run, err := a.ApproveRun(context.WithoutCancel(r.Context()), tenant, r.PathValue("id"), actor(r).Name)
	if errors.Is(err, ErrFeedGone) {
		daemon.WriteError(w, http.StatusConflict, "unknown_feed", "", err.Error())
		return
	}
	if err != nil && run.ID == "" {
		a.fail(w, r, err)
		return
	}
	a.answerRun(w, r, run, err, http.StatusOK)
}

// ErrFeedGone refuses an approval whose run's feed is no longer
// configured.
var ErrFeedGone = errors.New("the run's feed is no longer configured")

// ApproveRun applies a held run as its feed (or, for an import, the
// choices kept in its plan) says: the one place that finds what a held
// run is to be applied with, for the API and the console. It returns the
// run as it is after, with reconcile's errors (*reconcile.ChangedError,
// reconcile.ErrNotHeld); a run with no id when there is none to show.
func (a *API) ApproveRun(ctx context.Context, tenant, id, actor string) (store.Run, error) {
	if a.services.Runner == nil {
		return store.Run{}, errors.New("feeds cannot run in this process")
	}
	run, err := a.services.Store.GetRun(ctx, tenant, id)
	if err != nil {
		return store.Run{}, err
	}
	var f reconcile.Feed
	if run.Kind == "import" {
		// An import is no configured feed: its source is the admin, and
		// whether it was a full roster, clears empty cells and invites is
		// kept in its plan.
		opts, err := reconcile.ImportChoices(run)
		if err != nil {
			return store.Run{}, err
		}
		f = filefeed.ImportFeed(tenant, run.FileName, nil, opts, a.importLimits(ctx, tenant))
	} else {
		cf, found := a.feeds()[tenant+"/"+run.Feed]
		if !found {
			return store.Run{}, fmt.Errorf("%w: %s", ErrFeedGone, run.Feed)
		}
		f = cf.Run
	}
	return a.services.Runner.Approve(ctx, f, run.ID, actor)
}

// rejectRun: POST …/runs/{id}/reject — close a held plan unapplied.
func (a *API) rejectRun(w http.ResponseWriter, r *http.Request, tenant string) {
	runner, ok := a.runner(w)
	if !ok {
		return
	}
	var body struct{}
	if !decodeJSON(w, r, &body, true) {
		return
	}
	run, err := runner.Reject(r.Context(), tenant, r.PathValue("id"), actor(r).Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, runBody(run))
}
