package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// KeyManager lists, makes and revokes admin keys (*credential.Keyring).
type KeyManager interface {
	List(ctx context.Context, kind string) ([]store.Credential, error)
	AddScopedBy(ctx context.Context, by credential.Actor, kind, tenant, name, origin, secret string, readOnly bool, scopes []string, now time.Time) (store.Credential, error)
	RevokeBy(ctx context.Context, by credential.Actor, id string) error
}

// keyNamePattern is what an admin key's name may be (as the CLI's).
var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (a *API) keyRoutes() []route {
	return []route{
		{pattern: "GET /api/v1/keys", handler: a.operatorKeys(a.listKeys)},
		{pattern: "POST /api/v1/keys", handler: a.operatorKeys(a.createKey)},
		{pattern: "DELETE /api/v1/keys/{id}", handler: a.operatorKeys(a.revokeKey)},
	}
}

func (a *API) operatorKeys(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.services.Keys == nil {
			daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the admin API manages no keys here")
			return
		}
		key, _ := KeyFrom(r.Context())
		if key.Tenant != "" || !key.HasScope(store.ScopeOperator) {
			daemon.WriteError(w, http.StatusForbidden, "operator_required", "", "managing admin keys needs an operator key")
			return
		}
		h(w, r)
	}
}

// keyView is what the API shows of a key: never its hash.
type keyView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Tenant   string    `json:"tenant,omitempty"`
	ReadOnly bool      `json:"read_only"`
	Scopes   []string  `json:"scopes"`
	Origin   string    `json:"origin"`
	Created  time.Time `json:"created_at,omitzero"`
	// LastUsed is to the minute; a key of the file's, since this process
	// started.
	LastUsed time.Time `json:"last_used_at,omitzero"`
}

func viewOf(c store.Credential) keyView {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return keyView{ID: c.ID, Name: c.Name, Tenant: c.Tenant, ReadOnly: c.ReadOnly, Scopes: scopes, Origin: c.Origin, Created: c.Created, LastUsed: c.LastUsed}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.services.Keys.List(r.Context(), store.AdminKey)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]keyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, viewOf(k))
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string   `json:"name"`
		Tenant   string   `json:"tenant"`
		ReadOnly bool     `json:"read_only"`
		Scopes   []string `json:"scopes"`
	}
	if !decodeJSON(w, r, &in, false) {
		return
	}
	var problems []problem
	if !keyNamePattern.MatchString(in.Name) {
		problems = append(problems, problem{Path: "name", Message: "use letters, digits, '.', '_' or '-' (1 to 64)"})
	}
	for i, s := range in.Scopes {
		switch {
		case s == store.ScopeOperator && in.Tenant != "":
			problems = append(problems, problem{Path: "tenant", Message: "an operator key belongs to no tenant"})
		case s == store.ScopeConnections && in.Tenant == "":
			problems = append(problems, problem{Path: fmt.Sprintf("scopes[%d]", i), Message: "the connections scope is for a key of one tenant: set tenant"})
		case s != store.ScopeOperator && s != store.ScopeConnections:
			problems = append(problems, problem{Path: fmt.Sprintf("scopes[%d]", i), Message: "unknown scope " + s + " (want operator or connections)"})
		}
	}
	if in.Tenant != "" {
		if _, err := a.liveTenant(r.Context(), in.Tenant); err != nil {
			problems = append(problems, problem{Path: "tenant", Message: "no tenant " + in.Tenant})
		}
	}
	if len(problems) > 0 {
		daemon.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error": map[string]any{"code": "invalid_document", "message": problems[0].Path + ": " + problems[0].Message}, "problems": problems})
		return
	}
	secret, err := credential.Generate(credential.AdminKeyPrefix)
	var c store.Credential
	if err == nil {
		c, err = a.services.Keys.AddScopedBy(r.Context(), keyActor(r), store.AdminKey, in.Tenant, in.Name, "api", secret, in.ReadOnly, in.Scopes, time.Now().UTC())
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.logger.Info("admin key created", "id", c.ID, "by", actor(r).Name)
	daemon.WriteJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "name": in.Name, "key": secret, "note": "the key is shown this once; only its hash is kept"})
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	err := a.services.Keys.RevokeBy(r.Context(), keyActor(r), r.PathValue("id"))
	switch {
	case errors.Is(err, credential.ErrConfigured):
		daemon.WriteError(w, http.StatusConflict, "managed_by_config", "id", "this key is declared in the configuration file: remove it there")
	case errors.Is(err, store.ErrNotFound):
		daemon.WriteError(w, http.StatusNotFound, "not_found", "id", "no such key")
	case err != nil:
		a.fail(w, r, err)
	default:
		a.logger.Info("admin key revoked", "id", r.PathValue("id"), "by", actor(r).Name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// keyActor is the admin key making a change, for the audit line.
func keyActor(r *http.Request) credential.Actor {
	key, _ := KeyFrom(r.Context())
	return credential.Actor{Name: key.Name, Source: "admin"}
}
