package directory

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Card, Claim and Attributes are the store's records; the directory gives
// them their meaning (Resolve, StatusOf) and is the only code that writes them.
type (
	Card       = store.Card
	Claim      = store.Claim
	Attributes = store.Attributes
	Pin        = store.Pin
)

// Source kinds, in the default attribute precedence.
const (
	KindAdmin = "admin"
	KindSCIM  = "scim"
	KindLDAP  = "ldap"
	KindFile  = "file"
	KindSAML  = "saml"
)

// DefaultPrecedence is the attribute precedence when a tenant sets none.
var DefaultPrecedence = []string{KindAdmin, KindSCIM, KindLDAP, KindFile, KindSAML}

// SourceKind returns the kind of a source name: "scim:okta" → "scim".
func SourceKind(source string) string {
	kind, _, _ := strings.Cut(source, ":")
	return kind
}

// Rule numbers the resolution rules in the order they are tried.
type Rule int

const (
	RulePinned      Rule = 1 // an admin pinned the card disabled
	RuleDeactivated Rule = 2 // an authoritative source deactivated the person
	RulePresent     Rule = 3 // an authoritative source lists the person
	RuleUnlisted    Rule = 4 // no authoritative source lists the person
	// RuleApproval: the card waits for an admin's approval, or an admin
	// rejected it; tried after rule 2, before rule 3.
	RuleApproval Rule = 5
)

// Resolution is what Resolve decided, and why.
type Resolution struct {
	Enabled bool
	Rule    Rule
	// Reason is one line a person can read: "disabled: withdrawn by file:hr
	// in run 42 on 2026-11-20".
	Reason string
	// Email is the display email of the highest-precedence claim that still
	// lists the person; empty when every claim is withdrawn.
	Email      string
	Attributes Attributes
	// LastKnown, when set, says Attributes hold values of withdrawn claims:
	// no authoritative source lists the person any more, and the card
	// keeps what its sources last said (see Resolve).
	LastKnown *store.LastKnown
	// From names, per attribute (as in Attributes' JSON names, custom ones
	// as "custom.KEY", relations as "relation.NAME", plus "email"), the
	// source whose value won; for "role", the pin, rule or source.
	From map[string]string
	// RoleSource says what gave Attributes.Role (see resolveRole).
	RoleSource string
}

// Decisions are what admins decided about a card beyond its claims.
type Decisions struct {
	// Pin disables the card (rule 1).
	Pin *Pin
	// Approval holds a card that waits for approval, or was rejected.
	Approval *store.Approval
}

// Resolve decides a card's enabled state and attributes from its claims and
// admin pin. It is a pure function: the same claims, pin and precedence
// always give the same result, whatever order the claims come in.
//
// Enabled state, first rule that applies:
//  1. an admin pin → disabled;
//  2. an authoritative claim deactivated → disabled;
//  3. an authoritative claim present → enabled;
//  4. otherwise → disabled: no source lists the person any more.
//
// Attributes: per attribute, the first non-empty value among the claims that
// still list the person (present or deactivated), in precedence order of
// their source kind; two sources of one kind are ordered by name. Groups
// are the union of the live claims' groups.
//
// Last known attributes: when no authoritative claim lists the person any
// more (every one withdrew), an attribute no live claim gives keeps the
// value of the withdrawn claims, in the same order — disabling never
// loses what the card showed. Groups are the exception: a person no
// source lists leaves its groups. Resolution.LastKnown then names the
// first withdrawn claim that gave a value and when it withdrew.
func Resolve(claims []Claim, pin *Pin, precedence []string) Resolution {
	return resolve(claims, Decisions{Pin: pin}, Policy{Precedence: precedence}, true)
}

// ResolveCard is Resolve with the tenant's whole policy and every admin
// decision: besides the rules of Resolve,
//
//   - approval (tried after rule 2, before rule 3): a card whose approval
//     is pending or rejected is disabled, whatever its sources say
//     (RuleApproval);
//   - role: the admin's pin, then the mapping rules, then the sources'
//     values, then the default (see resolveRole); Resolution.RoleSource
//     says which.
func ResolveCard(claims []Claim, d Decisions, p Policy) Resolution {
	return resolve(claims, d, p, true)
}

