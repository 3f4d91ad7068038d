package sqlstore

// Filters: store.Filter → a WHERE fragment, on SQLite and PostgreSQL.
//
// One function (filterSQL.node) walks the tree; every value, JSON path
// included, goes in as a parameter, and the only text spliced into the SQL
// is the translator's own: column names, operators, aliases, and constant
// literals. Path keys are also checked against the characters SCIM
// attribute names use and quoted, so a key never needs escaping.
//
// Semantics, shared by both backends:
//
//   - Comparisons are typed by the Go value: a string compares only with a
//     JSON string, a bool with a JSON true/false, a number with a JSON
//     number. (SQLite's json_extract turns true/false into 1/0 and
//     PostgreSQL's #>> into the text 'true'/'false', so booleans are read
//     through json_type / jsonb equality instead, never through those.)
//   - eq/ne/gt/ge/lt/le on strings compare bytes (COLLATE "C" on
//     PostgreSQL, whose default collation depends on the cluster's locale),
//     after lower() on both sides when Fold is set. Login and group display
//     name are stored lower-cased by Go (strings.ToLower) and compared with
//     the value lower-cased the same way.
//   - co/sw/ew are LIKE with the value's \, % and _ escaped (ESCAPE '\').
//     SQLite's LIKE ignores ASCII case whatever one asks, so on SQLite a
//     case-exact co/sw/ew is GLOB instead, with *, ? and [ bracketed.
//   - ne follows RFC 7644 §3.4.2.2, "the attribute and operator values are
//     not identical": an attribute that is absent, null, or of another type
//     is not identical to the value, so ne matches it. ne is exactly
//     not(eq). The ordering operators and co/sw/ew match only a present
//     value of the value's type.
//   - pr: present and not empty: not null, not "", not [] and not {}.
//   - eq null is not pr, ne null is pr (RFC 7643 §2.5: null and unassigned
//     are the same state).
//   - gt/ge/lt/le and co/sw/ew on a boolean are errors, as RFC 7644
//     §3.4.2.2 makes them (400 invalidFilter).
//   - not(x) is the complement of x: a comparison that SQL evaluates to
//     NULL counts as false before it is negated.
//   - Times compare at the stored precision, microseconds. A time value on
//     a raw path is an error: the raw record holds times as strings in
//     whatever form the source sent, and no comparison of those would
//     be both right and safe on both backends (PostgreSQL 15 cannot cast
//     text to a timestamp without failing the whole query on a bad one).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

// FilterError is a filter that cannot be translated: an unknown attribute
// or operator, a value of the wrong type, a path key that is not a SCIM
// attribute name. It is the client's mistake (SCIM: 400 invalidFilter),
// not the database's; code outside this internal package can tell it
// apart with errors.As and an interface{ InvalidFilter() bool }.
type FilterError struct{ Msg string }

func (e *FilterError) Error() string { return "invalid filter: " + e.Msg }

// InvalidFilter marks the error as a client's bad filter.
func (e *FilterError) InvalidFilter() bool { return true }

func filterErr(format string, args ...any) error {
	return &FilterError{Msg: fmt.Sprintf(format, args...)}
}

type filterScope int

const (
	scopeClaims filterScope = iota // claims c (and cards k, joined when read)
	scopeGroups                    // groups g
)

// maxFilterDepth bounds the nesting of a filter, and so the size of the SQL
// it becomes.
const maxFilterDepth = 32

// filterSQL translates filters into SQL for one query: the fragments it
// returns refer to the parameters it appended to args.
type filterSQL struct {
	pg    bool
	scope filterScope
	args  []any
	// cards: the fragment reads cards k, which the query must join.
	cards bool
	// raw: the fragment reads the raw record; on PostgreSQL, the query must
	// provide it parsed once per row as rawLateral's rj.doc.
	raw     bool
	aliases int
	// keyed: the query finds its claims by a key (keyedLookup), so the
	// other conditions must not look like index conditions.
	keyed bool
	d     Dialect
}

// rawLateral parses a claim's raw record into jsonb once per row, however
// many comparisons read it (OFFSET 0 keeps the planner from inlining the
// cast into each of them).
const (
	claimsRawLateral = ` CROSS JOIN LATERAL (SELECT c.raw_json::jsonb AS doc OFFSET 0) rj`
	groupsRawLateral = ` CROSS JOIN LATERAL (SELECT g.raw_json::jsonb AS doc OFFSET 0) rj`
)

func (d Dialect) newFilter(scope filterScope, args ...any) *filterSQL {
	return &filterSQL{pg: d.JSON == JSONPostgres, scope: scope, args: args, d: d}
}

