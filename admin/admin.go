package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// Keys checks admin API keys.
type Keys interface {
	Check(ctx context.Context, kind, secret string) (store.Credential, error)
}

// Tenant is what the API says of a tenant.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// API is the admin API.
type API struct {
	keys        Keys
	tenants     []Tenant
	logger      *slog.Logger
	authFailure prometheus.Counter
	loginCodes  LoginCodes // see WithLoginCodes
}

// New returns the admin API; reg receives its metrics.
func New(keys Keys, tenants []Tenant, logger *slog.Logger, reg prometheus.Registerer) *API {
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

// Mount registers the API's routes.
func (a *API) Mount(mux Mux) {
	mux.Handle("GET /api/v1/tenants", a.auth(http.HandlerFunc(a.listTenants)))
	mux.Handle("GET /api/v1/import/template.csv", a.auth(http.HandlerFunc(a.importTemplate)))
	mux.Handle("POST /api/v1/login-codes/redeem", a.auth(http.HandlerFunc(a.redeemLoginCode)))
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

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"tenants": a.tenants})
}
