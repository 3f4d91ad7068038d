package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// The import as Go calls, for the API's handler and the web console
// alike: what is read, checked, planned, reviewed and applied is decided
// here once.

// ImportInput is one import (see the top of imports.go): the file (or
// pasted text under pastedName) and the options.
type ImportInput struct {
	Name string
	Data []byte
	// Columns is the whole mapping; nil means the tenant's default.
	Columns                                map[string]string
	DryRun, Invite, FullRoster, ClearEmpty bool
	// Interruptible lets the end of ctx stop the run at a safe point
	// (rosterd import's Ctrl-C); by default a caller that goes away (an
	// HTTP client hanging up) does not stop an apply midway.
	Interruptible bool
	// Progress, when set, is told how far the import is: reading the
	// file, planning, applying (reconcile.RunOptions.Progress).
	Progress func(phase reconcile.Phase, done, total int)
}

// PastedName is the file name pasted text is read under.
const PastedName = pastedName

// ImportError refuses an import before it ran: the status, code and field
// the API answers with, and the message in words.
type ImportError struct {
	Status      int
	Code, Field string
	Message     string
}

func (e *ImportError) Error() string { return e.Message }

var errNoRunner = &ImportError{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "feeds cannot run in this process"}

// Failed says whether the import's run failed (the API's 422); Failure
// is why, when the runner said more than the run's error.
func (b ImportBody) Failed() bool { return b.Failure != nil || b.Status == store.RunFailed }

// Import reads, plans and (unless a dry run) applies an import as actor.
// An error with an empty body means no run came of it (an *ImportError
// for bad input); a run that failed is a body that Failed.
func (a *API) Import(ctx context.Context, tenant, actor string, in ImportInput) (ImportBody, error) {
	runner := a.services.Runner
	if runner == nil {
		return ImportBody{}, errNoRunner
	}
	if err := filefeed.CheckImportSize(in.Name, int64(len(in.Data))); err != nil {
		return ImportBody{}, &ImportError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Field: "file", Message: err.Error()}
	}
	columns, remembered, err := a.importColumns(ctx, tenant, in.Columns)
	if err != nil {
		return ImportBody{}, err
	}
	if in.Progress != nil {
		in.Progress(reconcile.Reading, 0, 0)
	}
	snap, header, perr := filefeed.ParseImport(in.Name, in.Data, filefeed.ParseOptions{Feed: "import", Columns: columns, ColumnsOptional: remembered})
	in.Data = nil // parsed: the snapshot is what the run needs of it
	if perr == nil && in.Columns != nil {
		a.rememberColumns(ctx, tenant, actor, in.Columns)
	}
	f := filefeed.ImportSnapshotFeed(tenant, snap, perr, filefeed.ImportOptions{Invite: in.Invite, FullRoster: in.FullRoster, ClearEmpty: in.ClearEmpty},
		a.importLimits(ctx, tenant))
	var plan *reconcile.Plan
	runCtx := context.WithoutCancel(ctx)
	if in.Interruptible {
		runCtx = ctx
	}
	run, err := runner.Run(runCtx, f, reconcile.RunOptions{DryRun: in.DryRun, Trigger: "import", Actor: actor, Progress: in.Progress,
		Planned: func(p reconcile.Plan) { plan = &p }})
	var review *ImportReview
	if in.DryRun && plan != nil {
		review = makeReview(plan, header, remembered)
	}
	return a.importResult(run, err, plan, review)
}

// ApplyImportReview applies an import's dry run as it was reviewed, as a
// new run. Cards that changed since refuse it with a
// *reconcile.ReviewChangedError and the body of the run that says so.
func (a *API) ApplyImportReview(ctx context.Context, tenant, reviewID, actor string) (ImportBody, error) {
	runner := a.services.Runner
	if runner == nil {
		return ImportBody{}, errNoRunner
	}
	reviews, ok := runner.(ReviewRunner)
	if !ok {
		return ImportBody{}, &ImportError{Status: http.StatusServiceUnavailable, Code: "not_configured", Field: "from_review", Message: "reviews cannot be applied in this process"}
	}
	review, err := a.services.Store.GetRun(ctx, tenant, reviewID)
	if errors.Is(err, store.ErrNotFound) {
		return ImportBody{}, &ImportError{Status: http.StatusNotFound, Code: "not_found", Field: "from_review", Message: fmt.Sprintf("no run %q in this tenant", reviewID)}
	}
	if err != nil {
		return ImportBody{}, err
	}
	if review.Kind != "import" || !review.DryRun {
		return ImportBody{}, &ImportError{Status: http.StatusBadRequest, Code: "invalid_value", Field: "from_review", Message: fmt.Sprintf("run %s is not an import's dry run", reviewID)}
	}
	choices, err := reconcile.ImportChoices(review)
	if err != nil {
		return ImportBody{}, err
	}
	f := filefeed.ImportFeed(tenant, review.FileName, nil, choices, a.importLimits(ctx, tenant))
	var plan *reconcile.Plan
	run, err := reviews.ApplyReview(context.WithoutCancel(ctx), f, reviewID, reconcile.RunOptions{Trigger: "review", Actor: actor,
		Planned: func(p reconcile.Plan) { plan = &p }})
	var changed *reconcile.ReviewChangedError
	switch {
	case errors.As(err, &changed):
		return ImportBody{RunBody: runBody(run)}, err
	case errors.Is(err, reconcile.ErrNotReview):
		return ImportBody{}, &ImportError{Status: http.StatusConflict, Code: "not_review", Field: "from_review", Message: err.Error()}
	}
	return a.importResult(run, err, plan, nil)
}

