package admin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// Bulk actions: POST …/cards/bulk applies one action to cards selected by
// ids or by the card list's filters; GET …/bulk/{id} reads the job.
//
// The rules are the directory's (directory.Service.Bulk: each card as
// the one-card action would change it); this file selects the cards,
// applies the tenant's safety brake (reconcile.Hold, the feeds' own, over
// the cards the action would disable), and records the job as a run of
// kind "bulk" (feed "admin:bulk") whose id is the RunID of every audit
// line and event it wrote. A job of more than bulkSyncMax cards is
// applied after the answer (202), in transactions of bulkBatch cards,
// its progress in the run's counts; a crash leaves the run applying, and
// the next start closes it as interrupted (what applied stays applied).

const (
	maxBulkIDs      = 10_000  // ids in one request (the JSON body's 1 MiB)
	maxBulkFiltered = 100_000 // cards a filter may select
	bulkBatch       = 1000    // cards per transaction
	bulkSyncMax     = 1000    // above, the job applies after the answer
	bulkFeed        = "admin:bulk"
	bulkKind        = "bulk"
)

// BulkRequest is a bulk action: what, on which cards, with what.
type BulkRequest struct {
	Action string `json:"action"`
	// IDs or Filter (the card list's filter parameters) select the cards.
	IDs    []string           `json:"ids"`
	Filter *map[string]string `json:"filter"`
	// DryRun answers how many and which cards would change.
	DryRun bool `json:"dry_run"`
	// Confirm is the dry run's count of changes, required when the action
	// would disable more cards than the tenant's safety limits allow.
	Confirm *int `json:"confirm"`

	Reason       *string               `json:"reason"`        // disable
	Role         *string               `json:"role"`          // set_role
	Groups       []string              `json:"groups"`        // add_groups, remove_groups
	ManagerEmail *string               `json:"manager_email"` // assign_manager
	Attributes   *directory.Attributes `json:"attributes"`    // edit
}

// BulkItem is the outcome for one card.
type BulkItem struct {
	CardID  string           `json:"card_id"`
	Email   string           `json:"email,omitempty"`
	Changed bool             `json:"changed"`
	Status  directory.Status `json:"status,omitempty"`
	Error   *ItemError       `json:"error,omitempty"`
}

// BulkBody is a bulk job as the API shows it.
type BulkBody struct {
	ID      string `json:"id"`
	Action  string `json:"action"`
	DryRun  bool   `json:"dry_run"`
	Status  string `json:"status"`
	Actor   string `json:"actor"`
	Started string `json:"started"`
	// Finished is empty while the job applies.
	Finished string `json:"finished,omitempty"`
	// Counts: selected, done, changed, unchanged, refused, disables.
	Counts      map[string]int `json:"counts"`
	HoldReasons []string       `json:"hold_reasons,omitempty"`
	Error       string         `json:"error,omitempty"`
	// Results, in the order of the selection, once the job is done.
	Results []BulkItem `json:"results,omitempty"`
}

// RunWriter records runs: the store, which the API otherwise only reads.
type RunWriter interface {
	PutRun(ctx context.Context, r store.Run) error
}

// bulkRecord is what a bulk run's Plan holds.
type bulkRecord struct {
	Action  string     `json:"action"`
	Results []BulkItem `json:"results"`
}

// bulkInput checks the action's arguments: each action takes its own and
// no other, so an argument meant for another action is an error, not
// silently ignored.
func bulkInput(body BulkRequest) (directory.BulkInput, *ItemError) {
	in := directory.BulkInput{Action: directory.BulkAction(body.Action)}
	args := map[string]bool{"reason": body.Reason != nil, "role": body.Role != nil, "groups": body.Groups != nil,
		"manager_email": body.ManagerEmail != nil, "attributes": body.Attributes != nil}
	takes := map[directory.BulkAction]string{directory.BulkDisable: "reason", directory.BulkReject: "reason", directory.BulkSetRole: "role",
		directory.BulkAddGroups: "groups", directory.BulkRemoveGroups: "groups", directory.BulkAssignManager: "manager_email",
		directory.BulkEdit: "attributes"}
	want := takes[in.Action]
	for _, name := range []string{"reason", "role", "groups", "manager_email", "attributes"} {
		if args[name] && name != want {
			return in, &ItemError{Code: "invalid_value", Field: name, Message: fmt.Sprintf("%s does not apply to the action %q", name, body.Action)}
		}
	}
	if want != "" && want != "reason" && !args[want] {
		return in, &ItemError{Code: "invalid_value", Field: want, Message: fmt.Sprintf("the action %q needs %s", body.Action, want)}
	}
	if body.Reason != nil {
		in.Reason = *body.Reason
	}
	if body.Role != nil {
		in.Role = *body.Role
	}
	if body.ManagerEmail != nil {
		in.ManagerEmail = *body.ManagerEmail
	}
	if body.Attributes != nil {
		in.Attributes = *body.Attributes
	}
	in.Groups = body.Groups
	if err := in.Check(); err != nil {
		var be *directory.BulkError
		if errors.As(err, &be) {
			return in, &ItemError{Code: "invalid_value", Field: be.Field, Message: be.Message}
		}
		return in, &ItemError{Code: "invalid_value", Field: "action", Message: err.Error()}
	}
	return in, nil
}