// resolve is ResolveCard; withFrom: fill From (a batch applying changes does
// not read it, and leaving it out saves a map per card changed).
func resolve(claims []Claim, d Decisions, p Policy, withFrom bool) Resolution {
	precedence := p.Precedence
	if len(precedence) == 0 {
		precedence = DefaultPrecedence
	}
	ordered := claims // read only; one claim is in order already
	if len(claims) > 1 {
		ordered = slices.Clone(claims)
		rank := func(c Claim) int {
			if i := slices.Index(precedence, SourceKind(c.Source)); i >= 0 {
				return i
			}
			return len(precedence)
		}
		slices.SortStableFunc(ordered, func(a, b Claim) int {
			if d := rank(a) - rank(b); d != 0 {
				return d
			}
			return strings.Compare(a.Source, b.Source)
		})
	}

	var r Resolution
	r.Enabled, r.Rule, r.Reason = decide(ordered, d.Pin)
	if r.Rule == RulePresent && d.Approval != nil {
		switch d.Approval.State {
		case store.ApprovalPending:
			r.Enabled, r.Rule = false, RuleApproval
			r.Reason = "disabled: waiting for an admin's approval (" + r.Reason + ")"
		case store.ApprovalRejected:
			r.Enabled, r.Rule = false, RuleApproval
			r.Reason = fmt.Sprintf("disabled: rejected by admin %s on %s", d.Approval.Actor, day(d.Approval.At))
			if d.Approval.Reason != "" {
				r.Reason += fmt.Sprintf(" (%q)", d.Approval.Reason)
			}
		}
	}
	var roleFrom string
	r.Email, r.Attributes, r.From, r.LastKnown, roleFrom = mergeAttributes(ordered, withFrom)
	r.Attributes.Role, r.RoleSource = resolveRole(ordered, p, r.Attributes.Role, roleFrom)
	if r.From != nil {
		delete(r.From, "role")
		if r.Attributes.Role != "" {
			r.From["role"] = r.RoleSource
		}
	}
	return r
}

func decide(claims []Claim, pin *Pin) (bool, Rule, string) {
	if pin != nil {
		reason := fmt.Sprintf("disabled: pinned by admin %s on %s", pin.Actor, day(pin.At))
		if pin.Reason != "" {
			reason += fmt.Sprintf(" (%q)", pin.Reason)
		}
		return false, RulePinned, reason
	}
	var deactivated, present, withdrawn, attributesOnly []string
	for _, c := range claims {
		if !c.Authoritative {
			if c.State != store.Withdrawn {
				attributesOnly = append(attributesOnly, c.Source)
			}
			continue
		}
		switch c.State {
		case store.Deactivated:
			deactivated = append(deactivated, "by "+provenance(c))
		case store.Present:
			present = append(present, c.Source)
		case store.Withdrawn:
			withdrawn = append(withdrawn, "by "+provenance(c))
		}
	}
	switch {
	case len(deactivated) > 0:
		return false, RuleDeactivated, "disabled: deactivated " + strings.Join(deactivated, "; ")
	case len(present) > 0:
		return true, RulePresent, "enabled: listed by " + strings.Join(present, ", ")
	case len(withdrawn) > 0:
		return false, RuleUnlisted, "disabled: no source lists this person any more (withdrawn " + strings.Join(withdrawn, "; ") + ")"
	case len(attributesOnly) > 0:
		return false, RuleUnlisted, "disabled: listed only by attributes-only sources (" + strings.Join(attributesOnly, ", ") + ")"
	default:
		return false, RuleUnlisted, "disabled: no source lists this person"
	}
}

