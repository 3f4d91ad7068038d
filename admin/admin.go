package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Keys checks admin API keys.
type Keys interface {
	Check(ctx context.Context, kind, secret string) (store.Credential, error)
}

// Tenants is the tenant registry as the API asks it, per request
// (*tenant.Registry).
type Tenants interface {
	Get(ctx context.Context, id string) (*tenant.Tenant, error)
	List() []*tenant.Tenant
}

// Tenant is what GET /api/v1/tenants says of a tenant.
type Tenant struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	ManagedBy string `json:"managed_by"`
	Retired   bool   `json:"retired"`
}

// API is the admin API.
type API struct {
	keys        Keys
	tenants     Tenants
	logger      *slog.Logger
	authFailure prometheus.Counter
	loginCodes  LoginCodes // see WithLoginCodes
	services    Services   // see With
}

// New returns the admin API; reg receives its metrics.
func New(keys Keys, tenants Tenants, logger *slog.Logger, reg prometheus.Registerer) *API {
	a := &API{
		keys: keys, tenants: tenants, logger: logger,
		authFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rosterd_admin_auth_failures_total",
			Help: "Admin API requests refused for a missing or unknown key.",
		}),
	}
	reg.MustRegister(a.authFailure)
	return a
}

// Mux is where routes are registered (daemon.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// route is one endpoint of the API.
type route struct {
	pattern string
	handler http.HandlerFunc
	public  bool // served without a key
}

// routes lists every endpoint; each must appear in openapi.yaml (a test
// checks).
func (a *API) routes() []route {
	const t = "/api/v1/tenants/{t}"
	return []route{
		{pattern: "GET /api/v1/openapi.yaml", handler: a.openAPI, public: true},
		{pattern: "GET /api/v1/tenants", handler: a.listTenants},
		{pattern: "GET /api/v1/import/template.csv", handler: a.importTemplate},
		{pattern: "GET /api/v1/import/template.xlsx", handler: a.importTemplateXLSX},
		{pattern: "POST /api/v1/login-codes/redeem", handler: a.redeemLoginCode},

		{pattern: "GET " + t + "/cards", handler: a.inTenant(a.listCards)},
		{pattern: "GET " + t + "/cards/stats", handler: a.inTenant(a.cardStats)},
		{pattern: "GET " + t + "/cards/export.csv", handler: a.inTenant(a.exportCards)},
		{pattern: "GET " + t + "/cards/export.xlsx", handler: a.inTenant(a.exportCardsXLSX)},
		{pattern: "POST " + t + "/cards/invite", handler: a.inTenant(a.inviteCards)},
		{pattern: "POST " + t + "/cards/bulk", handler: a.inTenant(a.bulkCards)},
		{pattern: "GET " + t + "/bulk/{id}", handler: a.inTenant(a.getBulk)},
		{pattern: "GET " + t + "/cards/{id}", handler: a.inTenant(a.getCard)},
		{pattern: "PATCH " + t + "/cards/{id}", handler: a.inTenant(a.editCard)},
		{pattern: "GET " + t + "/cards/{id}/explain", handler: a.inTenant(a.explainCard)},
		{pattern: "POST " + t + "/cards/{id}/disable", handler: a.inTenant(a.disableCard)},
		{pattern: "POST " + t + "/cards/{id}/enable", handler: a.inTenant(a.cardAction(a.enable))},
		{pattern: "POST " + t + "/cards/{id}/release", handler: a.inTenant(a.cardAction(a.release))},
		{pattern: "POST " + t + "/cards/{id}/reinvite", handler: a.inTenant(a.cardAction(a.reinvite))},
		{pattern: "POST " + t + "/cards/{id}/remind", handler: a.inTenant(a.cardAction(a.remind))},
		{pattern: "POST " + t + "/cards/{id}/approve", handler: a.inTenant(a.cardAction(a.approve))},
		{pattern: "POST " + t + "/cards/{id}/reject", handler: a.inTenant(a.rejectCard)},
		{pattern: "GET " + t + "/roles", handler: a.inTenant(a.listRoles)},
		{pattern: "PUT " + t + "/roles", handler: a.inTenant(a.putRoles)},
		{pattern: "PUT " + t + "/cards/{id}/role", handler: a.inTenant(a.putCardRole)},
		{pattern: "DELETE " + t + "/cards/{id}/role", handler: a.inTenant(a.deleteCardRole)},
		{pattern: "GET " + t + "/groups", handler: a.inTenant(a.listGroups)},
		{pattern: "POST " + t + "/groups", handler: a.inTenant(a.createGroup)},
		{pattern: "GET " + t + "/groups/{id}", handler: a.inTenant(a.getGroup)},
		{pattern: "PATCH " + t + "/groups/{id}", handler: a.inTenant(a.renameGroup)},
		{pattern: "DELETE " + t + "/groups/{id}", handler: a.inTenant(a.deleteGroup)},
		{pattern: "GET " + t + "/groups/{id}/members", handler: a.inTenant(a.listGroupMembers)},
		{pattern: "POST " + t + "/groups/{id}/members", handler: a.inTenant(a.changeGroupMembers(true))},
		{pattern: "DELETE " + t + "/groups/{id}/members", handler: a.inTenant(a.changeGroupMembers(false))},

		{pattern: "GET " + t + "/feeds", handler: a.inTenant(a.listFeeds)},
		{pattern: "POST " + t + "/feeds/{name}/runs", handler: a.inTenant(a.runFeed)},
		{pattern: "GET " + t + "/runs", handler: a.inTenant(a.listRuns)},
		{pattern: "GET " + t + "/runs/{id}", handler: a.inTenant(a.getRun)},
		{pattern: "GET " + t + "/runs/{id}/plan", handler: a.inTenant(a.getPlan)},
		{pattern: "POST " + t + "/runs/{id}/approve", handler: a.inTenant(a.approveRun)},
		{pattern: "POST " + t + "/runs/{id}/reject", handler: a.inTenant(a.rejectRun)},
		{pattern: "POST " + t + "/imports", handler: a.inTenant(a.importFile)},

		{pattern: "GET " + t + "/audit", handler: a.inTenant(a.listAudit)},
		{pattern: "GET " + t + "/events", handler: a.inTenant(a.listEvents)},
		{pattern: "GET " + t + "/webhooks/deliveries", handler: a.inTenant(a.listWebhookDeliveries)},
	}
}

