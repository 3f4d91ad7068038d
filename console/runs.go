package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// Runs is what the held-plans pages ask of sync: the runs as the store
// keeps them, and the approval and rejection the admin API makes
// (admin.API.ApproveRun, reconcile.Runner.Reject), so that what a held
// plan is applied with is decided in one place.
type Runs interface {
	ListRuns(ctx context.Context, q store.RunQuery) ([]store.Run, error)
	GetRun(ctx context.Context, tenant, id string) (store.Run, error)
	Approve(ctx context.Context, tenant, runID, actor string) (store.Run, error)
	Reject(ctx context.Context, tenant, runID, actor string) (store.Run, error)
}

// heldLimit is how many held runs the list shows (a feed holds at most a
// few: each new run of a feed is held or applied anew).
const heldLimit = 100

type runRow struct {
	ID, Feed, Kind, Status, Trigger string
	Started                         time.Time
	Reasons                         []string
	Disables                        int
	URL                             string
}

type heldView struct {
	Tenant Tenant
	Held   []runRow
	Recent []runRow
}

func runRowOf(t Tenant, r store.Run) runRow {
	return runRow{ID: r.ID, Feed: r.Feed, Kind: r.Kind, Status: r.Status, Trigger: r.Trigger, Started: r.Started,
		Reasons: r.HoldReasons, Disables: r.Counts["disable"], URL: tenantURL(t.ID) + "/runs/" + url.PathEscape(r.ID)}
}

func (c *Console) runsConfigured(w http.ResponseWriter, r *http.Request) bool {
	if c.deps.Runs == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Feeds and runs are not configured in this rosterd.")
		return false
	}
	return true
}