// bulkCards: POST …/cards/bulk.
func (a *API) bulkCards(w http.ResponseWriter, r *http.Request, tenant string) {
	jobs, ok := a.services.Store.(RunWriter)
	if !ok {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API has no run store for bulk jobs")
		return
	}
	var body BulkRequest
	if !decodeJSON(w, r, &body, false) {
		return
	}
	in, bad := bulkInput(body)
	if bad != nil {
		daemon.WriteError(w, http.StatusBadRequest, bad.Code, bad.Field, bad.Message)
		return
	}
	// The cards the selection lists and the dry run reads are kept for the
	// dry run and the job to reuse (each reads again only what changed).
	held := directory.NewBulkHeld()
	ids, ok := a.bulkSelection(w, r, tenant, body, held)
	if !ok {
		return
	}
	ctx := r.Context()
	dir := a.services.Directory
	ac := actor(r)
	ac.RunID = uuid.Must(uuid.NewV7()).String()
	run := store.Run{ID: ac.RunID, Tenant: tenant, Feed: bulkFeed, Kind: bulkKind, Trigger: "bulk", Actor: ac.Name,
		Started: dir.Now(), DryRun: body.DryRun, Counts: map[string]int{"selected": len(ids)}}

	// A dry run, and the brake's count for an action that may disable.
	mayDisable := in.Action == directory.BulkDisable || in.Action == directory.BulkRelease
	if !body.DryRun && !mayDisable {
		held = nil // no dry run read the cards' claims: the job reads them
	}
	if body.DryRun || mayDisable {
		preview, err := a.applyBulk(ctx, ac, tenant, in, ids, true, held, nil)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		counts := bulkCounts(preview, len(ids))
		if body.DryRun {
			run.Status, run.Finished, run.Counts = store.RunPlanned, dir.Now(), counts
			run.HoldReasons = a.bulkHold(ctx, tenant, counts)
			if err := a.putBulkRun(ctx, jobs, run, string(in.Action), bulkItems(a, preview)); err != nil {
				a.fail(w, r, err)
				return
			}
			a.writeBulk(w, http.StatusOK, run, string(in.Action), bulkItems(a, preview))
			return
		}
		if reasons := a.bulkHold(ctx, tenant, counts); len(reasons) > 0 && (body.Confirm == nil || *body.Confirm != counts["changed"]) {
			got := "no confirm"
			if body.Confirm != nil {
				got = "confirm " + strconv.Itoa(*body.Confirm)
			}
			daemon.WriteJSON(w, http.StatusConflict, map[string]any{
				"error": map[string]any{"code": "confirm_required", "field": "confirm", "message": fmt.Sprintf(
					"the action would change %d cards and disable %d, over the tenant's safety limits (%s); send \"confirm\": %d to apply it (got %s)",
					counts["changed"], counts["disables"], joinReasons(reasons), counts["changed"], got)},
				"counts": counts, "hold_reasons": reasons})
			return
		}
	}

	run.Status = store.RunApplying
	if err := jobs.PutRun(ctx, run); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(ids) <= bulkSyncMax {
		a.finishBulk(ctx, jobs, run, ac, tenant, in, ids, held)
		done, err := a.services.Store.GetRun(ctx, tenant, run.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.writeBulkRun(w, http.StatusOK, done)
		return
	}
	// Large: applied after the answer, whatever becomes of the request.
	go a.finishBulk(context.WithoutCancel(ctx), jobs, run, ac, tenant, in, ids, held)
	w.Header().Set("Location", fmt.Sprintf("/api/v1/tenants/%s/bulk/%s", tenant, run.ID))
	a.writeBulk(w, http.StatusAccepted, run, string(in.Action), nil)
}

func joinReasons(reasons []string) string {
	var b bytes.Buffer
	for i, r := range reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
	}
	return b.String()
}

