package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Registry is the tenant registry's write side, for an operator key
// (*tenant.Registry). Every change it makes commits with an audit line and
// an event, and is live on every replica within seconds.
type Registry interface {
	Tenants
	Lookup(id string) (*tenant.Tenant, bool)
	CreateTenant(ctx context.Context, actor tenant.Actor, doc []byte) (*tenant.Tenant, error)
	UpdateTenant(ctx context.Context, actor tenant.Actor, id string, doc []byte) (*tenant.Tenant, error)
	RetireTenant(ctx context.Context, actor tenant.Actor, id string) (*tenant.Tenant, error)
	RestoreTenant(ctx context.Context, actor tenant.Actor, id string) (*tenant.Tenant, error)
	CreateSCIMConnection(ctx context.Context, actor tenant.Actor, tenantID string, in tenant.SCIMConnectionInput) (tenant.SCIMConnection, string, error)
	DeleteSCIMConnection(ctx context.Context, actor tenant.Actor, tenantID, id string) error
	AddSCIMToken(ctx context.Context, actor tenant.Actor, tenantID, id string, overlap time.Duration) (tenant.Token, string, error)
	RevokeSCIMToken(ctx context.Context, actor tenant.Actor, tenantID, id, tokenID string) error
	AddDomain(ctx context.Context, actor tenant.Actor, tenantID, domain string) (tenant.Domain, error)
	RemoveDomain(ctx context.Context, actor tenant.Actor, tenantID, domain string) error
	VerifyDomain(ctx context.Context, actor tenant.Actor, tenantID, domain string, operator bool) (tenant.Domain, error)
	CreateFeed(ctx context.Context, actor tenant.Actor, tenantID string, doc []byte) (tenant.Feed, error)
	UpdateFeed(ctx context.Context, actor tenant.Actor, tenantID, name string, doc []byte) (tenant.Feed, error)
	DeleteFeed(ctx context.Context, actor tenant.Actor, tenantID, name string) error
	CreateWebhook(ctx context.Context, actor tenant.Actor, tenantID string, doc []byte) (tenant.WebhookEndpoint, error)
	UpdateWebhook(ctx context.Context, actor tenant.Actor, tenantID, id string, doc []byte) (tenant.WebhookEndpoint, error)
	DeleteWebhook(ctx context.Context, actor tenant.Actor, tenantID, id string) error
}

// registryRoutes are the operator's endpoints.
func (a *API) registryRoutes() []route {
	const t = "/api/v1/tenants/{t}"
	const c = t + "/scim-connections"
	return []route{
		{pattern: "POST /api/v1/tenants", handler: a.operator(a.createTenant)},
		{pattern: "GET " + t, handler: a.operator(a.getTenant)},
		{pattern: "PATCH " + t, handler: a.operator(a.updateTenant)},
		{pattern: "DELETE " + t, handler: a.operator(a.retireTenant)},
		{pattern: "POST " + t + "/restore", handler: a.operator(a.restoreTenant)},
		{pattern: "GET " + c, handler: a.connections(a.listSCIMConnections)},
		{pattern: "POST " + c, handler: a.connections(a.createSCIMConnection)},
		{pattern: "GET " + c + "/{id}", handler: a.connections(a.getSCIMConnection)},
		{pattern: "DELETE " + c + "/{id}", handler: a.connections(a.deleteSCIMConnection)},
		{pattern: "POST " + c + "/{id}/tokens", handler: a.connections(a.addSCIMToken)},
		{pattern: "DELETE " + c + "/{id}/tokens/{token}", handler: a.connections(a.revokeSCIMToken)},
	}
}

// operator admits only an operator key: no tenant, the operator scope.
func (a *API) operator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.services.Registry == nil {
			daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API has no tenant registry configured")
			return
		}
		key, _ := KeyFrom(r.Context())
		if key.Tenant != "" || !key.HasScope(store.ScopeOperator) {
			daemon.WriteError(w, http.StatusForbidden, "operator_required", "",
				"managing tenants needs an operator key: an admin key of no tenant with the operator scope")
			return
		}
		h(w, r)
	}
}

