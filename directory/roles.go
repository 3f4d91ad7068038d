package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// ErrUnknownRole: a role that is not in the tenant's role set, and that no
// mapping rule maps to one.
var ErrUnknownRole = errors.New("unknown role")

// RoleRule maps what a source says of a person to a role of the tenant.
// A rule matches a claim when the claim's source fits Source and the
// claim has the group Group (when set) and the role value Value (when
// set); names and values compare ignoring case.
type RoleRule struct {
	// Source limits the rule to a source kind ("scim") or one source
	// ("scim:okta", "ldap:corp"); empty: every source.
	Source string
	// Group is a group the source puts the person in: a SCIM group's
	// display name, an LDAP group DN, a name in a file's Groups column.
	Group string
	// Value is the role value the source gives: a SAML attribute's value,
	// a file column's, an LDAP attribute's mapped to role.
	Value string
	// Role is the tenant's role the rule gives.
	Role string
}

// matches reports whether the rule applies to the claim.
func (r RoleRule) matches(c *Claim) bool {
	if r.Source != "" && r.Source != c.Source && r.Source != SourceKind(c.Source) {
		return false
	}
	if r.Group == "" && r.Value == "" {
		return false
	}
	if r.Group != "" && !slices.ContainsFunc(c.Attributes.Groups, func(g string) bool { return groupIs(r.Group, g) }) {
		return false
	}
	if r.Value != "" && !strings.EqualFold(strings.TrimSpace(c.Attributes.Role), r.Value) {
		return false
	}
	return true
}

// groupIs reports whether a claim's group g is the rule's group: the same
// name ignoring case, or, for a rule naming an LDAP group by its DN
// ("CN=Staff,OU=Groups,DC=acme,DC=example"), the DN itself or its first
// RDN's value ("Staff"), which is how an LDAP feed names its groups.
func groupIs(rule, g string) bool {
	if strings.EqualFold(rule, g) {
		return true
	}
	attr, rest, ok := strings.Cut(rule, "=")
	if !ok || attr == "" || strings.ContainsAny(attr, " ,") {
		return false
	}
	value := rest
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == ',' {
			value = rest[:i]
			break
		}
	}
	return value != rest && strings.EqualFold(strings.TrimSpace(value), g)
}

// String describes the rule's condition: `group "rosterd-admins" of scim`.
func (r RoleRule) String() string {
	var parts []string
	if r.Group != "" {
		parts = append(parts, fmt.Sprintf("group %q", r.Group))
	}
	if r.Value != "" {
		parts = append(parts, fmt.Sprintf("value %q", r.Value))
	}
	s := strings.Join(parts, " and ")
	if r.Source != "" {
		s += " of " + r.Source
	}
	return s
}

// Role sources a card's RoleSource names besides source names and rules.
const (
	RoleFromPin     = "admin pin"
	RoleFromDefault = "default"
)

// KnownRole returns the role of the tenant's set that v names (ignoring
// case and surrounding space), and whether there is one. A tenant with no
// role set knows every role: v is returned as it is.
func (p Policy) KnownRole(v string) (string, bool) {
	if len(p.Roles) == 0 {
		return v, true
	}
	v = strings.TrimSpace(v)
	for _, r := range p.Roles {
		if strings.EqualFold(r, v) {
			return r, true
		}
	}
	return "", false
}

// CheckRole says whether a source may state role value v: a role of the
// set, or a value a mapping rule for the source maps. The error names the
// value and the roles there are.
func (p Policy) CheckRole(source, v string) error {
	if v == "" || len(p.Roles) == 0 {
		return nil
	}
	if _, ok := p.KnownRole(v); ok {
		return nil
	}
	if SourceKind(source) != KindAdmin {
		c := Claim{Source: source, Attributes: Attributes{Role: v}}
		for _, r := range p.RoleRules {
			if r.Group == "" && r.matches(&c) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w %q: the tenant's roles are %s", ErrUnknownRole, v, strings.Join(p.Roles, ", "))
}

// resolveRole decides a card's role, first that applies:
//
//  1. the admin's pin: the role of the admin's own claim;
//  2. the mapping rules, in the tenant's order: the first rule that
//     matches a live claim (claims in precedence order);
//  3. the sources' own values, in precedence order, where they are roles
//     of the set;
//  4. the tenant's default role.
//
// A tenant without a role set or rules keeps role as a plain attribute
// (merged is what the attribute merge found). It returns the role and
// where it came from.
func resolveRole(ordered []Claim, p Policy, merged, mergedFrom string) (string, string) {
	if len(p.Roles) == 0 && len(p.RoleRules) == 0 {
		if merged == "" && p.DefaultRole != "" {
			return p.DefaultRole, RoleFromDefault
		}
		return merged, mergedFrom
	}
	live := func(yield func(*Claim) bool) {
		for i := range ordered {
			if ordered[i].State != store.Withdrawn && !yield(&ordered[i]) {
				return
			}
		}
	}
	for c := range live {
		if c.Source == KindAdmin && c.Attributes.Role != "" {
			if role, ok := p.KnownRole(c.Attributes.Role); ok {
				return role, RoleFromPin
			}
		}
	}
	for i, r := range p.RoleRules {
		for c := range live {
			if r.matches(c) {
				return r.Role, fmt.Sprintf("rule %d (%s → %s) on %s", i+1, r, r.Role, c.Source)
			}
		}
	}
	for c := range live {
		if role, ok := p.KnownRole(c.Attributes.Role); ok && c.Attributes.Role != "" {
			return role, c.Source
		}
	}
	if role, ok := p.KnownRole(merged); ok && merged != "" {
		return role, mergedFrom // the last known value of a withdrawn source
	}
	if p.DefaultRole != "" {
		return p.DefaultRole, RoleFromDefault
	}
	return "", ""
}

// lenient reports whether a source's values that the tenant does not know
// are dropped (and logged) rather than refused: an identity provider's
// push or a login must not stall on one attribute.
func lenient(source string) bool {
	k := SourceKind(source)
	return k == KindSCIM || k == KindSAML
}

// vetInput checks a statement's role, manager and relations against the
// tenant's policy. A value it may not state refuses the statement (a file
// row flagged, an admin's 400) or, from a lenient source, is dropped and
// logged; the statement returned is the one to apply (in itself when
// nothing was dropped).
func (s *Service) vetInput(p Policy, in *ClaimInput, self string) (*ClaimInput, error) {
	if in.State == store.Withdrawn {
		return in, nil
	}
	a := in.Attributes
	roleErr := p.CheckRole(in.Source, a.Role)
	relErr := p.CheckRelations(a, self)
	if roleErr == nil && relErr == nil {
		return in, nil
	}
	if !lenient(in.Source) {
		return in, errors.Join(roleErr, relErr)
	}
	out := *in
	if roleErr != nil {
		s.logger.Warn("ignoring a role the tenant does not know", "tenant", in.Tenant, "source", in.Source, "err", roleErr)
		out.Attributes.Role = ""
	}
	if relErr != nil {
		s.logger.Warn("ignoring a manager or relation", "tenant", in.Tenant, "source", in.Source, "err", relErr)
		if p.CheckRelations(Attributes{ManagerEmail: a.ManagerEmail}, self) != nil {
			out.Attributes.ManagerEmail = ""
		}
		rel := map[string]string{}
		for k, v := range a.Relations {
			if p.CheckRelations(Attributes{Relations: map[string]string{k: v}}, self) == nil {
				rel[k] = v
			}
		}
		out.Attributes.Relations = nil
		if len(rel) > 0 {
			out.Attributes.Relations = rel
		}
	}
	return &out, nil
}