// BulkHold is the brake a bulk action meets that would disable so many
// of the tenant's cards: the reasons it holds, none when it may go ahead.
// The console's bulk confirmation asks for the count when there are any,
// as the API asks for "confirm".
func (a *API) BulkHold(ctx context.Context, tenant string, disables int) []string {
	return a.bulkHold(ctx, tenant, map[string]int{"disables": disables})
}

// bulkHold is the feeds' safety brake over the cards the action would
// disable, out of the tenant's enabled cards.
func (a *API) bulkHold(ctx context.Context, tenant string, counts map[string]int) []string {
	if counts["disables"] == 0 {
		return nil
	}
	enabled := 0
	if got, err := a.services.Directory.Count(ctx, directory.ListQuery{Tenant: tenant}); err == nil { // the kept counts
		enabled = directory.EnabledCount(got)
	}
	plan := reconcile.Plan{Counts: map[string]int{"disable": counts["disables"]}, Present: enabled, PresentAre: "enabled people of the tenant"}
	return reconcile.Hold(plan, a.importLimits(ctx, tenant), 0)
}

// finishBulk applies the job in batches, recording progress after each,
// and the results at the end. Errors are the run's.
func (a *API) finishBulk(ctx context.Context, jobs RunWriter, run store.Run, ac directory.Actor, tenant string, in directory.BulkInput, ids []string,
	held *directory.BulkHeld) {
	results, err := a.applyBulk(ctx, ac, tenant, in, ids, false, held, func(done []directory.BulkResult) {
		run.Counts = bulkCounts(done, len(ids))
		if err := jobs.PutRun(ctx, run); err != nil {
			a.logger.Error("recording bulk progress", "tenant", tenant, "bulk", run.ID, "err", err)
		}
	})
	run.Finished = a.services.Directory.Now()
	run.Counts = bulkCounts(results, len(ids))
	run.Status = store.RunApplied
	if err != nil {
		run.Status, run.Error = store.RunFailed, err.Error()
		a.logger.Error("bulk action failed", "tenant", tenant, "bulk", run.ID, "action", in.Action, "done", len(results), "err", err)
	}
	if err := a.putBulkRun(ctx, jobs, run, string(in.Action), bulkItems(a, results)); err != nil {
		a.logger.Error("recording a bulk job", "tenant", tenant, "bulk", run.ID, "err", err)
	}
}

// applyBulk runs the action over ids in batches, bulkWorkers at a time;
// progress, when set, is called with the results of the batches done so
// far, in order. held (nil: none) keeps the cards a dry run read for the
// run that applies. On a store error no further batch starts, and it
// returns the first error with the results of the batches that applied,
// in order (a batch is one transaction: it applied whole or not at all).
func (a *API) applyBulk(ctx context.Context, ac directory.Actor, tenant string, in directory.BulkInput, ids []string, dryRun bool,
	held *directory.BulkHeld, progress func([]directory.BulkResult)) ([]directory.BulkResult, error) {
	chunks := slices.Collect(slices.Chunk(ids, bulkBatch))
	var (
		mu      sync.Mutex
		results = make([][]directory.BulkResult, len(chunks))
		errs    = make([]error, len(chunks))
		next    int  // the next batch to start
		failed  bool // a batch failed: start no other
		shown   int  // batches reported to progress, a prefix
		out     = make([]directory.BulkResult, 0, len(ids))
	)
	var wg sync.WaitGroup
	for range min(bulkWorkers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if failed || next == len(chunks) {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				res, err := a.services.Directory.BulkWithHeld(ctx, ac, tenant, in, chunks[i], dryRun, held)
				mu.Lock()
				results[i], errs[i] = res, err
				failed = failed || err != nil
				for shown < len(chunks) && results[shown] != nil {
					out = append(out, results[shown]...)
					shown++
				}
				if progress != nil && len(out) < len(ids) && err == nil {
					progress(out)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var first error
	out = out[:0]
	for i := range chunks {
		if errs[i] != nil && first == nil {
			first = errs[i]
		}
		out = append(out, results[i]...)
	}
	return out, first
}

// bulkWorkers is how many batches of a bulk job run at once: while one's
// cards are resolved and encoded here, another's are written by the
// database (PostgreSQL works in processes of its own). SQLite's writers
// take turns, so there it changes little.
const bulkWorkers = 2

func bulkCounts(results []directory.BulkResult, selected int) map[string]int {
	c := map[string]int{"selected": selected, "done": len(results), "changed": 0, "unchanged": 0, "refused": 0, "disables": 0}
	for _, r := range results {
		switch {
		case r.Err != nil:
			c["refused"]++
		case r.Changed:
			c["changed"]++
		default:
			c["unchanged"]++
		}
		if r.Disables {
			c["disables"]++
		}
	}
	return c
}

func bulkItems(a *API, results []directory.BulkResult) []BulkItem {
	now := a.services.Directory.Now()
	items := make([]BulkItem, len(results))
	for i, r := range results {
		items[i] = BulkItem{CardID: r.CardID, Changed: r.Changed}
		if r.Card.ID != "" {
			items[i].Email, items[i].Status = r.Card.Email, directory.StatusOf(r.Card, now)
		}
		if r.Err != nil {
			code := itemErrorCode(r.Err)
			var soon *directory.TooSoonError
			switch {
			case errors.Is(r.Err, store.ErrNotFound):
				code = "not_found"
			case errors.As(r.Err, &soon):
				code = "too_soon"
			}
			items[i].Error = &ItemError{Code: code, Field: fmt.Sprintf("ids[%d]", i), Message: r.Err.Error()}
		}
	}
	return items
}

func (a *API) putBulkRun(ctx context.Context, jobs RunWriter, run store.Run, action string, items []BulkItem) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(bulkRecord{Action: action, Results: items}); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	run.Plan = buf.Bytes()
	return jobs.PutRun(ctx, run)
}

func (a *API) writeBulk(w http.ResponseWriter, status int, run store.Run, action string, items []BulkItem) {
	b := BulkBody{ID: run.ID, Action: action, DryRun: run.DryRun, Status: run.Status, Actor: run.Actor,
		Started: run.Started.UTC().Format("2006-01-02T15:04:05Z07:00"), Counts: run.Counts, HoldReasons: run.HoldReasons,
		Error: run.Error, Results: items}
	if !run.Finished.IsZero() {
		b.Finished = run.Finished.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	daemon.WriteJSON(w, status, b)
}

// writeBulkRun answers a stored bulk run, its results read back.
func (a *API) writeBulkRun(w http.ResponseWriter, status int, run store.Run) {
	var rec bulkRecord
	if len(run.Plan) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(run.Plan))
		if err == nil {
			err = json.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&rec)
		}
		if err != nil {
			a.logger.Error("reading a bulk job", "tenant", run.Tenant, "bulk", run.ID, "err", err)
			daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "the bulk job's record cannot be read")
			return
		}
	}
	if run.Status == store.RunApplying {
		rec.Results = nil // partial: the counts say how far it got
	}
	a.writeBulk(w, status, run, rec.Action, rec.Results)
}