// connections admits an operator key, and a key of the path's tenant with
// the connections scope: a tenant manages its own connections, never
// another tenant's, and never the registry's tenants themselves.
func (a *API) connections(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.services.Registry == nil {
			daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API has no tenant registry configured")
			return
		}
		key, _ := KeyFrom(r.Context())
		switch {
		case key.Tenant == "" && key.HasScope(store.ScopeOperator):
		case key.Tenant == "":
			daemon.WriteError(w, http.StatusForbidden, "operator_required", "",
				"managing a tenant's connections needs an operator key, or a key of that tenant with the connections scope")
			return
		case key.Tenant != r.PathValue("t"):
			daemon.WriteError(w, http.StatusForbidden, "wrong_tenant", "t", "this admin key belongs to another tenant")
			return
		case !key.HasScope(store.ScopeConnections):
			daemon.WriteError(w, http.StatusForbidden, "connections_scope_required", "",
				"managing the tenant's connections needs a key with the connections scope (an operator grants it: POST /api/v1/keys with scopes [\"connections\"])")
			return
		}
		h(w, r)
	}
}

func registryActor(r *http.Request) tenant.Actor {
	key, _ := KeyFrom(r.Context())
	return tenant.Actor(key.Name)
}

// problem is one thing wrong with a document, at its JSON path.
type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// registryFail answers an error of the registry.
func (a *API) registryFail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		invalid     *config.Error
		managed     *tenant.ManagedError
		notVerified *tenant.NotVerifiedError
	)
	switch {
	case errors.As(err, &invalid):
		problems := make([]problem, len(invalid.Problems))
		for i, p := range invalid.Problems {
			problems[i] = problem{Path: p.Path, Message: p.Message}
		}
		msg := fmt.Sprintf("%d problem(s) in the document", len(problems))
		if len(problems) > 0 {
			msg = problems[0].Path + ": " + problems[0].Message
			if len(problems) > 1 {
				msg += fmt.Sprintf(" (and %d more)", len(problems)-1)
			}
		}
		daemon.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error":    map[string]any{"code": "invalid_document", "message": msg},
			"problems": problems,
		})
	case errors.As(err, &managed):
		daemon.WriteError(w, http.StatusConflict, "managed_by_config", "", managed.Error())
	case errors.Is(err, tenant.ErrExists):
		daemon.WriteError(w, http.StatusConflict, "already_exists", "", err.Error())
	case errors.Is(err, tenant.ErrNotFound):
		daemon.WriteError(w, http.StatusNotFound, "unknown_tenant", "t", err.Error())
	case errors.Is(err, tenant.ErrConnectionNotFound):
		daemon.WriteError(w, http.StatusNotFound, "not_found", "id", err.Error())
	case errors.Is(err, tenant.ErrDomainNotFound):
		daemon.WriteError(w, http.StatusNotFound, "not_found", "d", err.Error())
	case errors.As(err, &notVerified):
		daemon.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":      map[string]any{"code": "domain_not_verified", "message": notVerified.Error()},
			"txt_record": notVerified.Record,
		})
	case errors.Is(err, tenant.ErrFeedNotFound):
		daemon.WriteError(w, http.StatusNotFound, "not_found", "", err.Error())
	default:
		a.fail(w, r, err)
	}
}

// readDocument reads a JSON object body of at most 1 MiB.
func readDocument(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		daemon.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", "", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
		return nil, false
	case err != nil:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "the body could not be read")
		return nil, false
	}
	trimmed := strings.TrimSpace(string(body))
	if !json.Valid(body) || !strings.HasPrefix(trimmed, "{") {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "the body must be one JSON object")
		return nil, false
	}
	return body, true
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	t, err := a.services.Registry.CreateTenant(r.Context(), registryActor(r), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.ID())
	daemon.WriteJSON(w, http.StatusCreated, t.View())
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	t, ok := a.services.Registry.Lookup(r.PathValue("t"))
	if !ok {
		a.registryFail(w, r, fmt.Errorf("%w: %q", tenant.ErrNotFound, r.PathValue("t")))
		return
	}
	daemon.WriteJSON(w, http.StatusOK, t.View())
}

func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	t, err := a.services.Registry.UpdateTenant(r.Context(), registryActor(r), r.PathValue("t"), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, t.View())
}

func (a *API) retireTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.services.Registry.RetireTenant(r.Context(), registryActor(r), r.PathValue("t"))
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, t.View())
}

func (a *API) restoreTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.services.Registry.RestoreTenant(r.Context(), registryActor(r), r.PathValue("t"))
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, t.View())
}

func (a *API) lookupTenant(w http.ResponseWriter, r *http.Request) (*tenant.Tenant, bool) {
	t, ok := a.services.Registry.Lookup(r.PathValue("t"))
	if !ok {
		a.registryFail(w, r, fmt.Errorf("%w: %q", tenant.ErrNotFound, r.PathValue("t")))
	}
	return t, ok
}

func (a *API) listSCIMConnections(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	conns := t.SCIMConnections()
	if conns == nil {
		conns = []tenant.SCIMConnection{}
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"scim_connections": conns})
}

