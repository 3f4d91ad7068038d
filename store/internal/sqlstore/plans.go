package sqlstore

import (
	"strings"

	"github.com/rosterd/rosterd/store"
)

// notIndexed returns col as an expression no index can take as a
// condition: the rule "tenant and source are never selective" of the
// package doc. The comparison still filters the rows; it no longer
// competes with the key that finds them. SQLite's documented way is a
// unary +; PostgreSQL has no unary + on text and appends an empty string.
// Both are the column's value unchanged (the columns are NOT NULL).
func (d Dialect) notIndexed(col string) string {
	if d.JSON == JSONPostgres {
		return "(" + col + " || '')"
	}
	return "+" + col
}

// groupOfSource: the condition that the groups g of a membership join
// belong to the source ($1, $2); the join's key (g.id = gm.group_id) finds
// the group, the tenant and source only filter it.
func (d Dialect) groupOfSource() string {
	return d.notIndexed("g.tenant") + ` = $1 AND ` + d.notIndexed("g.source") + ` = $2`
}

// uniqueLookup reports whether a claim filter matches at most one live
// claim of a source: it requires (itself or through "and") a userName
// (claims_login is unique among a source's live claims) or a card id
// (the claims' primary key is card and source). Such a query is asked
// without ORDER BY, LIMIT or a count, so that no plan can prefer walking
// the source's claims in card order (claims_source_card) and stopping at
// the limit: the key's index is the only one it can use.
func uniqueLookup(f *store.Filter) bool {
	if f == nil {
		return false
	}
	switch strings.ToLower(f.Op) {
	case "and":
		for i := range f.Sub {
			if uniqueLookup(&f.Sub[i]) {
				return true
			}
		}
	case "eq":
		s, ok := f.Value.(string)
		switch f.Attr {
		case store.AttrLogin:
			return ok && s != ""
		case store.AttrCardID:
			// Folded, two ids differing in case would both match.
			return ok && !f.Fold
		}
	}
	return false
}

// keyedLookup reports whether a claim filter requires (itself or through
// "and") a value of a key that an index leads: uniqueLookup's, or SCIM's
// externalId (rawExternalIDEq). Tenant and source then only filter.
func keyedLookup(f *store.Filter) bool {
	if f == nil {
		return false
	}
	if _, ok := emailLookup(f); uniqueLookup(f) || rawExternalIDEq(f) || ok {
		return true
	}
	if strings.EqualFold(f.Op, "and") {
		for i := range f.Sub {
			if keyedLookup(&f.Sub[i]) {
				return true
			}
		}
	}
	return false
}

// rawExternalIDEq: the comparison is SCIM's externalId eq a string (the
// attribute is caseExact, so unfolded), which claims_raw_external_id
// (migration 00012) serves.
func rawExternalIDEq(f *store.Filter) bool {
	_, ok := f.Value.(string)
	return ok && strings.EqualFold(f.Op, "eq") && f.Attr == store.AttrRaw && !f.Fold &&
		len(f.Path) == 1 && f.Path[0] == "externalId"
}

// emailLookup: the filter is SCIM's emails.value eq a string, or
// emails[… and value eq a string …] (Entra ID's emails[type eq
// "work"].value eq), which claim_emails (migration 00046) serves; it
// returns the string.
func emailLookup(f *store.Filter) (string, bool) {
	if !strings.EqualFold(f.Op, "any") || (f.Attr != "" && f.Attr != store.AttrRaw) || len(f.Path) != 1 || f.Path[0] != "emails" || len(f.Sub) != 1 {
		return "", false
	}
	var find func(n *store.Filter) (string, bool)
	find = func(n *store.Filter) (string, bool) {
		switch strings.ToLower(n.Op) {
		case "and":
			for i := range n.Sub {
				if v, ok := find(&n.Sub[i]); ok {
					return v, true
				}
			}
		case "eq":
			v, ok := n.Value.(string)
			return v, ok && n.Attr == store.AttrElem && len(n.Path) == 1 && n.Path[0] == "value"
		}
		return "", false
	}
	return find(&f.Sub[0])
}

// emailCards is the condition, on claims c of the source ($2), that
// claim_emails lists value for the claim: implied by the filter's own
// comparison of an email's value with it (folded or not), and what lets
// the lookup read claim_emails_value and then the claims' primary key.
// PostgreSQL takes the ids as an array computed once (an InitPlan), so
// that no plan can join claim_emails to a walk over the source's claims.
func (f *filterSQL) emailCards(value string) string {
	sub := `SELECT ce.card_id FROM claim_emails ce WHERE ce.value_norm = lower(CAST(` + f.arg(value) + ` AS TEXT)) AND ce.source = $2`
	if f.pg {
		return `c.card_id = ANY(ARRAY(` + sub + `))`
	}
	return `c.card_id IN (` + sub + `)`
}

// rawExternalID is the expression claims_raw_external_id indexes, exactly
// as migration 00012 writes it: a planner uses an expression index only
// for the same expression. It is the value's text whatever its JSON type,
// so that "= value" is implied by the filter's exact, typed comparison and
// can go before it.
func (f *filterSQL) rawExternalID() string {
	if f.pg {
		return `(CAST(c.raw_json AS jsonb) ->> 'externalId')`
	}
	return `json_extract(c.raw_json, '$.externalId')`
}

// fence ends a subquery so that the planner plans it on its own, never
// merged into the query around it: OFFSET 0 on PostgreSQL; LIMIT -1 (no
// limit) on SQLite, which flattens no subquery that has a LIMIT into an
// outer query that has one.
func (d Dialect) fence() string {
	if d.JSON == JSONPostgres {
		return ` OFFSET 0`
	}
	return ` LIMIT -1`
}

// uniqueGroup is uniqueLookup for groups: a display name (groups_name is
// unique per source, ignoring case) or a group id.
func uniqueGroup(f *store.Filter) bool {
	if f == nil {
		return false
	}
	switch strings.ToLower(f.Op) {
	case "and":
		for i := range f.Sub {
			if uniqueGroup(&f.Sub[i]) {
				return true
			}
		}
	case "eq":
		_, ok := f.Value.(string)
		switch f.Attr {
		case store.AttrDisplayName:
			return ok
		case store.AttrGroupID:
			return ok && !f.Fold
		}
	}
	return false
}
