package tenant

import (
	"testing"

	"github.com/rosterd/rosterd/config"
)

// TestPolicyCarriesRolesApprovalRelations: the runtime tenant's policy
// hands the directory the tenant's roles, rules, approval and relations.
func TestPolicyCarriesRolesApprovalRelations(t *testing.T) {
	c := &config.Tenant{ID: "acme", Name: "Acme", Roles: []string{"admin", "staff"}, DefaultRole: "staff",
		RoleRules: []config.RoleRule{{Group: "rosterd-admins", Source: "scim", Role: "admin"}}, Approval: "new_cards", Relations: []string{"parent"}}
	p := FromConfig(c).Policy()
	if len(p.Roles) != 2 || p.DefaultRole != "staff" || len(p.RoleRules) != 1 || p.RoleRules[0].Group != "rosterd-admins" ||
		p.RoleRules[0].Source != "scim" || p.Approval != "new_cards" || len(p.Relations) != 1 {
		t.Fatalf("policy %+v", p)
	}
	c.Roles[0] = "changed"
	if FromConfig(c).Policy().Roles[0] != "changed" || p.Roles[0] != "admin" {
		t.Fatal("a policy shares its role set with the configuration")
	}
}
