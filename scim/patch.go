package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// schemas is a resource type's core schema and its extensions, by URN.
type schemas struct {
	core schema.Schema
	ext  map[string]schema.Schema // lower-case URN → schema
}

func newSchemas(core schema.Schema, exts ...schema.Schema) schemas {
	s := schemas{core: core, ext: map[string]schema.Schema{}}
	for _, e := range exts {
		s.ext[strings.ToLower(e.ID)] = e
	}
	return s
}

// target is where a path points: the map holding the attribute (the
// resource, or its extension object), and the attribute itself.
type target struct {
	container map[string]any
	attr      schema.CoreAttribute
}

// resolve finds the attribute a path names, creating the extension object
// when create is set.
func (s schemas) resolve(res map[string]any, ap filter.AttributePath, create bool) (target, error) {
	sch, container := s.core, res
	if uri := ap.URI(); uri != "" && !strings.EqualFold(uri, s.core.ID) {
		ext, ok := s.ext[strings.ToLower(uri)]
		if !ok {
			return target{}, patchError(scimerrors.ScimTypeInvalidPath, "unknown schema "+uri)
		}
		sch = ext
		k := key(res, ext.ID)
		if k == "" {
			k = ext.ID
		}
		m, _ := res[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
			if create {
				res[k] = m
			}
		}
		container = m
	}
	attr, ok := sch.Attributes.ContainsAttribute(ap.AttributeName)
	if !ok {
		if strings.EqualFold(ap.AttributeName, "externalId") {
			attr = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "externalId", CaseExact: true}))
		} else {
			return target{}, patchError(scimerrors.ScimTypeInvalidPath, "unknown attribute "+ap.AttributeName)
		}
	}
	return target{container: container, attr: attr}, nil
}

func subName(attr schema.CoreAttribute, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	sub, ok := attr.SubAttributes().ContainsAttribute(name)
	if !ok {
		return "", patchError(scimerrors.ScimTypeInvalidPath, fmt.Sprintf("%s has no sub-attribute %s", attr.Name(), name))
	}
	return sub.Name(), nil
}

func patchError(t scimerrors.ScimType, detail string) error {
	return scimerrors.ScimError{ScimType: t, Detail: detail, Status: 400}
}

// applyPatch applies PATCH operations to a copy of a resource (RFC 7644
// §3.5.2), as identity providers send them: with a path, a sub-attribute
// path (name.givenName), a value-filter path (emails[type eq "work"].value),
// or without a path and a map of attribute paths to values. Either every
// operation applies or the call fails and the resource is left as it was.
func applyPatch(res map[string]any, ops []elimity.PatchOperation, s schemas) (map[string]any, error) {
	out := deepCopy(res)
	for _, op := range ops {
		if op.Path == nil {
			values, ok := op.Value.(map[string]any)
			if !ok {
				return nil, patchError(scimerrors.ScimTypeInvalidValue, "an operation without a path needs an object value")
			}
			for p, v := range values {
				path, err := filter.ParsePath([]byte(p))
				if err != nil {
					return nil, patchError(scimerrors.ScimTypeInvalidPath, "invalid attribute path "+p)
				}
				if err := s.apply(out, op.Op, path, v); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := s.apply(out, op.Op, *op.Path, op.Value); err != nil {
			return nil, err
		}
	}
	for k, v := range out {
		if m, ok := v.(map[string]any); ok && len(m) == 0 && strings.HasPrefix(strings.ToLower(k), "urn:") {
			delete(out, k)
		}
	}
	return out, nil
}

func (s schemas) apply(res map[string]any, op string, path filter.Path, value any) error {
	op = strings.ToLower(op)
	t, err := s.resolve(res, path.AttributePath, op != elimity.PatchOperationRemove)
	if err != nil {
		return err
	}
	name := t.attr.Name()
	if k := key(t.container, name); k != "" && k != name {
		t.container[name] = t.container[k]
		delete(t.container, k)
	}
	attrSub, err := subName(t.attr, path.AttributePath.SubAttributeName())
	if err != nil {
		return err
	}

	switch {
	case path.ValueExpression != nil:
		after, err := subName(t.attr, path.SubAttributeName())
		if err != nil {
			return err
		}
		list, _ := t.container[name].([]any)
		var matched []int
		for i, e := range list {
			if m, ok := e.(map[string]any); ok && elemMatches(m, path.ValueExpression) {
				matched = append(matched, i)
			}
		}
		switch op {
		case elimity.PatchOperationRemove:
			if after == "" {
				kept := list[:0:0]
				for i, e := range list {
					if !slices.Contains(matched, i) {
						kept = append(kept, e)
					}
				}
				setOrDelete(t.container, name, kept)
			} else {
				for _, i := range matched {
					delete(list[i].(map[string]any), after)
				}
			}
		default:
			if len(matched) == 0 {
				// Entra ID replaces emails[type eq "work"].value on a user
				// who has no work email yet: the element is created, with
				// what the filter says of it.
				elem := eqAttributes(path.ValueExpression)
				setElement(elem, after, value)
				list = append(list, elem)
				t.container[name] = list
			}
			for _, i := range matched {
				setElement(list[i].(map[string]any), after, value)
			}
		}
	case attrSub != "":
		parent, _ := t.container[name].(map[string]any)
		if t.attr.MultiValued() {
			// emails.value without a filter: every element.
			list, _ := t.container[name].([]any)
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					if op == elimity.PatchOperationRemove {
						delete(m, attrSub)
					} else {
						m[attrSub] = first(value)
					}
				}
			}
			return nil
		}
		if op == elimity.PatchOperationRemove {
			if parent != nil {
				delete(parent, attrSub)
				if len(parent) == 0 {
					delete(t.container, name)
				}
			}
			return nil
		}
		if parent == nil {
			parent = map[string]any{}
			t.container[name] = parent
		}
		parent[attrSub] = value
	case t.attr.MultiValued():
		values := asList(value)
		current, _ := t.container[name].([]any)
		switch op {
		case elimity.PatchOperationRemove:
			if value == nil {
				delete(t.container, name)
				return nil
			}
			kept := current[:0:0]
			for _, e := range current {
				if !containsValue(values, e) {
					kept = append(kept, e)
				}
			}
			setOrDelete(t.container, name, kept)
		case elimity.PatchOperationReplace:
			setOrDelete(t.container, name, values)
		default: // add: new values join, equal ones are not repeated
			for _, v := range values {
				if containsValue(current, v) {
					continue
				}
				if m, ok := v.(map[string]any); ok && truthy(m["primary"]) {
					for _, e := range current {
						if em, ok := e.(map[string]any); ok {
							delete(em, "primary")
						}
					}
				}
				current = append(current, v)
			}
			t.container[name] = current
		}
	default:
		switch op {
		case elimity.PatchOperationRemove:
			delete(t.container, name)
		case elimity.PatchOperationAdd:
			// Adding to a complex attribute merges its sub-attributes.
			if m, ok := value.(map[string]any); ok {
				if cur, ok := t.container[name].(map[string]any); ok {
					for k, v := range m {
						cur[k] = v
					}
					return nil
				}
			}
			t.container[name] = value
		default:
			t.container[name] = value
		}
	}
	return nil
}

