package directory

import (
	"maps"
	"slices"
	"strings"
)

// Partial says which attributes a statement asserts, when it asserts only
// some: an import or a partial feed whose file has only some columns. A
// statement without one (nil) is the source's whole view of the person.
type Partial struct {
	// Attributes names the asserted attributes as in Attributes' JSON
	// names (one of store.TextAttributes), "groups", or "custom.<key>".
	Attributes []string `json:"attributes"`
	// ClearEmpty: an asserted attribute whose value is empty clears the
	// claim's value. Without it an empty value (a blank cell) leaves the
	// value as it was.
	ClearEmpty bool `json:"clear_empty,omitempty"`
}

// ClaimAttributes is what a source's claim holds after a statement that
// says stated, over the claim's previous attributes prev:
//
//   - a whole statement (p nil) replaces them: what it leaves out, the
//     source no longer says;
//   - a partial statement changes only the attributes it asserts, and of
//     those only the ones with a value, unless p.ClearEmpty; every other
//     attribute keeps the claim's value.
//
// The sync plan compares a snapshot with the claims through it, so a plan
// shows what the directory will do.
func ClaimAttributes(prev, stated Attributes, p *Partial) Attributes {
	if p == nil {
		return stated
	}
	out := prev
	out.Groups = slices.Clone(prev.Groups)
	out.Custom = maps.Clone(prev.Custom)
	out.Relations = maps.Clone(prev.Relations)
	for _, name := range p.Attributes {
		switch {
		case name == "groups":
			if len(stated.Groups) > 0 || p.ClearEmpty {
				out.Groups = slices.Clone(stated.Groups)
			}
		case strings.HasPrefix(name, "custom."):
			k := strings.TrimPrefix(name, "custom.")
			v := stated.Custom[k]
			switch {
			case v != "":
				if out.Custom == nil {
					out.Custom = map[string]string{}
				}
				out.Custom[k] = v
			case p.ClearEmpty:
				delete(out.Custom, k)
			}
		case strings.HasPrefix(name, "relation."):
			k := strings.TrimPrefix(name, "relation.")
			v := stated.Relations[k]
			switch {
			case v != "":
				if out.Relations == nil {
					out.Relations = map[string]string{}
				}
				out.Relations[k] = v
			case p.ClearEmpty:
				delete(out.Relations, k)
			}
		default:
			dst := out.Text(name)
			if dst == nil {
				continue // not an attribute (email, status): nothing to keep
			}
			if v := *stated.Text(name); v != "" || p.ClearEmpty {
				*dst = v
			}
		}
	}
	if len(out.Groups) == 0 {
		out.Groups = nil
	}
	if len(out.Custom) == 0 {
		out.Custom = nil
	}
	if len(out.Relations) == 0 {
		out.Relations = nil
	}
	return out
}

// ClearedAttributes names the attributes that had a value in old and have
// none in new, in the fixed order of AttributeChanges: what a change
// clears.
func ClearedAttributes(old, new Attributes) []string {
	var out []string
	for _, c := range AttributeChanges(old, new) {
		if c.Old != "" && c.New == "" {
			out = append(out, c.Name)
		}
	}
	return out
}
