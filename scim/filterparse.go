package scim

import (
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// parseFilter parses a SCIM filter. The form nearly every identity provider
// sends — `userName eq "…"`, `externalId eq "…"` — is recognized directly;
// the general parser spent a fifth of a filtered GET's CPU on it. Anything
// else, including any value with an escape, goes to scim2/filter-parser,
// and the fast path yields exactly what that parser would (FuzzParseFilter).
//
// filter-parser keeps a string value as written between its quotes, escapes
// and all: `userName eq "O\"Brien"` would compare with O\"Brien. The two
// escapes it accepts, \" and \\, are undone here (RFC 7644 §3.4.2.2: the
// value is a JSON string).
func parseFilter(f string) (filter.Expression, error) {
	if e, ok := parseSimpleEq(f); ok {
		return e, nil
	}
	if e, ok := parseSimpleValuePath(f); ok {
		return e, nil
	}
	if e, ok := parseSimpleAnd(f); ok {
		return e, nil
	}
	e, err := filter.ParseFilter([]byte(f))
	if err != nil {
		return nil, err
	}
	unescapeValues(e)
	return e, nil
}

var filterUnescaper = strings.NewReplacer(`\"`, `"`, `\\`, `\`)

// unescapeValues undoes \" and \\ in every string compared with, in place.
func unescapeValues(e filter.Expression) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		unescapeValues(x.Left)
		unescapeValues(x.Right)
	case *filter.NotExpression:
		unescapeValues(x.Expression)
	case *filter.ValuePath:
		unescapeValues(x.ValueFilter)
	case *filter.AttributeExpression:
		x.CompareValue = compareValue(x)
	}
}

// compareValue is an expression's value with \" and \\ undone: for the
// value filters of PATCH paths, which the library parses (and which may
// be applied more than once, so are not changed in place).
func compareValue(x *filter.AttributeExpression) any {
	if s, ok := x.CompareValue.(string); ok && strings.IndexByte(s, '\\') >= 0 {
		return filterUnescaper.Replace(s)
	}
	return x.CompareValue
}

// parseSimpleValuePath accepts NAME "[" EQ "]" and NAME "[" EQ SP "and"
// SP EQ "]", where each EQ is what parseSimpleEq accepts: Entra ID's
// emails[type eq "work"].value eq "…" once rewriteSubAttrAfterValuePath
// has made it emails[type eq "work" and value eq "…"], which took
// filter-parser more CPU than the rest of the request. It yields what
// filter-parser would (FuzzParseFilter): operators lowercased, values as
// written. A value holding " and " is no problem: the text is cut at the
// first one, and a cut inside a value leaves a side parseSimpleEq declines.
func parseSimpleValuePath(f string) (*filter.ValuePath, bool) {
	name, rest, ok := strings.Cut(f, "[")
	if !ok || !isAttrName(name) || !strings.HasSuffix(rest, "]") {
		return nil, false
	}
	inner := rest[:len(rest)-1]
	vp := &filter.ValuePath{AttributePath: filter.AttributePath{AttributeName: name}}
	if e, ok := parseSimpleAnd(inner); ok {
		vp.ValueFilter = e
		return vp, true
	}
	e, ok := parseSimpleEq(inner)
	if !ok {
		return nil, false
	}
	vp.ValueFilter = e
	return vp, true
}

// parseSimpleAnd accepts EQ SP "and" SP EQ, each EQ what parseSimpleEq
// accepts: Entra ID's check of one membership, id eq "…" and members eq
// "…", and the inside of parseSimpleValuePath's brackets.
func parseSimpleAnd(f string) (*filter.LogicalExpression, bool) {
	i := indexFold(f, " and ")
	if i < 0 {
		return nil, false
	}
	left, ok1 := parseSimpleEq(f[:i])
	right, ok2 := parseSimpleEq(f[i+len(" and "):])
	if !ok1 || !ok2 {
		return nil, false
	}
	return &filter.LogicalExpression{Left: left, Right: right, Operator: filter.AND}, true
}

// indexFold is strings.Index ignoring ASCII case; sub is lower-case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// parseSimpleEq accepts NAME SP "eq" SP STRING, where NAME is ALPHA
// *(ALPHA / DIGIT / "-" / "_") and STRING holds no quote, backslash or
// control character. Like filter-parser, it keeps the value as written and
// lowercases the operator.
func parseSimpleEq(f string) (*filter.AttributeExpression, bool) {
	name, rest, ok := strings.Cut(f, " ")
	if !ok || !isAttrName(name) || len(rest) < 5 || !strings.EqualFold(rest[:3], "eq ") {
		return nil, false
	}
	value := rest[3:]
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return nil, false
	}
	value = value[1 : len(value)-1]
	if !utf8.ValidString(value) {
		return nil, false
	}
	for _, r := range value {
		if r < 0x20 || r == '"' || r == '\\' {
			return nil, false
		}
	}
	return &filter.AttributeExpression{
		AttributePath: filter.AttributePath{AttributeName: name},
		Operator:      filter.EQ,
		CompareValue:  value,
	}, true
}

func isAttrName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