func setElement(elem map[string]any, sub string, value any) {
	if sub != "" {
		elem[sub] = first(value)
		return
	}
	if m, ok := first(value).(map[string]any); ok {
		for k, v := range m {
			elem[k] = v
		}
	}
}

// first unwraps the library's one-element list for a multi-valued target.
func first(v any) any {
	if l, ok := v.([]any); ok && len(l) == 1 {
		return l[0]
	}
	return v
}

func setOrDelete(m map[string]any, k string, list []any) {
	if len(list) == 0 {
		delete(m, k)
		return
	}
	m[k] = list
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// containsValue reports whether list holds v: equal "value" sub-attributes
// for complex values (emails, members), equal scalars otherwise.
func containsValue(list []any, v any) bool {
	for _, e := range list {
		if sameValue(e, v) {
			return true
		}
	}
	return false
}

func sameValue(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		av, bv := am[key(am, "value")], bm[key(bm, "value")]
		if av != nil || bv != nil {
			return fmt.Sprint(av) == fmt.Sprint(bv)
		}
		ja, _ := json.Marshal(am)
		jb, _ := json.Marshal(bm)
		return string(ja) == string(jb)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// elemMatches evaluates a value filter (the part in brackets) on one
// element of a multi-valued attribute. String comparisons ignore case, as
// the sub-attributes IdPs filter on (type, value, display) are not
// case-exact — except ids, which compare exactly.
func elemMatches(elem map[string]any, e filter.Expression) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if strings.EqualFold(string(x.Operator), "and") {
			return elemMatches(elem, x.Left) && elemMatches(elem, x.Right)
		}
		return elemMatches(elem, x.Left) || elemMatches(elem, x.Right)
	case *filter.NotExpression:
		return !elemMatches(elem, x.Expression)
	case *filter.AttributeExpression:
		name := x.AttributePath.AttributeName
		if s := x.AttributePath.SubAttributeName(); s != "" {
			name = s
		}
		v, present := elem[key(elem, name)]
		if key(elem, name) == "" {
			present = false
		}
		if strings.EqualFold(string(x.Operator), "pr") {
			return present && v != nil && fmt.Sprint(v) != ""
		}
		got, want := fmt.Sprint(v), fmt.Sprint(compareValue(x))
		if !present {
			return strings.EqualFold(string(x.Operator), "ne")
		}
		if !strings.EqualFold(name, "value") {
			got, want = strings.ToLower(got), strings.ToLower(want)
		}
		switch strings.ToLower(string(x.Operator)) {
		case "eq":
			return got == want
		case "ne":
			return got != want
		case "co":
			return strings.Contains(got, want)
		case "sw":
			return strings.HasPrefix(got, want)
		case "ew":
			return strings.HasSuffix(got, want)
		case "gt":
			return got > want
		case "ge":
			return got >= want
		case "lt":
			return got < want
		case "le":
			return got <= want
		}
	}
	return false
}

// eqAttributes collects what a value filter says by equality ("type eq
// work" → {"type": "work"}), to build the element a filter named.
func eqAttributes(e filter.Expression) map[string]any {
	out := map[string]any{}
	var walk func(filter.Expression)
	walk = func(e filter.Expression) {
		switch x := e.(type) {
		case *filter.LogicalExpression:
			if strings.EqualFold(string(x.Operator), "and") {
				walk(x.Left)
				walk(x.Right)
			}
		case *filter.AttributeExpression:
			if strings.EqualFold(string(x.Operator), "eq") {
				out[x.AttributePath.AttributeName] = compareValue(x)
			}
		}
	}
	walk(e)
	return out
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	v, _ := decode(b)
	out, _ := v.(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}