func (f *filterSQL) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filterSQL) alias(prefix string) string {
	f.aliases++
	return prefix + strconv.Itoa(f.aliases)
}

// where translates a whole filter.
func (f *filterSQL) where(n *store.Filter) (string, error) {
	return f.node(n, "", 0)
}

// node translates one node; elem is the alias of the array element an
// enclosing "any" ranges over ("" outside any).
func (f *filterSQL) node(n *store.Filter, elem string, depth int) (string, error) {
	if depth > maxFilterDepth {
		return "", filterErr("nested more than %d deep", maxFilterDepth)
	}
	switch op := strings.ToLower(n.Op); op {
	case "and", "or":
		if len(n.Sub) == 0 {
			return "", filterErr("%q without operands", op)
		}
		parts := make([]string, len(n.Sub))
		for i := range n.Sub {
			s, err := f.node(&n.Sub[i], elem, depth+1)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(op)+" ") + ")", nil
	case "not":
		if len(n.Sub) != 1 {
			return "", filterErr(`"not" takes one operand, not %d`, len(n.Sub))
		}
		s, err := f.node(&n.Sub[0], elem, depth+1)
		if err != nil {
			return "", err
		}
		return "(NOT COALESCE(" + s + ", FALSE))", nil
	case "any":
		return f.any(n, elem, depth)
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr":
		return f.compare(op, n, elem)
	default:
		return "", filterErr("unknown operator %q", n.Op)
	}
}

// any: some element of the array at Path satisfies Sub[0]. Path starts at
// the raw record (Attr "" or "raw"), or, inside another any, at its element
// (Attr "elem").
func (f *filterSQL) any(n *store.Filter, elem string, depth int) (string, error) {
	if len(n.Sub) != 1 {
		return "", filterErr(`"any" takes one operand, not %d`, len(n.Sub))
	}
	var (
		r   jsonRef
		err error
	)
	switch n.Attr {
	case "", store.AttrRaw:
		if len(n.Path) == 0 {
			return "", filterErr(`"any" needs the path of an array`)
		}
		r, err = f.rawRef(n.Path)
	case store.AttrElem:
		if elem == "" {
			return "", filterErr(`attribute "elem" outside "any"`)
		}
		r, err = f.elemRef(elem, n.Path)
	default:
		return "", filterErr(`"any" over attribute %q`, n.Attr)
	}
	if err != nil {
		return "", err
	}
	alias := f.alias("je")
	inner, err := f.node(&n.Sub[0], alias, depth+1)
	if err != nil {
		return "", err
	}
	var from string
	switch {
	case f.pg:
		// jsonb_array_elements fails on anything but an array.
		from = "jsonb_array_elements(CASE WHEN jsonb_typeof(" + r.doc + ") = 'array' THEN " + r.doc + " END) AS " + alias + "(value)"
	case r.atom != "":
		from = "json_each(CASE WHEN " + r.atom + ".type = 'array' THEN " + r.atom + ".value END) AS " + alias
	default:
		// json_each would walk an object's members, or yield a scalar.
		from = "json_each(CASE WHEN " + r.typ() + " = 'array' THEN " + r.doc + " END, " + r.path + ") AS " + alias
	}
	cond := "EXISTS (SELECT 1 FROM " + from + " WHERE " + inner + ")"
	if v, ok := emailLookup(n); ok && f.scope == scopeClaims && elem == "" {
		cond = "(" + f.emailCards(v) + " AND " + cond + ")"
	}
	return cond, nil
}

