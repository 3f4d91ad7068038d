package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant"
)

// Directory is what the admin API asks of the directory service
// (*directory.Service): every change to a card goes through it.
type Directory interface {
	Now() time.Time
	Get(ctx context.Context, tenant, id string) (directory.Card, error)
	List(ctx context.Context, q directory.ListQuery) (directory.Page, error)
	Count(ctx context.Context, q directory.ListQuery) (map[directory.Status]int, error)
	// CustomAttributeNames: the custom attribute names of the cards q
	// selects, sorted, at most limit (an export's custom.<name> columns).
	CustomAttributeNames(ctx context.Context, q directory.ListQuery, limit int) ([]string, error)
	Claims(ctx context.Context, tenant, cardID string) ([]directory.Claim, error)
	Explain(ctx context.Context, tenant, cardID string) (directory.Explanation, error)
	Invite(ctx context.Context, actor directory.Actor, in directory.AdminInput) (directory.Outcome, error)
	InvitePeople(ctx context.Context, actor directory.Actor, tenant string, people []directory.Person) ([]directory.PersonOutcome, error)
	Reinvite(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Remind(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Disable(ctx context.Context, actor directory.Actor, tenant, cardID, reason string) (directory.Card, error)
	Enable(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Release(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Edit(ctx context.Context, actor directory.Actor, tenant, cardID string, attrs directory.Attributes) (directory.Card, error)
	BulkWithHeld(ctx context.Context, actor directory.Actor, tenant string, in directory.BulkInput, ids []string, dryRun bool,
		held *directory.BulkHeld) ([]directory.BulkResult, error)
	Approve(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Reject(ctx context.Context, actor directory.Actor, tenant, cardID, reason string) (directory.Card, error)
	Links(ctx context.Context, c directory.Card) (map[string]directory.Link, error)
	Policy(tenant string) (directory.Policy, error)
	ListTenantGroups(ctx context.Context, tenant, after string, limit int) ([]directory.GroupCount, error)
	TenantGroup(ctx context.Context, tenant, id string) (directory.Group, error)
	GroupMembers(ctx context.Context, groupID, after string, limit int) ([]string, error)
	CreateAdminGroup(ctx context.Context, actor directory.Actor, tenant, name string) (directory.Group, error)
	RenameAdminGroup(ctx context.Context, actor directory.Actor, tenant, id, name string) (directory.Group, error)
	DeleteAdminGroup(ctx context.Context, actor directory.Actor, tenant, id string) error
	ChangeAdminGroupMembers(ctx context.Context, actor directory.Actor, tenant, id string, add, remove []string) (directory.GroupResult, error)
}

// Store is what the API reads of the store beside the directory: the
// audit trail and the run records. It never writes.
type Store interface {
	ListAudit(ctx context.Context, tenant, cardID string, afterID int64, limit int) ([]store.AuditEvent, error)
	ListTenantAudit(ctx context.Context, tenant string, afterID int64, limit int) ([]store.AuditEvent, error)
	GetRun(ctx context.Context, tenant, id string) (store.Run, error)
	ListRuns(ctx context.Context, q store.RunQuery) ([]store.Run, error)
	LastRun(ctx context.Context, tenant, feed string, statuses ...string) (store.Run, error)
}

// Runner runs feeds and imports (*reconcile.Runner).
type Runner interface {
	Run(ctx context.Context, f reconcile.Feed, opt reconcile.RunOptions) (store.Run, error)
	Approve(ctx context.Context, f reconcile.Feed, runID, actor string) (store.Run, error)
	Reject(ctx context.Context, tenant, runID, actor string) (store.Run, error)
}

// Feed is a configured feed as the API shows and runs it.
type Feed struct {
	Run reconcile.Feed
	// Schedule is the cron spec ("" = run by hand only), read in Location.
	Schedule string
	Location *time.Location
}

// Services are what the card, feed, run and audit endpoints work with.
type Services struct {
	Directory Directory
	Store     Store
	Runner    Runner
	// Feeds by "tenant/name".
	Feeds map[string]Feed
	// FeedsNow, when set, returns the feeds as they are now (the
	// registry's, which the API changes at runtime) instead of Feeds.
	FeedsNow func() map[string]Feed
	// Events is the change feed (the store).
	Events Events
	// Webhooks is the record of webhook deliveries (the store).
	Webhooks WebhookDeliveries
	// Registry manages tenants and their connections, for operator keys;
	// without it those routes answer 503 not_configured.
	Registry Registry
	// Setup keeps the setup links (the store).
	Setup store.SetupLinks
	// SetupPortal is where an opened setup link sends the browser (the
	// console's setup portal); default /api/v1/setup/session.
	SetupPortal string
	// Keys lists, makes and revokes admin keys, for operator keys.
	Keys KeyManager
	// UploadTokens makes the drop box's upload tokens; without it that
	// route answers 503 not_configured.
	UploadTokens UploadTokens
	// PublicURL is the base of the URLs the registry's answers name (the
	// SCIM base URL of a new connection).
	PublicURL string
}

// Events reads the platform's change feed.
type Events interface {
	EventsAfter(ctx context.Context, tenant string, after store.EventCursor, limit int) ([]store.Event, error)
}

// With gives the API its services; without them the card, feed, run and
// audit routes answer 503 not_configured. Call it before serving.
func (a *API) With(s Services) *API {
	a.services = s
	return a
}

// Body limits: JSON requests, and uploads of an import.
const (
	maxJSONBody   = 1 << 20
	maxImportBody = 50 << 20
)

// tenantHandler serves a request under /api/v1/tenants/{t}/.
type tenantHandler func(w http.ResponseWriter, r *http.Request, tenant string)

// inTenant checks the path's tenant: known (else 404), and the key's when
// the key is bound to one.
func (a *API) inTenant(h tenantHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.services.Directory == nil || a.services.Store == nil {
			daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API has no directory configured")
			return
		}
		t := r.PathValue("t")
		if _, err := a.liveTenant(r.Context(), t); err != nil {
			daemon.WriteError(w, http.StatusNotFound, "unknown_tenant", "t", fmt.Sprintf("no tenant %q", t))
			return
		}
		if key, ok := KeyFrom(r.Context()); ok && key.Tenant != "" && key.Tenant != t {
			daemon.WriteError(w, http.StatusForbidden, "wrong_tenant", "t", "this admin key belongs to another tenant")
			return
		}
		h(w, r, t)
	}
}

// liveTenant is the path's tenant as it is now; an error for none (or a
// retired one).
func (a *API) liveTenant(ctx context.Context, id string) (*tenant.Tenant, error) {
	if a.tenants == nil {
		return nil, tenant.ErrNotFound
	}
	return a.tenants.Get(ctx, id)
}

// importLimits are the safety limits of the tenant's admin imports.
func (a *API) importLimits(ctx context.Context, id string) reconcile.Limits {
	t, err := a.liveTenant(ctx, id)
	if err != nil {
		return reconcile.Limits{}
	}
	return t.Limits()
}

// actor is who makes a change: the admin key's name.
func actor(r *http.Request) directory.Actor {
	key, _ := KeyFrom(r.Context())
	return directory.Actor{Name: "admin:" + key.Name}
}

// decodeJSON reads a JSON body of at most 1 MiB into v, refusing unknown
// fields. It answers the error itself and returns false; an empty body is
// an error unless optional.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "the body holds more than one JSON value")
			return false
		}
		return true
	}
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		syntax  *json.SyntaxError
	)
	switch {
	case errors.Is(err, io.EOF) && optional:
		return true
	case errors.Is(err, io.EOF):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "a JSON body is required")
	case errors.As(err, &tooBig):
		daemon.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", "", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
	case errors.As(err, &typeErr):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", typeErr.Field, fmt.Sprintf("%s must be %s, not %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()), typeErr.Value))
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "the body is not valid JSON: "+err.Error())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		daemon.WriteError(w, http.StatusBadRequest, "unknown_field", field, fmt.Sprintf("unknown field %q", field))
	default:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", err.Error())
	}
	return false
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// fail answers an error of the directory, the store or a run with its
// status code and a stable code.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		invalid *directory.InvalidEmailError
		soon    *directory.TooSoonError
		query   *directory.QueryError
	)
	switch {
	case errors.As(err, &query):
		writeQueryError(w, query)
	case errors.Is(err, directory.ErrUnknownTenant):
		daemon.WriteError(w, http.StatusNotFound, "unknown_tenant", "t", err.Error())
	case errors.Is(err, store.ErrNotFound):
		daemon.WriteError(w, http.StatusNotFound, "not_found", "id", "no such card or run in this tenant")
	case errors.As(err, &soon):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(soon.RetryAfter.Seconds()))))
		daemon.WriteError(w, http.StatusTooManyRequests, "too_soon", "", err.Error())
	case errors.As(err, &invalid):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_email", "email", err.Error())
	case errors.Is(err, directory.ErrNotInvitable):
		daemon.WriteError(w, http.StatusConflict, "not_invitable", "", err.Error())
	case errors.Is(err, directory.ErrEmailTaken):
		daemon.WriteError(w, http.StatusConflict, "email_taken", "email", err.Error())
	case errors.Is(err, directory.ErrUnknownRole):
		daemon.WriteError(w, http.StatusBadRequest, "unknown_role", "role", err.Error())
	case errors.Is(err, directory.ErrSelfRelation), errors.Is(err, directory.ErrInvalidRelation), errors.Is(err, directory.ErrUnknownRelation):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_relation", relationField(err), err.Error())
	case errors.Is(err, directory.ErrUnknownManager):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "manager", err.Error())
	case errors.Is(err, directory.ErrGroupReadOnly):
		daemon.WriteError(w, http.StatusConflict, "read_only", "id", err.Error())
	case errors.Is(err, directory.ErrGroupNameTaken):
		daemon.WriteError(w, http.StatusConflict, "name_taken", "name", err.Error())
	case errors.Is(err, directory.ErrInvalid):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "name", err.Error())
	case errors.Is(err, directory.ErrNotPending):
		daemon.WriteError(w, http.StatusConflict, "not_pending", "", err.Error())
	case errors.Is(err, directory.ErrVersionMismatch):
		daemon.WriteError(w, http.StatusConflict, "version_mismatch", "", err.Error())
	case errors.Is(err, reconcile.ErrBusy):
		daemon.WriteError(w, http.StatusConflict, "run_in_progress", "", err.Error())
	case errors.Is(err, reconcile.ErrNotHeld):
		daemon.WriteError(w, http.StatusConflict, "not_held", "", err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		daemon.WriteError(w, http.StatusServiceUnavailable, "cancelled", "", "the request was cancelled")
	default:
		a.logger.Error("admin API request failed", "route", r.Pattern, "err", err)
		daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "internal error; see the server log")
	}
}

// pageLimit reads ?limit= (1..max, default def).
func pageLimit(w http.ResponseWriter, r *http.Request, def, max int) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "limit", fmt.Sprintf("limit must be a number from 1 to %d", max))
		return 0, false
	}
	return n, true
}

// boolParam reads a boolean query or form value; empty is false.
func boolParam(w http.ResponseWriter, name, v string) (bool, bool) {
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		if v == "on" || v == "yes" {
			return true, true
		}
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, name+" must be true or false")
		return false, false
	}
	return b, true
}

// feeds are the runnable feeds by "tenant/name", as they are now.
func (a *API) feeds() map[string]Feed {
	if a.services.FeedsNow != nil {
		return a.services.FeedsNow()
	}
	return a.services.Feeds
}