// heldPlans: GET /console/t/{t}/runs — the plans the safety brake holds,
// then the latest runs.
func (c *Console) heldPlans(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.runsConfigured(w, r) {
		return
	}
	if len(r.URL.Query()) > 0 {
		c.errorPage(w, r, http.StatusBadRequest, "The runs page takes no parameters.")
		return
	}
	held, err := c.deps.Runs.ListRuns(r.Context(), store.RunQuery{Tenant: t.ID, Statuses: []string{store.RunHeld}, Limit: heldLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	recent, err := c.deps.Runs.ListRuns(r.Context(), store.RunQuery{Tenant: t.ID, Limit: 20})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	view := heldView{Tenant: t}
	for _, run := range held {
		view.Held = append(view.Held, runRowOf(t, run))
	}
	for _, run := range recent {
		view.Recent = append(view.Recent, runRowOf(t, run))
	}
	c.render(w, r, http.StatusOK, "runs", "Held plans · "+t.Name, view)
}

// planRow is one change of a plan as the run page lists it.
type planRow struct {
	Action, Email, Key, Effect, Refused, Line, Changes string
	CardURL                                            string
}

type runView struct {
	Tenant  Tenant
	Run     runRow
	Error   string
	Counts  []countRow
	Query   string
	HasPlan bool
	// Disables are the people the plan would disable (matching Query);
	// Others the rest of its changes (matching Query), each list cut at
	// planRows.
	Disables, Others      []planRow
	DisableTotal, Matched int
	Cut                   bool
	Flagged               []reconcile.Flag
	Held                  bool
	URL                   string
}

type countRow struct {
	Name  string
	Count int
}

// planRows bounds each list of a run page; a search finds the rest.
const planRows = 500

// runPage: GET /console/t/{t}/runs/{id}?q= — one run: why it is held, the
// people it would disable (searchable), its other changes, Approve and
// Reject.
func (c *Console) runPage(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.runsConfigured(w, r) {
		return
	}
	for name := range r.URL.Query() {
		if name != "q" {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The run page has no parameter %q (it takes q).", name))
			return
		}
	}
	run, err := c.deps.Runs.GetRun(r.Context(), t.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, "There is no such run in this tenant.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	query := strings.TrimSpace(r.URL.Query().Get("q"))
	view := runView{Tenant: t, Run: runRowOf(t, run), Error: run.Error, Query: query, Held: run.Status == store.RunHeld,
		URL: tenantURL(t.ID) + "/runs/" + url.PathEscape(run.ID)}
	for _, k := range slices.Sorted(maps.Keys(run.Counts)) {
		view.Counts = append(view.Counts, countRow{Name: k, Count: run.Counts[k]})
	}
	if plan, err := reconcile.LoadPlan(run); err == nil {
		view.HasPlan = true
		view.Flagged = plan.Flagged
		needle := strings.ToLower(query)
		for _, ch := range plan.Changes {
			if ch.Effect == "disable" {
				view.DisableTotal++
			}
			if needle != "" && !strings.Contains(strings.ToLower(ch.Email+" "+ch.Key), needle) {
				continue
			}
			view.Matched++
			row := planRow{Action: string(ch.Action), Email: ch.Email, Key: ch.Key, Effect: ch.Effect, Refused: ch.Refused, Line: ch.Line}
			if row.Email == "" {
				row.Email = ch.Key
			}
			var parts []string
			for _, a := range ch.Attributes {
				parts = append(parts, fmt.Sprintf("%s: %q → %q", a.Name, a.Old, a.New))
			}
			row.Changes = strings.Join(parts, "; ")
			if ch.CardID != "" {
				row.CardURL = tenantURL(t.ID) + "/cards/" + url.PathEscape(ch.CardID)
			}
			list := &view.Others
			if ch.Effect == "disable" {
				list = &view.Disables
			}
			if len(*list) >= planRows {
				view.Cut = true
				continue
			}
			*list = append(*list, row)
		}
	}
	c.render(w, r, http.StatusOK, "run", "Run "+run.ID+" · "+t.Name, view)
}

// runApprove: POST …/runs/{id}/approve — applies the held plan, if it is
// still the one shown.
func (c *Console) runApprove(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.runsConfigured(w, r) {
		return
	}
	id := r.PathValue("id")
	// A browser that goes away does not stop an apply midway.
	run, err := c.deps.Runs.Approve(context.WithoutCancel(r.Context()), t.ID, id, actor(r).Name)
	back := tenantURL(t.ID) + "/runs/" + url.PathEscape(id)
	var changed *reconcile.ChangedError
	switch {
	case errors.As(err, &changed):
		c.sessions.setFlash(r.Context(), sessionOf(r), "Nothing was applied: the plan changed since it was held ("+strings.Join(changed.Changes, "; ")+
			"). Look at it again as it is now, and approve it if it is right.")
	case errors.Is(err, reconcile.ErrNotHeld):
		c.sessions.setFlash(r.Context(), sessionOf(r), "This run is not held (any more): it is "+run.Status+".")
	case errors.Is(err, store.ErrNotFound):
		c.errorPage(w, r, http.StatusNotFound, "There is no such run in this tenant.")
		return
	case err != nil && run.ID == "":
		c.deps.Logger.Warn("console approval failed", "tenant", t.ID, "run", id, "err", err)
		c.errorPage(w, r, http.StatusConflict, "The plan could not be approved: "+err.Error())
		return
	case err != nil:
		c.deps.Logger.Warn("console approval: the run failed", "tenant", t.ID, "run", id, "err", err)
		c.sessions.setFlash(r.Context(), sessionOf(r), "Approved, but the run failed: "+run.Error)
	default:
		c.sessions.setFlash(r.Context(), sessionOf(r), fmt.Sprintf("Approved and applied: %d disabled, %d enabled, %d updated.",
			run.Counts["disable"], run.Counts["enable"], run.Counts["update"]))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// runReject: POST …/runs/{id}/reject — closes the held plan unapplied.
func (c *Console) runReject(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.runsConfigured(w, r) {
		return
	}
	id := r.PathValue("id")
	run, err := c.deps.Runs.Reject(r.Context(), t.ID, id, actor(r).Name)
	switch {
	case errors.Is(err, reconcile.ErrNotHeld):
		c.sessions.setFlash(r.Context(), sessionOf(r), "This run is not held (any more): it is "+run.Status+".")
	case err != nil:
		c.fail(w, r, err)
		return
	default:
		c.sessions.setFlash(r.Context(), sessionOf(r), "Rejected: nothing of this plan was applied.")
	}
	http.Redirect(w, r, tenantURL(t.ID)+"/runs/"+url.PathEscape(id), http.StatusSeeOther)
}