// compare translates a comparison of one attribute.
func (f *filterSQL) compare(op string, n *store.Filter, elem string) (string, error) {
	v := n.Value
	if op == "pr" {
		v = nil
	} else if v == nil {
		// null and unassigned are one state (RFC 7643 §2.5).
		switch op {
		case "eq":
			s, err := f.compare("pr", n, elem)
			return "(NOT " + s + ")", err
		case "ne":
			return f.compare("pr", n, elem)
		}
		return "", filterErr("%q needs a value", op)
	}
	if n.Attr != store.AttrRaw && n.Attr != store.AttrElem && len(n.Path) > 0 {
		return "", filterErr("attribute %q takes no path", n.Attr)
	}
	switch f.scope {
	case scopeClaims:
		switch n.Attr {
		case store.AttrCardID:
			return f.textColumn("c.card_id", false, op, v, n.Fold)
		case store.AttrLogin:
			if s, ok := v.(string); ok && op == "eq" && s != "" {
				// claims_login is partial: say the condition that lets a
				// planner use it.
				cond, err := f.textColumn("c.login_norm", true, op, v, n.Fold)
				return "(" + cond + " AND c.login_norm <> '')", err
			}
			return f.textColumn("c.login_norm", true, op, v, n.Fold)
		case store.AttrExternalID:
			return f.textColumn("c.external_id", false, op, v, n.Fold)
		case store.AttrActive:
			return f.active(op, v)
		case store.AttrCreated:
			f.cards = true
			return f.timeColumn("k.created_at", op, v)
		case store.AttrUpdated:
			f.cards = true
			return f.timeColumn("k.updated_at", op, v)
		}
	case scopeGroups:
		switch n.Attr {
		case store.AttrGroupID:
			return f.textColumn("g.id", false, op, v, n.Fold)
		case store.AttrDisplayName:
			return f.textColumn("g.display_name_norm", true, op, v, n.Fold)
		case store.AttrExternalID:
			return f.textColumn("g.external_id", false, op, v, n.Fold)
		case store.AttrMember:
			return f.member(op, v, n.Fold)
		case store.AttrCreated:
			return f.timeColumn("g.created_at", op, v)
		case store.AttrUpdated:
			return f.timeColumn("g.updated_at", op, v)
		}
	}
	switch n.Attr {
	case store.AttrRaw:
		if len(n.Path) == 0 {
			return "", filterErr(`attribute "raw" needs a path`)
		}
		r, err := f.rawRef(n.Path)
		if err != nil {
			return "", err
		}
		cond, err := f.jsonCompare(op, r, v, n.Fold)
		if err == nil && f.scope == scopeClaims && rawExternalIDEq(n) {
			// The same comparison on the indexed expression first: what
			// lets the lookup read claims_raw_external_id.
			cond = "(" + f.rawExternalID() + " = " + f.arg(v) + " AND " + cond + ")"
		}
		return cond, err
	case store.AttrElem:
		if elem == "" {
			return "", filterErr(`attribute "elem" outside "any"`)
		}
		r, err := f.elemRef(elem, n.Path)
		if err != nil {
			return "", err
		}
		return f.jsonCompare(op, r, v, n.Fold)
	}
	what := "users"
	if f.scope == scopeGroups {
		what = "groups"
	}
	return "", filterErr("unknown attribute %q for %s", n.Attr, what)
}

var sqlOps = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

// textColumn compares a NOT NULL text column. norm: the column holds
// strings.ToLower of the text, and the value is folded the same way.
func (f *filterSQL) textColumn(col string, norm bool, op string, v any, fold bool) (string, error) {
	if op == "pr" {
		return "(" + col + " <> '')", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", filterErr("%s compares with a string, not %T", col[strings.IndexByte(col, '.')+1:], v)
	}
	return f.text(op, col, s, fold, norm, false)
}

// text compares a text expression with s. nullable: expr may be NULL
// (absent), which ne must match.
func (f *filterSQL) text(op, expr, s string, fold, norm, nullable bool) (string, error) {
	if norm {
		s, fold = strings.ToLower(s), false
	}
	switch op {
	case "co", "sw", "ew":
		return f.like(op, expr, s, fold, norm), nil
	}
	lhs, rhs := expr, f.arg(s)
	if fold {
		lhs, rhs = "lower("+expr+")", "lower(CAST("+rhs+" AS TEXT))"
	}
	switch op {
	case "eq":
		return "(" + lhs + " = " + rhs + ")", nil
	case "ne":
		if nullable {
			return "(NOT COALESCE(" + lhs + " = " + rhs + ", FALSE))", nil
		}
		return "(" + lhs + " <> " + rhs + ")", nil
	case "gt", "ge", "lt", "le":
		if f.pg {
			lhs += ` COLLATE "C"`
		}
		return "(" + lhs + " " + sqlOps[op] + " " + rhs + ")", nil
	}
	return "", filterErr("unknown operator %q", op)
}

// like: co, sw, ew.
func (f *filterSQL) like(op, expr, s string, fold, norm bool) string {
	if !f.pg && !fold && !norm {
		g := strings.NewReplacer(`*`, `[*]`, `?`, `[?]`, `[`, `[[]`).Replace(s)
		switch op {
		case "co":
			g = "*" + g + "*"
		case "sw":
			g += "*"
		case "ew":
			g = "*" + g
		}
		return "(" + expr + " GLOB " + f.arg(g) + ")"
	}
	p := likeEscape(s)
	switch op {
	case "co":
		p = "%" + p + "%"
	case "sw":
		p += "%"
	case "ew":
		p = "%" + p
	}
	if fold {
		return "(lower(" + expr + `) LIKE lower(CAST(` + f.arg(p) + ` AS TEXT)) ESCAPE '\')`
	}
	return "(" + expr + " LIKE " + f.arg(p) + ` ESCAPE '\')`
}

