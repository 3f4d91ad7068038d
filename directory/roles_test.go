package directory

import (
	"errors"
	"testing"

	"github.com/rosterd/rosterd/store"
)

func rolePolicy() Policy {
	return Policy{
		Roles:       []string{"admin", "staff", "client"},
		DefaultRole: "client",
		RoleRules: []RoleRule{
			{Group: "rosterd-admins", Role: "admin", Source: "scim"},
			{Group: "CN=Staff,OU=Groups,DC=acme,DC=example", Role: "staff"},
			{Value: "Employee", Role: "staff", Source: "file:hr"},
		},
	}
}

func TestResolveRolePrecedence(t *testing.T) {
	groups := func(g ...string) Attributes { return Attributes{Groups: g} }
	tests := []struct {
		name   string
		claims []Claim
		policy Policy
		role   string
		source string
	}{
		{
			name: "an admin pin beats every rule",
			claims: []Claim{cl("admin", store.Present, false, Attributes{Role: "Client"}),
				cl("scim:okta", store.Present, true, groups("rosterd-admins"))},
			policy: rolePolicy(), role: "client", source: RoleFromPin,
		},
		{
			name:   "a mapping rule beats the sources' own values",
			claims: []Claim{cl("scim:okta", store.Present, true, Attributes{Role: "client", Groups: []string{"Rosterd-Admins"}})},
			policy: rolePolicy(), role: "admin", source: `rule 1 (group "rosterd-admins" of scim → admin) on scim:okta`,
		},
		{
			name: "the first rule in the tenant's order wins, whichever source matches it",
			claims: []Claim{cl("ldap:corp", store.Present, true, groups("cn=staff,ou=groups,dc=acme,dc=example")),
				cl("scim:okta", store.Present, true, groups("rosterd-admins"))},
			policy: rolePolicy(), role: "admin", source: `rule 1 (group "rosterd-admins" of scim → admin) on scim:okta`,
		},
		{
			name:   "an LDAP group DN maps",
			claims: []Claim{cl("ldap:corp", store.Present, true, groups("CN=Staff,OU=Groups,DC=acme,DC=example"))},
			policy: rolePolicy(), role: "staff", source: `rule 2 (group "CN=Staff,OU=Groups,DC=acme,DC=example" → staff) on ldap:corp`,
		},
		{
			name:   "an LDAP group DN matches the feed's group name, its first RDN's value",
			claims: []Claim{cl("ldap:corp", store.Present, true, groups("Staff"))},
			policy: rolePolicy(), role: "staff", source: `rule 2 (group "CN=Staff,OU=Groups,DC=acme,DC=example" → staff) on ldap:corp`,
		},
		{
			name:   "a DN's value does not match a group of another name",
			claims: []Claim{cl("ldap:corp", store.Present, true, groups("Staffers", "OU=Groups"))},
			policy: rolePolicy(), role: "client", source: RoleFromDefault,
		},
		{
			name:   "a rule limited to a source ignores the others",
			claims: []Claim{cl("file:other", store.Present, true, Attributes{Role: "employee"})},
			policy: rolePolicy(), role: "client", source: RoleFromDefault,
		},
		{
			name:   "a file column value maps",
			claims: []Claim{cl("file:hr", store.Present, true, Attributes{Role: "employee"})},
			policy: rolePolicy(), role: "staff", source: `rule 3 (value "Employee" of file:hr → staff) on file:hr`,
		},
		{
			name: "source values in precedence order, spelled as the role set",
			claims: []Claim{cl("saml", store.Present, false, Attributes{Role: "admin"}),
				cl("file:hr", store.Present, true, Attributes{Role: "STAFF"})},
			policy: rolePolicy(), role: "staff", source: "file:hr",
		},
		{
			name: "an unknown source value is passed over",
			claims: []Claim{cl("scim:okta", store.Present, true, Attributes{Role: "wizard"}),
				cl("saml", store.Present, false, Attributes{Role: "staff"})},
			policy: rolePolicy(), role: "staff", source: "saml",
		},
		{
			name:   "a withdrawn claim's groups map nothing",
			claims: []Claim{cl("scim:okta", store.Withdrawn, true, groups("rosterd-admins")), cl("file:hr", store.Present, true, Attributes{})},
			policy: rolePolicy(), role: "client", source: RoleFromDefault,
		},
		{
			name:   "nothing gives a role: the default",
			claims: []Claim{cl("file:hr", store.Present, true, Attributes{})},
			policy: rolePolicy(), role: "client", source: RoleFromDefault,
		},
		{
			name:   "a tenant without a role set keeps role as free text",
			claims: []Claim{cl("file:hr", store.Present, true, Attributes{Role: "Chief Tea Officer"})},
			policy: Policy{}, role: "Chief Tea Officer", source: "file:hr",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ResolveCard(tc.claims, Decisions{}, tc.policy)
			if r.Attributes.Role != tc.role || r.RoleSource != tc.source {
				t.Fatalf("role %q from %q, want %q from %q", r.Attributes.Role, r.RoleSource, tc.role, tc.source)
			}
			if r.From["role"] != tc.source {
				t.Fatalf("From[role] = %q, want %q", r.From["role"], tc.source)
			}
			// The lean resolution a batch uses agrees.
			if lean := resolve(tc.claims, Decisions{}, tc.policy, false); lean.Attributes.Role != tc.role || lean.RoleSource != tc.source {
				t.Fatalf("lean: role %q from %q, want %q from %q", lean.Attributes.Role, lean.RoleSource, tc.role, tc.source)
			}
		})
	}
}

