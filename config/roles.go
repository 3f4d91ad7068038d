package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// roleNamePattern is what a role or a relation name may be: it is written
// in filters (?role=, ?relation.parent=) and file columns (relation.parent).
var roleNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Approval policies.
var approvalModes = []string{"none", "new_cards", "jit_only"}

// rolesAndRelations validates a tenant's roles, role rules, approval and
// relations.
func (v *validator) rolesAndRelations(p string, t *Tenant) {
	seen := map[string]bool{}
	for i, r := range t.Roles {
		rp := fmt.Sprintf("%s.roles[%d]", p, i)
		switch {
		case !roleNamePattern.MatchString(r):
			v.add(rp, "invalid role %q: use 1 to 63 lowercase letters, digits, '_' and '-', starting with a letter", r)
		case seen[r]:
			v.add(rp, "duplicate role %q", r)
		}
		seen[r] = true
	}
	known := func(role string) bool { return len(t.Roles) == 0 || slices.Contains(t.Roles, role) }
	if t.DefaultRole != "" && !known(t.DefaultRole) {
		v.add(p+".default_role", "%q is not one of roles (%s)", t.DefaultRole, strings.Join(t.Roles, ", "))
	}
	for i, r := range t.RoleRules {
		rp := fmt.Sprintf("%s.role_rules[%d]", p, i)
		switch {
		case r.Role == "":
			v.add(rp+".role", "required")
		case !known(r.Role):
			v.add(rp+".role", "%q is not one of roles (%s)", r.Role, strings.Join(t.Roles, ", "))
		}
		if r.Group == "" && r.Value == "" {
			v.add(rp, "group or value is required")
		}
		if r.Source != "" {
			kind, name, named := strings.Cut(r.Source, ":")
			if !slices.Contains(sourceKinds, kind) || (named && name == "") {
				v.add(rp+".source", "unknown source %q: want a kind (%s) or kind:name", r.Source, strings.Join(sourceKinds, ", "))
			}
		}
	}
	if t.Approval != "" && !slices.Contains(approvalModes, t.Approval) {
		v.add(p+".approval", "unknown approval %q (want %s)", t.Approval, strings.Join(approvalModes, ", "))
	}
	seen = map[string]bool{}
	for i, r := range t.Relations {
		rp := fmt.Sprintf("%s.relations[%d]", p, i)
		switch {
		case !roleNamePattern.MatchString(r):
			v.add(rp, "invalid relation %q: use 1 to 63 lowercase letters, digits, '_' and '-', starting with a letter", r)
		case r == "manager":
			v.add(rp, "manager is built in (manager_email); name the other relations")
		case seen[r]:
			v.add(rp, "duplicate relation %q", r)
		}
		seen[r] = true
	}
}