func (f *filterSQL) timeColumn(col, op string, v any) (string, error) {
	if op == "pr" {
		return "(" + col + " IS NOT NULL)", nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return "", filterErr("%s compares with a time, not %T", col, v)
	}
	sqlOp, ok := sqlOps[op]
	if !ok {
		return "", filterErr("%q does not apply to times", op)
	}
	return "(" + col + " " + sqlOp + " " + f.arg(t.UnixMicro()) + ")", nil
}

// active: present (true) or deactivated (false); the queries never see
// withdrawn claims.
func (f *filterSQL) active(op string, v any) (string, error) {
	if op == "pr" {
		return "(1 = 1)", nil
	}
	b, ok := v.(bool)
	if !ok {
		return "", filterErr("active compares with a boolean, not %T", v)
	}
	switch op {
	case "eq":
	case "ne":
		b = !b
	default:
		return "", filterErr("%q does not apply to booleans", op)
	}
	col := "c.state"
	if f.keyed {
		// A key finds the claims; the state only filters them (it leads
		// no index, but PostgreSQL would walk claims_source_card with it
		// rather than probe the primary key with ids it cannot count).
		col = f.d.notIndexed(col)
	}
	if b {
		return "(" + col + " = 'present')", nil
	}
	return "(" + col + " = 'deactivated')", nil
}

// member: some member's card id compares so (pr: the group has members).
func (f *filterSQL) member(op string, v any, fold bool) (string, error) {
	gm := f.alias("gm")
	exists := "EXISTS (SELECT 1 FROM group_members " + gm + " WHERE " + gm + ".group_id = g.id"
	if op == "pr" {
		return exists + ")", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", filterErr("member compares with a string, not %T", v)
	}
	cond, err := f.text(op, gm+".card_id", s, fold, false, false)
	if err != nil {
		return "", err
	}
	return exists + " AND " + cond + ")", nil
}

// ---- JSON

// jsonRef is a place in a JSON document that a comparison reads.
//
// PostgreSQL: doc is a jsonb expression of the value itself (NULL when
// absent).
//
// SQLite: doc (JSON text) and path (a parameter holding a JSON path) are
// the arguments of json_type and json_extract; or, for an array element
// itself, atom is the alias of its json_each row, whose type and value
// columns describe it (a string element's value is not JSON text, so the
// json functions must not see it).
type jsonRef struct {
	doc, path, atom string
}

// typ: SQLite's json type name, NULL when absent.
func (r jsonRef) typ() string {
	if r.atom != "" {
		return r.atom + ".type"
	}
	return "json_type(" + r.doc + ", " + r.path + ")"
}

// val: SQLite's SQL value of a scalar (text, integer, real; 1/0 for booleans).
func (r jsonRef) val() string {
	if r.atom != "" {
		return r.atom + ".value"
	}
	return "json_extract(" + r.doc + ", " + r.path + ")"
}

// container: SQLite's arguments naming an array or object, for json_each
// and json_array_length.
func (r jsonRef) container() string {
	if r.atom != "" {
		return r.atom + ".value"
	}
	return r.doc + ", " + r.path
}

func (f *filterSQL) rawRef(path []string) (jsonRef, error) {
	f.raw = true
	switch {
	case f.pg:
		return f.refAt("rj.doc", path)
	case f.scope == scopeGroups:
		return f.refAt("g.raw_json", path)
	default:
		return f.refAt("c.raw_json", path)
	}
}

// elemRef: the value at path in the element of the any aliased el.
func (f *filterSQL) elemRef(el string, path []string) (jsonRef, error) {
	if f.pg {
		return f.refAt(el+".value", path)
	}
	if len(path) == 0 {
		return jsonRef{atom: el}, nil
	}
	return f.refAt("(CASE WHEN "+el+".type = 'object' THEN "+el+".value END)", path)
}

func (f *filterSQL) refAt(doc string, path []string) (jsonRef, error) {
	for _, k := range path {
		if !validKey(k) {
			return jsonRef{}, filterErr("path key %q is not an attribute name", k)
		}
	}
	if f.pg {
		if len(path) == 0 {
			return jsonRef{doc: doc}, nil
		}
		return jsonRef{doc: "(" + doc + " #> CAST(" + f.arg(append([]string(nil), path...)) + " AS text[]))"}, nil
	}
	var b strings.Builder
	b.WriteByte('$')
	for _, k := range path {
		b.WriteString(`."`)
		b.WriteString(k)
		b.WriteByte('"')
	}
	return jsonRef{doc: doc, path: f.arg(b.String())}, nil
}

