package admin

import (
	"net/http"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// A tenant's email domains route "Sign in with SSO" by an address
// (GET /saml/login?email=) once verified: by DNS, a TXT record
// _rosterd-challenge.<domain> holding the domain's challenge, which the
// tenant's own key may check; or by an operator's word.

func (a *API) domainRoutes() []route {
	const d = "/api/v1/tenants/{t}/domains"
	return []route{
		{pattern: "GET " + d, handler: a.connections(a.listDomains)},
		{pattern: "POST " + d, handler: a.connections(a.addDomain)},
		{pattern: "DELETE " + d + "/{d}", handler: a.connections(a.removeDomain)},
		{pattern: "POST " + d + "/{d}/verify", handler: a.connections(a.verifyDomain)},
	}
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	out := t.DomainStatus()
	if out == nil {
		out = []tenant.Domain{}
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"domains": out})
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain string `json:"domain"`
	}
	if !decodeJSON(w, r, &in, false) {
		return
	}
	if in.Domain == "" {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "domain", "domain is required, like \"acme.com\"")
		return
	}
	d, err := a.services.Registry.AddDomain(r.Context(), registryActor(r), r.PathValue("t"), in.Domain)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+r.PathValue("t")+"/domains/"+d.Domain)
	daemon.WriteJSON(w, http.StatusCreated, d)
}

func (a *API) removeDomain(w http.ResponseWriter, r *http.Request) {
	if err := a.services.Registry.RemoveDomain(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("d")); err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verifyDomain checks the domain's TXT record (method "dns", the default),
// or takes an operator key's word (method "operator").
func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Method string `json:"method"`
	}
	if !decodeJSON(w, r, &in, true) {
		return
	}
	operator := false
	switch in.Method {
	case "", "dns":
	case "operator":
		key, _ := KeyFrom(r.Context())
		if key.Tenant != "" || !key.HasScope(store.ScopeOperator) {
			daemon.WriteError(w, http.StatusForbidden, "operator_required", "method",
				"only an operator key may mark a domain verified without DNS; a tenant's key verifies by DNS (method \"dns\")")
			return
		}
		operator = true
	default:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "method", "method must be \"dns\" or \"operator\"")
		return
	}
	d, err := a.services.Registry.VerifyDomain(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("d"), operator)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, d)
}
