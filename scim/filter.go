package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/rosterd/rosterd/store"
)

// A filter is translated into a store.Filter, which the store turns into
// SQL: nothing is filtered in memory. Attribute names are matched ignoring
// case (RFC 7643 §2.1) and mapped to their canonical spelling, which is how
// raw records are stored; string comparisons ignore case unless the
// attribute is caseExact.

func invalidFilter(format string, args ...any) error {
	return scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidFilter, Detail: fmt.Sprintf(format, args...), Status: 400}
}

// userFilter translates a filter on Users.
func (s schemas) userFilter(e filter.Expression) (*store.Filter, error) {
	if e == nil {
		return nil, nil
	}
	f, err := s.translate(e, func(ap filter.AttributePath, op string, value any) (*store.Filter, bool, error) {
		name, sub := strings.ToLower(ap.AttributeName), strings.ToLower(ap.SubAttributeName())
		if uri := ap.URI(); uri != "" && !strings.EqualFold(uri, s.core.ID) {
			return nil, false, nil
		}
		switch {
		case name == "id" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrCardID, Value: value}, true, nil
		case name == "username" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrLogin, Value: value, Fold: true}, true, nil
		case name == "active" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrActive, Value: value}, true, nil
		case name == "externalid" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrRaw, Path: []string{"externalId"}, Value: value}, true, nil
		case name == "meta" && (sub == "lastmodified" || sub == "created"):
			f, err := metaFilter(sub, op, value)
			return f, true, err
		case name == "groups":
			return nil, true, invalidFilter("filtering users by group is not supported; filter Groups by members.value")
		}
		return nil, false, nil
	})
	return f, err
}

// metaFilter is meta.created or meta.lastModified (sub, lowercased)
// compared with a time, for users and groups alike.
func metaFilter(sub, op string, value any) (*store.Filter, error) {
	t, err := filterTime(op, value)
	if err != nil {
		return nil, err
	}
	attr := store.AttrUpdated
	if sub == "created" {
		attr = store.AttrCreated
	}
	return &store.Filter{Op: op, Attr: attr, Value: t}, nil
}

// groupFilter translates a filter on Groups.
func (s schemas) groupFilter(e filter.Expression) (*store.Filter, error) {
	if e == nil {
		return nil, nil
	}
	return s.translate(e, func(ap filter.AttributePath, op string, value any) (*store.Filter, bool, error) {
		name, sub := strings.ToLower(ap.AttributeName), strings.ToLower(ap.SubAttributeName())
		switch {
		case name == "id" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrGroupID, Value: value}, true, nil
		case name == "displayname" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrDisplayName, Value: value, Fold: true}, true, nil
		case name == "externalid" && sub == "":
			return &store.Filter{Op: op, Attr: store.AttrExternalID, Value: value}, true, nil
		case name == "members" && (sub == "" || sub == "value"):
			if op != "eq" {
				return nil, true, invalidFilter("members can only be filtered with eq")
			}
			return &store.Filter{Op: op, Attr: store.AttrMember, Value: value}, true, nil
		case name == "meta" && (sub == "lastmodified" || sub == "created"):
			f, err := metaFilter(sub, op, value)
			return f, true, err
		}
		return nil, true, invalidFilter("groups cannot be filtered by %s", ap.String())
	})
}

// special maps an attribute with a column of its own; ok=false leaves it
// to the raw record.
type special func(ap filter.AttributePath, op string, value any) (f *store.Filter, ok bool, err error)

func (s schemas) translate(e filter.Expression, col special) (*store.Filter, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return logical(x, func(e filter.Expression) (*store.Filter, error) { return s.translate(e, col) })
	case *filter.NotExpression:
		inner, err := s.translate(x.Expression, col)
		if err != nil {
			return nil, err
		}
		return &store.Filter{Op: "not", Sub: []store.Filter{*inner}}, nil
	case *filter.AttributeExpression:
		op := strings.ToLower(string(x.Operator))
		value, err := filterValue(x.CompareValue)
		if err != nil {
			return nil, err
		}
		if f, ok, err := col(x.AttributePath, op, value); ok || err != nil {
			return f, err
		}
		return s.rawComparison(x.AttributePath, op, value)
	case *filter.ValuePath:
		base, attr, err := s.rawAttr(x.AttributePath)
		if err != nil {
			return nil, err
		}
		if !attr.MultiValued() {
			return nil, invalidFilter("%s is not multi-valued", attr.Name())
		}
		inner, err := elemFilter(x.ValueFilter, attr)
		if err != nil {
			return nil, err
		}
		return &store.Filter{Op: "any", Path: base, Sub: []store.Filter{*inner}}, nil
	}
	return nil, invalidFilter("unsupported filter expression")
}