// ImportRun is an import's run as stored, with its summary (counted from
// its plan): what the console shows after an import.
func (a *API) ImportRun(ctx context.Context, tenant, id string) (ImportBody, error) {
	run, err := a.services.Store.GetRun(ctx, tenant, id)
	if err != nil {
		return ImportBody{}, err
	}
	if run.Kind != "import" {
		return ImportBody{}, fmt.Errorf("run %s is not an import: %w", id, store.ErrNotFound)
	}
	body := ImportBody{RunBody: runBody(run), Summary: importSummary(run, nil)}
	if plan, err := reconcile.LoadPlan(run); err == nil {
		body.Summary = importSummary(run, &plan)
		body.FromReview = plan.Review
	}
	return body, nil
}

// importResult is an import's answer: its body, or the error when no run
// came of it.
func (a *API) importResult(run store.Run, err error, plan *reconcile.Plan, review *ImportReview) (ImportBody, error) {
	if err != nil && (run.ID == "" || errors.Is(err, reconcile.ErrBusy) || errors.Is(err, store.ErrNotFound)) {
		return ImportBody{}, err
	}
	body := ImportBody{RunBody: runBody(run), Summary: importSummary(run, plan), Review: review, Failure: err}
	if plan != nil {
		body.FromReview = plan.Review
	}
	if body.Failed() {
		a.logger.Warn("import failed", "tenant", run.Tenant, "run", run.ID, "err", err)
	}
	return body, nil
}

// importColumns is the mapping an import reads its file with: the
// request's (checked), or else the tenant's default (remembered).
func (a *API) importColumns(ctx context.Context, tenant string, given map[string]string) (map[string]string, bool, error) {
	if given != nil {
		if err := filefeed.CheckColumns(given); err != nil {
			var me *filefeed.MappingError
			field := "columns"
			if errors.As(err, &me) {
				field = fmt.Sprintf("columns[%q]", me.Header)
			}
			return nil, false, &ImportError{Status: http.StatusBadRequest, Code: "invalid_value", Field: field, Message: err.Error()}
		}
		policy, err := a.services.Directory.Policy(tenant)
		if err != nil {
			return nil, false, err
		}
		for _, h := range slices.Sorted(maps.Keys(given)) {
			name, ok := strings.CutPrefix(given[h], "relation.")
			if ok && !slices.Contains(policy.Relations, name) {
				declared := "none"
				if len(policy.Relations) > 0 {
					declared = strings.Join(policy.Relations, ", ")
				}
				field := fmt.Sprintf("columns[%q]", h)
				return nil, false, &ImportError{Status: http.StatusBadRequest, Code: "invalid_value", Field: field,
					Message: fmt.Sprintf("%s: unknown relation %q (the tenant declares: %s)", field, name, declared)}
			}
		}
		return given, false, nil
	}
	d := a.importDefaults()
	if d == nil {
		return nil, false, nil
	}
	def, err := d.GetImportColumns(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return def.Columns, len(def.Columns) > 0, nil
}

// rememberColumns makes a request's mapping the tenant's import default.
// A failure to store it fails nothing: the import goes on, and says so in
// the log.
func (a *API) rememberColumns(ctx context.Context, tenant, actor string, columns map[string]string) {
	d := a.importDefaults()
	if d == nil {
		return
	}
	err := d.PutImportColumns(ctx, store.ImportColumns{Tenant: tenant, Columns: columns, UpdatedBy: actor, UpdatedAt: a.services.Directory.Now()})
	if err != nil {
		a.logger.Warn("storing the tenant's import columns failed", "tenant", tenant, "err", err)
	}
}