// validKey: a SCIM attribute name (letters, digits, "-", "_", "$" as in
// "$ref") or a schema URN, which may hold ":" and ".". Nothing that could
// end a quoted key (" or \) passes.
func validKey(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	urn := len(k) > 4 && strings.EqualFold(k[:4], "urn:")
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '$', c == '_', c == '-':
		case (c == ':' || c == '.') && urn:
		default:
			return false
		}
	}
	return true
}

func (f *filterSQL) jsonCompare(op string, r jsonRef, v any, fold bool) (string, error) {
	if op == "pr" {
		return f.jsonPresent(r), nil
	}
	switch x := v.(type) {
	case string:
		var text string
		if f.pg {
			text = "(CASE WHEN jsonb_typeof(" + r.doc + ") = 'string' THEN " + r.doc + " #>> '{}' END)"
		} else {
			text = "(CASE WHEN " + r.typ() + " = 'text' THEN " + r.val() + " END)"
		}
		return f.text(op, text, x, fold, false, true)
	case bool:
		var is string
		switch {
		case f.pg && x:
			is = "(" + r.doc + " = CAST('true' AS jsonb))"
		case f.pg:
			is = "(" + r.doc + " = CAST('false' AS jsonb))"
		case x:
			is = "(" + r.typ() + " = 'true')"
		default:
			is = "(" + r.typ() + " = 'false')"
		}
		switch op {
		case "eq":
			return is, nil
		case "ne":
			return "(NOT COALESCE(" + is + ", FALSE))", nil
		}
		return "", filterErr("%q does not apply to booleans", op)
	case time.Time:
		return "", filterErr("times compare only on created and updated, not on a raw attribute")
	}
	num, ok := number(v)
	if !ok {
		return "", filterErr("unsupported value type %T", v)
	}
	if math.IsNaN(num.f) || math.IsInf(num.f, 0) {
		return "", filterErr("number %v", v)
	}
	sqlOp, ok := sqlOps[op]
	if !ok {
		return "", filterErr("%q does not apply to numbers", op)
	}
	var lhs, rhs string
	if f.pg {
		lhs = "(CASE WHEN jsonb_typeof(" + r.doc + ") = 'number' THEN CAST(" + r.doc + " #>> '{}' AS numeric) END)"
		rhs = "CAST(" + f.arg(num.value()) + " AS numeric)"
	} else {
		lhs = "(CASE WHEN " + r.typ() + " IN ('integer', 'real') THEN " + r.val() + " END)"
		rhs = f.arg(num.value())
	}
	if op == "ne" {
		return "(NOT COALESCE(" + lhs + " = " + rhs + ", FALSE))", nil
	}
	return "(" + lhs + " " + sqlOp + " " + rhs + ")", nil
}

// jsonPresent: pr, a value that is not null and not empty.
func (f *filterSQL) jsonPresent(r jsonRef) string {
	if f.pg {
		return "COALESCE(" + r.doc + ` NOT IN (CAST('null' AS jsonb), CAST('""' AS jsonb), CAST('[]' AS jsonb), CAST('{}' AS jsonb)), FALSE)`
	}
	return "COALESCE(CASE " + r.typ() + " WHEN 'null' THEN FALSE WHEN 'text' THEN " + r.val() + " <> ''" +
		" WHEN 'array' THEN json_array_length(" + r.container() + ") > 0" +
		" WHEN 'object' THEN EXISTS (SELECT 1 FROM json_each(" + r.container() + "))" +
		" WHEN 'integer' THEN TRUE WHEN 'real' THEN TRUE WHEN 'true' THEN TRUE WHEN 'false' THEN TRUE END, FALSE)"
}

// numValue is a numeric filter value, kept as the caller's type so that
// integers compare exactly.
type numValue struct {
	f   float64
	i   int64
	int bool
}

func (n numValue) value() any {
	if n.int {
		return n.i
	}
	return n.f
}

func number(v any) (numValue, bool) {
	switch x := v.(type) {
	case float64:
		return numValue{f: x}, true
	case float32:
		return numValue{f: float64(x)}, true
	case int64:
		return numValue{i: x, f: float64(x), int: true}, true
	case int:
		return numValue{i: int64(x), f: float64(x), int: true}, true
	case int32:
		return numValue{i: int64(x), f: float64(x), int: true}, true
	}
	return numValue{}, false
}