func (a *API) getSCIMConnection(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	for _, c := range t.SCIMConnections() {
		if c.ID == r.PathValue("id") {
			daemon.WriteJSON(w, http.StatusOK, c)
			return
		}
	}
	a.registryFail(w, r, fmt.Errorf("%w: %q", tenant.ErrConnectionNotFound, r.PathValue("id")))
}

// scimBase is the SCIM base URL of a tenant, for the IdP's setup.
func (a *API) scimBase(r *http.Request, tenantID string) string {
	return strings.TrimSuffix(a.services.PublicURL, "/") + "/scim/" + tenantID + "/v2"
}

func (a *API) createSCIMConnection(w http.ResponseWriter, r *http.Request) {
	var in tenant.SCIMConnectionInput
	if !decodeJSON(w, r, &in, false) {
		return
	}
	c, secret, err := a.services.Registry.CreateSCIMConnection(r.Context(), registryActor(r), r.PathValue("t"), in)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusCreated, map[string]any{"connection": c, "token": secret,
		"scim_base_url": a.scimBase(r, r.PathValue("t")), "note": "the token is shown this once; only its hash is kept"})
}

func (a *API) deleteSCIMConnection(w http.ResponseWriter, r *http.Request) {
	if err := a.services.Registry.DeleteSCIMConnection(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("id")); err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) addSCIMToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		// RotateOverlap, when given, rotates: the connection's other
		// tokens stop working after it ("24h").
		RotateOverlap string `json:"rotate_overlap"`
	}
	if !decodeJSON(w, r, &in, true) {
		return
	}
	var overlap time.Duration
	if in.RotateOverlap != "" {
		d, err := time.ParseDuration(in.RotateOverlap)
		if err != nil || d <= 0 || d > 90*24*time.Hour {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "rotate_overlap", "rotate_overlap must be a duration between 1s and 2160h, like \"24h\"")
			return
		}
		overlap = d
	}
	tok, secret, err := a.services.Registry.AddSCIMToken(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("id"), overlap)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusCreated, map[string]any{"token_info": tok, "token": secret, "note": "the token is shown this once; only its hash is kept"})
}

func (a *API) revokeSCIMToken(w http.ResponseWriter, r *http.Request) {
	if err := a.services.Registry.RevokeSCIMToken(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("id"), r.PathValue("token")); err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// samlRoutes are the operator's SAML connection of a tenant: its settings
// are the tenant's saml key, set and cleared through the registry.
func (a *API) samlRoutes() []route {
	const c = "/api/v1/tenants/{t}/saml-connection"
	return []route{
		{pattern: "GET " + c, handler: a.connections(a.getSAMLConnection)},
		{pattern: "PUT " + c, handler: a.connections(a.putSAMLConnection)},
		{pattern: "DELETE " + c, handler: a.connections(a.deleteSAMLConnection)},
	}
}

// samlView is a tenant's SAML settings and what its IdP needs of us.
func (a *API) samlView(t *tenant.Tenant) map[string]any {
	base := strings.TrimSuffix(a.services.PublicURL, "/") + "/saml/" + t.ID()
	sp := map[string]any{"entity_id": base + "/metadata", "acs_url": base + "/acs", "metadata_url": base + "/metadata", "login_url": base + "/login"}
	s, ok := t.SAML()
	if !ok {
		return map[string]any{"configured": false, "sp": sp}
	}
	if s.EntityID != "" {
		sp["entity_id"] = s.EntityID
	}
	var settings map[string]any
	_ = json.Unmarshal(t.View().Settings, &struct {
		SAML *map[string]any `json:"saml"`
	}{&settings})
	return map[string]any{"configured": true, "settings": settings, "sp": sp}
}

func (a *API) getSAMLConnection(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	daemon.WriteJSON(w, http.StatusOK, a.samlView(t))
}

// putSAMLConnection sets the tenant's SAML settings (the file's saml keys:
// idp_metadata_url, attributes, allow_idp_initiated, …) as a whole.
func (a *API) putSAMLConnection(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	wrapped := append(append([]byte(`{"saml": `), doc...), '}')
	t, err := a.services.Registry.UpdateTenant(r.Context(), registryActor(r), r.PathValue("t"), wrapped)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, a.samlView(t))
}

func (a *API) deleteSAMLConnection(w http.ResponseWriter, r *http.Request) {
	if _, err := a.services.Registry.UpdateTenant(r.Context(), registryActor(r), r.PathValue("t"), []byte(`{"saml": null}`)); err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
