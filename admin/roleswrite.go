package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// The roles write API: a card's role pin, and the tenant's role set and
// mapping rules.
//
// A pin is the role of the admin's own claim (PATCH …/cards/{id} with
// "role" sets it too); it beats every rule and source until it is
// deleted. The role set and rules are tenant policy: PUT …/roles writes
// them into the tenant's settings through the registry, validated as the
// configuration file's are, so a tenant the file declares is changed in
// the file (409 managed_by_config). A change of the roles, the default
// role or the rules starts a job that resolves every card of the tenant
// again (resolve.go); a configuration file's change reaches a card at its
// next write.

// putCardRole: PUT …/cards/{id}/role {"role": "staff"} — pin the card's
// role.
func (a *API) putCardRole(w http.ResponseWriter, r *http.Request, tenant string) {
	var body struct {
		Role *string `json:"role"`
	}
	if !decodeJSON(w, r, &body, false) {
		return
	}
	if body.Role == nil || strings.TrimSpace(*body.Role) == "" {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "role", "role is required (DELETE …/role removes the pin)")
		return
	}
	a.setRolePin(w, r, tenant, strings.TrimSpace(*body.Role))
}

// deleteCardRole: DELETE …/cards/{id}/role — remove the pin: the rules,
// the sources and the default decide again.
func (a *API) deleteCardRole(w http.ResponseWriter, r *http.Request, tenant string) {
	var body struct{}
	if !decodeJSON(w, r, &body, true) {
		return
	}
	a.setRolePin(w, r, tenant, "")
}

func (a *API) setRolePin(w http.ResponseWriter, r *http.Request, tenant, role string) {
	id := r.PathValue("id")
	if _, err := a.services.Directory.Get(r.Context(), tenant, id); err != nil {
		a.fail(w, r, err)
		return
	}
	claims, err := a.services.Directory.Claims(r.Context(), tenant, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var attrs directory.Attributes
	for _, c := range claims {
		if c.Source == directory.KindAdmin && c.State != store.Withdrawn {
			attrs = c.Attributes
		}
	}
	attrs.Role = role
	card, err := a.services.Directory.Edit(r.Context(), actor(r), tenant, id, attrs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, a.cardBody(card))
}

// rolesDocument is PUT …/roles: each key given replaces the tenant's
// setting; a key left out stays as it is.
type rolesDocument struct {
	Roles       *[]string       `json:"roles"`
	DefaultRole *string         `json:"default_role"`
	Rules       *[]RoleRuleBody `json:"rules"`
	Approval    *string         `json:"approval"`
	Relations   *[]string       `json:"relations"`
}

// putRoles: PUT …/roles — the tenant's role set, default role, mapping
// rules (first match wins, in this order), approval and relations.
func (a *API) putRoles(w http.ResponseWriter, r *http.Request, tenant string) {
	if a.services.Registry == nil {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API has no tenant registry configured")
		return
	}
	var body rolesDocument
	if !decodeJSON(w, r, &body, false) {
		return
	}
	// The document in the configuration's names; the rules' keys are
	// those of role_rules in the file.
	doc := map[string]any{}
	if body.Roles != nil {
		doc["roles"] = *body.Roles
	}
	if body.DefaultRole != nil {
		doc["default_role"] = *body.DefaultRole
	}
	if body.Rules != nil {
		rules := make([]config.RoleRule, len(*body.Rules))
		for i, rr := range *body.Rules {
			rules[i] = config.RoleRule{Source: rr.Source, Group: rr.Group, Value: rr.Value, Role: rr.Role}
		}
		doc["role_rules"] = rulesDoc(rules)
	}
	if body.Approval != nil {
		doc["approval"] = *body.Approval
	}
	if body.Relations != nil {
		doc["relations"] = *body.Relations
	}
	if len(doc) == 0 {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "", "give at least one of roles, default_role, rules, approval, relations")
		return
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.services.Registry.UpdateTenant(r.Context(), registryActor(r), tenant, raw); err != nil {
		var invalid *config.Error
		if errors.As(err, &invalid) {
			// The file's key role_rules is this API's rules.
			for i := range invalid.Problems {
				if p, ok := strings.CutPrefix(invalid.Problems[i].Path, "role_rules"); ok {
					invalid.Problems[i].Path = "rules" + p
				}
			}
		}
		a.registryFail(w, r, err)
		return
	}
	if body.Roles == nil && body.DefaultRole == nil && body.Rules == nil {
		a.listRoles(w, r, tenant)
		return
	}
	// The role settings changed: the tenant's cards are resolved again
	// under them (resolve.go); the answer names the job.
	run, err := a.startResolve(r.Context(), actor(r), tenant)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/tenants/%s/bulk/%s", tenant, run.ID))
	a.listRolesWith(w, r, tenant, map[string]any{"resolve": map[string]any{"id": run.ID, "status": run.Status}})
}

// rulesDoc is rules as the file writes them, without empty keys.
func rulesDoc(rules []config.RoleRule) []map[string]string {
	out := make([]map[string]string, len(rules))
	for i, r := range rules {
		m := map[string]string{"role": r.Role}
		for k, v := range map[string]string{"source": r.Source, "group": r.Group, "value": r.Value} {
			if v != "" {
				m[k] = v
			}
		}
		out[i] = m
	}
	return out
}
