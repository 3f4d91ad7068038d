package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
)

// GroupBody is a group as the API shows it: owned by its source, and
// read-only to admins unless that source is "admin".
type GroupBody struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Source   string `json:"source"`
	ReadOnly bool   `json:"read_only"`
	Members  *int   `json:"members,omitempty"`
	Version  int64  `json:"version"`
}

func groupBody(g directory.Group, members *int) GroupBody {
	return GroupBody{ID: g.ID, Name: g.DisplayName, Source: g.Source, ReadOnly: g.Source != directory.KindAdmin, Members: members, Version: g.Version}
}

// maxGroupMembersChange bounds one members request.
const maxGroupMembersChange = 1000

// listGroups: GET …/groups?cursor=&limit= — the tenant's groups of every
// source, with member counts, in id order.
func (a *API) listGroups(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, ok := pageLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	groups, err := a.services.Directory.ListTenantGroups(r.Context(), tenant, r.URL.Query().Get("cursor"), limit+1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := ""
	if len(groups) > limit {
		groups, next = groups[:limit], groups[limit-1].ID
	}
	out := make([]GroupBody, len(groups))
	for i, g := range groups {
		n := g.Members
		out[i] = groupBody(g.Group, &n)
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"groups": out, "next": next})
}

type groupNameBody struct {
	Name string `json:"name"`
}

func readGroupName(w http.ResponseWriter, r *http.Request) (string, bool) {
	var body groupNameBody
	if !decodeJSON(w, r, &body, false) {
		return "", false
	}
	name := strings.TrimSpace(body.Name)
	switch {
	case name == "":
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "name", "a group needs a name")
		return "", false
	case len(name) > 256:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "name", "name is longer than 256 characters")
		return "", false
	}
	return name, true
}

// createGroup: POST …/groups {"name": "…"} — an admin's group.
func (a *API) createGroup(w http.ResponseWriter, r *http.Request, tenant string) {
	name, ok := readGroupName(w, r)
	if !ok {
		return
	}
	g, err := a.services.Directory.CreateAdminGroup(r.Context(), actor(r), tenant, name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/tenants/%s/groups/%s", tenant, g.ID))
	daemon.WriteJSON(w, http.StatusCreated, groupBody(g, nil))
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, tenant string) {
	g, err := a.services.Directory.TenantGroup(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, groupBody(g, nil))
}

// renameGroup: PATCH …/groups/{id} {"name": "…"}; 409 read_only for a
// group another source owns.
func (a *API) renameGroup(w http.ResponseWriter, r *http.Request, tenant string) {
	name, ok := readGroupName(w, r)
	if !ok {
		return
	}
	g, err := a.services.Directory.RenameAdminGroup(r.Context(), actor(r), tenant, r.PathValue("id"), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, groupBody(g, nil))
}

// deleteGroup: DELETE …/groups/{id} — the memberships end, the cards stay.
func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := a.services.Directory.DeleteAdminGroup(r.Context(), actor(r), tenant, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listGroupMembers: GET …/groups/{id}/members?cursor=&limit= — member card
// ids in id order.
func (a *API) listGroupMembers(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, ok := pageLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	g, err := a.services.Directory.TenantGroup(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids, err := a.services.Directory.GroupMembers(r.Context(), g.ID, r.URL.Query().Get("cursor"), limit+1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	next := ""
	if len(ids) > limit {
		ids, next = ids[:limit], ids[limit-1]
	}
	if ids == nil {
		ids = []string{}
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"ids": ids, "next": next})
}

// changeGroupMembers: POST (add) or DELETE (remove) …/groups/{id}/members
// {"ids": […]}; ids that are no card of the tenant are answered as ignored.
func (a *API) changeGroupMembers(add bool) tenantHandler {
	return func(w http.ResponseWriter, r *http.Request, tenant string) {
		var body struct {
			IDs []string `json:"ids"`
		}
		if !decodeJSON(w, r, &body, false) {
			return
		}
		switch {
		case len(body.IDs) == 0:
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "ids", "give at least one card id")
			return
		case len(body.IDs) > maxGroupMembersChange:
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "ids", fmt.Sprintf("at most %d ids per request", maxGroupMembersChange))
			return
		}
		var plus, minus []string
		if add {
			plus = body.IDs
		} else {
			minus = body.IDs
		}
		res, err := a.services.Directory.ChangeAdminGroupMembers(r.Context(), actor(r), tenant, r.PathValue("id"), plus, minus)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ignored := res.Ignored
		if ignored == nil {
			ignored = []string{}
		}
		daemon.WriteJSON(w, http.StatusOK, map[string]any{"group": groupBody(res.Group, nil), "ignored": ignored})
	}
}