// rawAttr resolves an attribute path to its canonical JSON path in the raw
// record and its schema attribute.
func (s schemas) rawAttr(ap filter.AttributePath) ([]string, schema.CoreAttribute, error) {
	sch := s.core
	var base []string
	if uri := ap.URI(); uri != "" && !strings.EqualFold(uri, s.core.ID) {
		ext, ok := s.ext[strings.ToLower(uri)]
		if !ok {
			return nil, schema.CoreAttribute{}, invalidFilter("unknown schema %s", uri)
		}
		sch, base = ext, []string{ext.ID}
	}
	attr, ok := sch.Attributes.ContainsAttribute(ap.AttributeName)
	if !ok {
		return nil, schema.CoreAttribute{}, invalidFilter("unknown attribute %s", ap.AttributeName)
	}
	return append(base, attr.Name()), attr, nil
}

func (s schemas) rawComparison(ap filter.AttributePath, op string, value any) (*store.Filter, error) {
	path, attr, err := s.rawAttr(ap)
	if err != nil {
		return nil, err
	}
	subName := ap.SubAttributeName()
	if attr.MultiValued() {
		// emails.value eq "x": some element's value; emails pr: any element.
		leaf := attr
		var elemPath []string
		if subName == "" && attr.HasSubAttributes() {
			subName = "value"
		}
		if subName != "" {
			sub, ok := attr.SubAttributes().ContainsAttribute(subName)
			if !ok {
				return nil, invalidFilter("%s has no sub-attribute %s", attr.Name(), subName)
			}
			leaf, elemPath = sub, []string{sub.Name()}
		}
		return &store.Filter{Op: "any", Path: path, Sub: []store.Filter{{Op: op, Attr: store.AttrElem, Path: elemPath, Value: value, Fold: !leaf.CaseExact()}}}, nil
	}
	leaf := attr
	if subName != "" {
		sub, ok := attr.SubAttributes().ContainsAttribute(subName)
		if !ok {
			return nil, invalidFilter("%s has no sub-attribute %s", attr.Name(), subName)
		}
		leaf, path = sub, append(path, sub.Name())
	}
	return &store.Filter{Op: op, Attr: store.AttrRaw, Path: path, Value: value, Fold: !leaf.CaseExact() && isString(value)}, nil
}

// elemFilter translates the filter inside brackets, over one element.
func elemFilter(e filter.Expression, attr schema.CoreAttribute) (*store.Filter, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return logical(x, func(e filter.Expression) (*store.Filter, error) { return elemFilter(e, attr) })
	case *filter.NotExpression:
		inner, err := elemFilter(x.Expression, attr)
		if err != nil {
			return nil, err
		}
		return &store.Filter{Op: "not", Sub: []store.Filter{*inner}}, nil
	case *filter.AttributeExpression:
		name := x.AttributePath.AttributeName
		sub, ok := attr.SubAttributes().ContainsAttribute(name)
		if !ok {
			return nil, invalidFilter("%s has no sub-attribute %s", attr.Name(), name)
		}
		value, err := filterValue(x.CompareValue)
		if err != nil {
			return nil, err
		}
		return &store.Filter{Op: strings.ToLower(string(x.Operator)), Attr: store.AttrElem, Path: []string{sub.Name()}, Value: value,
			Fold: !sub.CaseExact() && isString(value)}, nil
	}
	return nil, invalidFilter("unsupported filter inside brackets")
}

// logical translates an and/or, and the operands of the same operator
// below it as operands of its own: filter-parser makes `a or b or c` a
// chain ((a or b) or c), which is one level, not two, of the store's
// bounded nesting.
func logical(x *filter.LogicalExpression, each func(filter.Expression) (*store.Filter, error)) (*store.Filter, error) {
	op := strings.ToLower(string(x.Operator))
	var operands []filter.Expression
	var gather func(e filter.Expression)
	gather = func(e filter.Expression) {
		if l, ok := e.(*filter.LogicalExpression); ok && strings.EqualFold(string(l.Operator), op) {
			gather(l.Left)
			gather(l.Right)
			return
		}
		operands = append(operands, e)
	}
	gather(x)
	out := &store.Filter{Op: op, Sub: make([]store.Filter, 0, len(operands))}
	for _, e := range operands {
		f, err := each(e)
		if err != nil {
			return nil, err
		}
		out.Sub = append(out.Sub, *f)
	}
	return out, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

func filterValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x, nil
	case int:
		return int64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, invalidFilter("bad number %s", x)
		}
		return f, nil
	}
	return nil, invalidFilter("unsupported comparison value %v", v)
}

func filterTime(op string, v any) (any, error) {
	if op == "pr" {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, invalidFilter("a date must be a string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, invalidFilter("%q is not an RFC 3339 date-time", s)
	}
	return t, nil
}