// provenance says which source changed a claim's state, in which run, when:
// "file:hr in run 42 on 2026-11-20".
func provenance(c Claim) string {
	s := c.Source
	if c.RunID != "" {
		s += " in run " + c.RunID
	}
	if !c.StateSince.IsZero() {
		s += " on " + day(c.StateSince)
	}
	return s
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// mergeAttributes merges the claims' attributes, in order, and finds the
// email; with no authoritative claim live, the withdrawn claims fill what
// the live ones leave empty, and the first of them that gave a value is
// returned as the last known source.
func mergeAttributes(ordered []Claim, withFrom bool) (string, Attributes, map[string]string, *store.LastKnown, string) {
	var (
		email    string
		out      Attributes
		from     map[string]string
		roleFrom string
	)
	if withFrom {
		from = map[string]string{}
	}
	won := func(name, source string) {
		if name == "role" {
			roleFrom = source
		}
		if from != nil {
			from[name] = source
		}
	}
	// take fills out's empty attributes from c and reports whether it gave
	// any; withGroups: groups too (a person no source lists is in none).
	take := func(c *Claim, withGroups bool) bool {
		gave := false
		for _, name := range store.TextAttributes {
			if dst, v := out.Text(name), *c.Attributes.Text(name); *dst == "" && v != "" {
				*dst = v
				won(name, c.Source)
				gave = true
			}
		}
		if withGroups && len(c.Attributes.Groups) > 0 {
			// A card's groups are the union over its sources, in
			// precedence order; a name two sources give counts once.
			if out.Groups == nil {
				won("groups", c.Source)
			}
			for _, g := range c.Attributes.Groups {
				if !slices.ContainsFunc(out.Groups, func(x string) bool { return strings.EqualFold(x, g) }) {
					out.Groups = append(out.Groups, g)
				}
			}
			gave = true
		}
		for k, v := range c.Attributes.Custom {
			if v == "" {
				continue
			}
			if _, taken := out.Custom[k]; taken {
				continue
			}
			if out.Custom == nil {
				out.Custom = map[string]string{}
			}
			out.Custom[k] = v
			won("custom."+k, c.Source)
			gave = true
		}
		for k, v := range c.Attributes.Relations {
			if v == "" {
				continue
			}
			if _, taken := out.Relations[k]; taken {
				continue
			}
			if out.Relations == nil {
				out.Relations = map[string]string{}
			}
			out.Relations[k] = v
			won("relation."+k, c.Source)
			gave = true
		}
		return gave
	}
	listed, withdrawn := false, false
	for i := range ordered {
		c := &ordered[i]
		if c.State == store.Withdrawn {
			withdrawn = true
			continue
		}
		listed = listed || c.Authoritative
		if email == "" && c.Email != "" {
			email = c.Email
			won("email", c.Source)
		}
		take(c, true)
	}
	if listed || !withdrawn {
		return email, out, from, nil, roleFrom
	}
	var last *store.LastKnown
	for i := range ordered {
		c := &ordered[i]
		if c.State == store.Withdrawn && take(c, false) && last == nil {
			last = &store.LastKnown{Source: c.Source, At: c.StateSince.UTC()}
		}
	}
	return email, out, from, last, roleFrom
}

// changedAttributes names the attributes that differ between a and b, in a
// fixed order.
func changedAttributes(a, b Attributes) []string {
	var changed []string
	for _, name := range store.TextAttributes {
		if *a.Text(name) != *b.Text(name) {
			changed = append(changed, name)
		}
	}
	if !slices.Equal(a.Groups, b.Groups) {
		changed = append(changed, "groups")
	}
	keys := map[string]bool{}
	for k := range a.Custom {
		keys[k] = true
	}
	for k := range b.Custom {
		keys[k] = true
	}
	var customKeys []string
	for k := range keys {
		if a.Custom[k] != b.Custom[k] {
			customKeys = append(customKeys, "custom."+k)
		}
	}
	slices.Sort(customKeys)
	changed = append(changed, customKeys...)
	var relationKeys []string
	for k := range a.Relations {
		if a.Relations[k] != b.Relations[k] {
			relationKeys = append(relationKeys, "relation."+k)
		}
	}
	for k := range b.Relations {
		if _, ok := a.Relations[k]; !ok && b.Relations[k] != "" {
			relationKeys = append(relationKeys, "relation."+k)
		}
	}
	slices.Sort(relationKeys)
	return append(changed, relationKeys...)
}

// AttributeChange is one attribute's old and new value.
type AttributeChange struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// AttributeChanges lists what differs between two attribute sets, in a
// fixed order; groups are shown joined by ", ".
func AttributeChanges(old, new Attributes) []AttributeChange {
	var out []AttributeChange
	for _, name := range changedAttributes(old, new) {
		var o, n string
		switch {
		case name == "groups":
			o, n = strings.Join(old.Groups, ", "), strings.Join(new.Groups, ", ")
		case strings.HasPrefix(name, "custom."):
			k := strings.TrimPrefix(name, "custom.")
			o, n = old.Custom[k], new.Custom[k]
		case strings.HasPrefix(name, "relation."):
			k := strings.TrimPrefix(name, "relation.")
			o, n = old.Relations[k], new.Relations[k]
		default:
			if p := old.Text(name); p != nil {
				o, n = *p, *new.Text(name)
			}
		}
		out = append(out, AttributeChange{Name: name, Old: o, New: n})
	}
	return out
}