// getBulk: GET …/bulk/{id}.
func (a *API) getBulk(w http.ResponseWriter, r *http.Request, tenant string) {
	run, err := a.services.Store.GetRun(r.Context(), tenant, r.PathValue("id"))
	if err == nil && run.Kind != bulkKind {
		err = store.ErrNotFound
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeBulkRun(w, http.StatusOK, run)
}

// bulkSelection is the ids of the request, or those its filter selects.
// A filter's cards are offered to held.
func (a *API) bulkSelection(w http.ResponseWriter, r *http.Request, tenant string, body BulkRequest, held *directory.BulkHeld) ([]string, bool) {
	switch {
	case body.IDs != nil && body.Filter != nil:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "filter", "give ids or filter, not both")
		return nil, false
	case body.IDs != nil:
		if len(body.IDs) == 0 || len(body.IDs) > maxBulkIDs {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "ids", fmt.Sprintf("ids must hold 1 to %d card ids; select more by filter", maxBulkIDs))
			return nil, false
		}
		seen := make(map[string]bool, len(body.IDs))
		ids := make([]string, 0, len(body.IDs))
		for i, id := range body.IDs {
			if id == "" || len(id) > 64 {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", fmt.Sprintf("ids[%d]", i), fmt.Sprintf("ids[%d] is not a card id", i))
				return nil, false
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		return ids, true
	case body.Filter != nil:
		params := make(map[string][]string, len(*body.Filter))
		for k, v := range *body.Filter {
			params[k] = []string{v}
		}
		q, err := directory.ParseListQuery(tenant, params, directory.FilterParams, "filter.")
		if err != nil {
			writeQueryError(w, err)
			return nil, false
		}
		q.Limit = 1000
		var ids []string
		for {
			page, err := a.services.Directory.List(r.Context(), q)
			if err != nil {
				a.fail(w, r, err)
				return nil, false
			}
			for _, c := range page.Cards {
				ids = append(ids, c.ID)
			}
			held.Offer(page.Cards)
			if len(ids) > maxBulkFiltered {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "filter", fmt.Sprintf("the filter selects more than %d cards; narrow it", maxBulkFiltered))
				return nil, false
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if len(ids) == 0 {
			ids = []string{}
		}
		return ids, true
	}
	daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "ids", "select the cards by ids or filter")
	return nil, false
}
