package config

import (
	"strings"
	"testing"
)

func TestRolesAndRelations(t *testing.T) {
	c := mustParse(t, `tenants:
  - id: acme
    roles: [admin, staff, client]
    default_role: client
    role_rules:
      - {group: rosterd-admins, source: scim, role: admin}
      - {group: "CN=Staff,OU=Groups,DC=acme,DC=example", source: ldap:corp, role: staff}
      - {value: Employee, role: staff}
    approval: new_cards
    relations: [parent, instructor]
`)
	tn := c.Tenants[0]
	if len(tn.Roles) != 3 || tn.DefaultRole != "client" || len(tn.RoleRules) != 3 || tn.RoleRules[1].Source != "ldap:corp" ||
		tn.Approval != "new_cards" || len(tn.Relations) != 2 {
		t.Fatalf("parsed %+v", tn)
	}

	err := parseError(t, `tenants:
  - id: acme
    roles: [admin, Admin, admin]
    default_role: owner
    role_rules:
      - {role: admin}
      - {group: x, role: boss, source: ftp}
    approval: sometimes
    relations: [manager, parent, parent]
`)
	for _, want := range []string{
		`tenants[0].roles[1]: invalid role "Admin"`,
		`tenants[0].roles[2]: duplicate role "admin"`,
		`tenants[0].default_role: "owner" is not one of roles`,
		`tenants[0].role_rules[0]: group or value is required`,
		`tenants[0].role_rules[1].role: "boss" is not one of roles`,
		`tenants[0].role_rules[1].source: unknown source "ftp"`,
		`tenants[0].approval: unknown approval "sometimes" (want none, new_cards, jit_only)`,
		`tenants[0].relations[0]: manager is built in`,
		`tenants[0].relations[2]: duplicate relation "parent"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestSSODomains(t *testing.T) {
	c := mustParse(t, `tenants:
  - id: acme
    sso_domains: [corp.acme.com, acme.co.uk]
`)
	if got := strings.Join(c.Tenants[0].SSODomains, ","); got != "corp.acme.com,acme.co.uk" {
		t.Fatalf("sso_domains %q", got)
	}
	err := parseError(t, `tenants:
  - id: acme
    sso_domains: [Corp.Acme.com, "@acme.com", acme.com, acme.com]
`)
	for _, want := range []string{
		`tenants[0].sso_domains[0]: invalid domain "Corp.Acme.com"`,
		`tenants[0].sso_domains[1]: invalid domain "@acme.com"`,
		`tenants[0].sso_domains[3]: duplicate domain "acme.com"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}
