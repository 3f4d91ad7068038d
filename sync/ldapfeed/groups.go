package ldapfeed

import (
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// maxGroupDepth bounds how deep groups nested in a configured group are
// followed on OpenLDAP: a structure deeper than this fails the run rather
// than leave the people below it out (and so withdraw them).
const maxGroupDepth = 16

// memberships maps the normalized DN of each member of the configured
// groups, directly or through nested groups, to the names (first RDN
// values) of the configured groups it is in. people is the set of the
// snapshot's normalized DNs: a member DN that is no person of the snapshot
// may be a group and is read as one.
//
// On AD the server resolves the nesting (LDAP_MATCHING_RULE_IN_CHAIN finds
// every group in a configured group's chain, cycles included); OpenLDAP
// has no such rule, so the groups are walked member by member, each group
// read once (a cycle ends there), at most maxGroupDepth levels deep.
func memberships(s searcher, mp *mapping, groups []string, people map[string]bool, pageSize int) (map[string][]string, error) {
	out := map[string][]string{}
	attrs := []string{"member"}
	if !mp.ad {
		attrs = append(attrs, "uniqueMember")
	}
	for _, g := range groups {
		name := rdnValue(g)
		add := func(n string) {
			if !slices.Contains(out[n], name) {
				out[n] = append(out[n], name)
			}
		}
		if mp.ad {
			chain, err := adNestedGroups(s, g, pageSize)
			if err != nil {
				return nil, err
			}
			for _, gg := range append([]string{g}, chain...) {
				members, err := readMembers(s, gg, "member", true)
				if err != nil {
					return nil, err
				}
				for _, m := range members {
					add(normDN(m))
				}
			}
			continue
		}
		seen := map[string]bool{normDN(g): true}
		level := []string{g}
		for depth := 0; len(level) > 0; depth++ {
			var next []string
			for _, gg := range level {
				var members []string
				if depth == 0 {
					// The configured group itself must be there.
					for _, a := range attrs {
						m, err := readMembers(s, gg, a, false)
						if err != nil {
							return nil, err
						}
						members = append(members, m...)
					}
				} else {
					m, err := readNestedGroup(s, gg)
					if err != nil {
						return nil, err
					}
					members = m
				}
				if depth > maxGroupDepth && len(members) > 0 {
					return nil, fmt.Errorf("%w: group %q nests groups more than %d levels deep (at %q)", ErrSearch, g, maxGroupDepth, gg)
				}
				for _, m := range members {
					n := normDN(m)
					if people[n] {
						add(n)
						continue
					}
					if !seen[n] {
						seen[n] = true
						next = append(next, m)
					}
				}
			}
			level = next
		}
	}
	return out, nil
}

// readNestedGroup reads the members of dn, a member of a group that is no
// person of the snapshot: none when dn is no group (a person outside the
// search, a device), no entry at all (a member left behind by a delete)
// or not even a DN (a member value written by hand).
func readNestedGroup(s searcher, dn string) ([]string, error) {
	res, err := s.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))", []string{"member", "uniqueMember"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidDNSyntax) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading nested group %q: %w: %w", dn, classify(err), err)
	}
	var out []string
	for _, e := range res.Entries {
		out = append(out, e.GetAttributeValues("member")...)
		out = append(out, e.GetAttributeValues("uniqueMember")...)
	}
	return out, nil
}

// adNestedGroups returns the groups nested in group g at any depth, found
// by AD itself: one paged search of g's domain for groups whose memberOf
// chain reaches g.
func adNestedGroups(s searcher, g string, pageSize int) ([]string, error) {
	base := domainOf(g)
	filter := "(&(objectClass=group)(memberOf:1.2.840.113556.1.4.1941:=" + ldap.EscapeFilter(g) + "))"
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, nil)
	var out []string
	_, _, err := pagedSearch(s, req, pageSize, true, func(e *ldap.Entry) error {
		out = append(out, e.DN)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the groups nested in %q: %w", g, err)
	}
	return out, nil
}

// domainOf is the DC= tail of a DN ("DC=corp,DC=example" of
// "CN=Staff,OU=Groups,DC=corp,DC=example"), or the DN itself.
func domainOf(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	i := len(d.RDNs)
	for i > 0 && len(d.RDNs[i-1].Attributes) == 1 && strings.EqualFold(d.RDNs[i-1].Attributes[0].Type, "dc") {
		i--
	}
	if i == len(d.RDNs) {
		return dn
	}
	parts := make([]string, 0, len(d.RDNs)-i)
	for _, r := range d.RDNs[i:] {
		parts = append(parts, "DC="+ldap.EscapeDN(r.Attributes[0].Value))
	}
	return strings.Join(parts, ",")
}