// Mount registers the API's routes.
func (a *API) Mount(mux Mux) {
	for _, rt := range slices.Concat(a.routes(), a.registryRoutes(), a.feedRoutes(), a.samlRoutes(), a.keyRoutes(), a.setupRoutes(), a.domainRoutes(), a.uploadTokenRoutes()) {
		var h http.Handler = rt.handler
		if !rt.public {
			h = a.auth(h)
		}
		mux.Handle(rt.pattern, h)
	}
}

type keyContext struct{}

// KeyFrom returns the credential that authenticated the request.
func KeyFrom(ctx context.Context) (store.Credential, bool) {
	c, ok := ctx.Value(keyContext{}).(store.Credential)
	return c, ok
}

// auth admits requests carrying a valid admin key; a read-only key only
// for safe methods.
func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			a.authFailure.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="rosterd admin API"`)
			daemon.WriteError(w, http.StatusUnauthorized, "unauthenticated", "", "send an admin API key as Authorization: Bearer <key>")
			return
		}
		key, err := a.keys.Check(r.Context(), store.AdminKey, strings.TrimSpace(secret))
		if err != nil {
			a.authFailure.Inc()
			if !errors.Is(err, store.ErrNotFound) {
				a.logger.Debug("admin key refused", "err", err)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="rosterd admin API", error="invalid_token"`)
			daemon.WriteError(w, http.StatusUnauthorized, "invalid_key", "", "the admin API key is not valid")
			return
		}
		if key.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			daemon.WriteError(w, http.StatusForbidden, "read_only_key", "", "this admin API key is read-only")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyContext{}, key)))
	})
}

// listTenants names the tenants the key may reach: all of them, or the
// one a tenant-bound key belongs to.
func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	key, _ := KeyFrom(r.Context())
	tenants := []Tenant{}
	if a.tenants != nil {
		for _, t := range a.tenants.List() {
			if key.Tenant == "" || t.ID() == key.Tenant {
				tenants = append(tenants, Tenant{ID: t.ID(), Name: t.Name(), ManagedBy: t.ManagedBy(), Retired: t.Retired()})
			}
		}
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"tenants": tenants})
}
