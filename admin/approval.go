package admin

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
)

func (a *API) approve(ctx context.Context, ac directory.Actor, t, id string) (directory.Card, error) {
	return a.services.Directory.Approve(ctx, ac, t, id)
}

// rejectCard: POST …/cards/{id}/reject {"reason": "…"} — a card waiting
// for approval is kept out, with a reason.
func (a *API) rejectCard(w http.ResponseWriter, r *http.Request, tenant string) {
	a.reasonedAction(w, r, tenant, a.services.Directory.Reject)
}

// RoleRuleBody is a mapping rule as the API shows it.
type RoleRuleBody struct {
	Source string `json:"source,omitempty"`
	Group  string `json:"group,omitempty"`
	Value  string `json:"value,omitempty"`
	Role   string `json:"role"`
}

// listRoles: GET …/roles — the tenant's role set, default role, mapping
// rules (in the order they are tried), approval policy and relations.
func (a *API) listRoles(w http.ResponseWriter, r *http.Request, tenant string) {
	a.listRolesWith(w, r, tenant, nil)
}

// listRolesWith is listRoles' body with the fields of extra added.
func (a *API) listRolesWith(w http.ResponseWriter, r *http.Request, tenant string, extra map[string]any) {
	p, err := a.services.Directory.Policy(tenant)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rules := make([]RoleRuleBody, len(p.RoleRules))
	for i, rr := range p.RoleRules {
		rules[i] = RoleRuleBody{Source: rr.Source, Group: rr.Group, Value: rr.Value, Role: rr.Role}
	}
	approval := p.Approval
	if approval == "" {
		approval = directory.ApprovalNone
	}
	body := map[string]any{"roles": nonNilStrings(p.Roles), "default_role": p.DefaultRole,
		"rules": rules, "approval": approval, "relations": append([]string{directory.RelationManager}, p.Relations...)}
	for k, v := range extra {
		body[k] = v
	}
	daemon.WriteJSON(w, http.StatusOK, body)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// relationField names the attribute a relation error is about.
func relationField(err error) string {
	msg := err.Error()
	for _, f := range []string{"manager_email", "relation."} {
		if i := strings.Index(msg, f); i >= 0 {
			end := i + len(f)
			for end < len(msg) && msg[end] != ' ' && msg[end] != ':' {
				end++
			}
			return strings.Replace(msg[i:end], "relation.", "relations.", 1)
		}
	}
	var unknown = directory.ErrUnknownRelation
	if errors.Is(err, unknown) {
		return "relations"
	}
	return ""
}

// relationsCell is an export's relations: "instructor=t@x.example;parent=m@x.example",
// by name.
func relationsCell(rel map[string]string) string {
	names := make([]string, 0, len(rel))
	for k := range rel {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		names[i] = k + "=" + rel[k]
	}
	return strings.Join(names, ";")
}