func TestResolveApproval(t *testing.T) {
	hr := cl("file:hr", store.Present, true, Attributes{})
	pending := &store.Approval{State: store.ApprovalPending, At: day1}
	tests := []struct {
		name     string
		claims   []Claim
		d        Decisions
		enabled  bool
		rule     Rule
		reason   string
		approval *store.Approval
	}{
		{
			name: "pending holds a card its sources enable", claims: []Claim{hr}, d: Decisions{Approval: pending},
			enabled: false, rule: RuleApproval, reason: "disabled: waiting for an admin's approval (enabled: listed by file:hr)",
		},
		{
			name: "approved: the sources decide", claims: []Claim{hr},
			d:       Decisions{Approval: &store.Approval{State: store.ApprovalApproved, Actor: "admin:ops", At: day1}},
			enabled: true, rule: RulePresent, reason: "enabled: listed by file:hr",
		},
		{
			name: "rejected stays disabled with its reason", claims: []Claim{hr},
			d:       Decisions{Approval: &store.Approval{State: store.ApprovalRejected, Actor: "admin:ops", Reason: "not ours", At: day1}},
			enabled: false, rule: RuleApproval, reason: `disabled: rejected by admin admin:ops on 2026-11-20 ("not ours")`,
		},
		{
			name: "a pin comes before approval", claims: []Claim{hr},
			d:       Decisions{Approval: pending, Pin: &Pin{Actor: "admin:ops", At: day1}},
			enabled: false, rule: RulePinned, reason: "disabled: pinned by admin admin:ops on 2026-11-20",
		},
		{
			name: "a deactivation comes before approval", claims: []Claim{cl("scim:okta", store.Deactivated, true, Attributes{})},
			d: Decisions{Approval: pending}, enabled: false, rule: RuleDeactivated, reason: "disabled: deactivated by scim:okta on 2026-11-20",
		},
		{
			name: "a pending card nobody lists is unlisted", claims: []Claim{cl("file:hr", store.Withdrawn, true, Attributes{})},
			d: Decisions{Approval: pending}, enabled: false, rule: RuleUnlisted,
			reason: "disabled: no source lists this person any more (withdrawn by file:hr on 2026-11-20)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ResolveCard(tc.claims, tc.d, Policy{})
			if r.Enabled != tc.enabled || r.Rule != tc.rule || r.Reason != tc.reason {
				t.Fatalf("enabled %v, rule %d, %q\nwant enabled %v, rule %d, %q", r.Enabled, r.Rule, r.Reason, tc.enabled, tc.rule, tc.reason)
			}
		})
	}
}

func TestCheckRoleAndRelations(t *testing.T) {
	p := rolePolicy()
	p.Relations = []string{"parent"}
	for _, tc := range []struct {
		source, role string
		err          error
	}{
		{"admin", "Staff", nil},
		{"admin", "employee", ErrUnknownRole}, // rules do not map an admin's pin
		{"file:hr", "employee", nil},          // rule 3 maps it
		{"file:other", "employee", ErrUnknownRole},
		{"scim:okta", "", nil},
	} {
		if err := p.CheckRole(tc.source, tc.role); !errors.Is(err, tc.err) {
			t.Errorf("CheckRole(%s, %q) = %v, want %v", tc.source, tc.role, err, tc.err)
		}
	}
	for _, tc := range []struct {
		a   Attributes
		err error
	}{
		{Attributes{ManagerEmail: "boss@acme.example", Relations: map[string]string{"parent": "mum@acme.example"}}, nil},
		{Attributes{ManagerEmail: "not-an-email"}, ErrInvalidRelation},
		{Attributes{ManagerEmail: "Me@Acme.example"}, ErrSelfRelation},
		{Attributes{Relations: map[string]string{"parent": "me@acme.example"}}, ErrSelfRelation},
		{Attributes{Relations: map[string]string{"uncle": "bob@acme.example"}}, ErrUnknownRelation},
	} {
		if err := p.CheckRelations(tc.a, "me@acme.example"); !errors.Is(err, tc.err) {
			t.Errorf("CheckRelations(%+v) = %v, want %v", tc.a, err, tc.err)
		}
	}
}

func TestResolveMergesRelations(t *testing.T) {
	claims := []Claim{
		cl("file:sis", store.Present, true, Attributes{Relations: map[string]string{"parent": "file-parent@x.example", "instructor": "t@x.example"}}),
		cl("admin", store.Present, false, Attributes{Relations: map[string]string{"parent": "admin-parent@x.example"}}),
	}
	r := ResolveCard(claims, Decisions{}, Policy{})
	if r.Attributes.Relations["parent"] != "admin-parent@x.example" || r.Attributes.Relations["instructor"] != "t@x.example" {
		t.Fatalf("relations %v", r.Attributes.Relations)
	}
	if r.From["relation.parent"] != "admin" || r.From["relation.instructor"] != "file:sis" {
		t.Fatalf("from %v", r.From)
	}
}
