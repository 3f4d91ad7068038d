package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	scimerrors "github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"
)

// Limits on a filter (and on a PATCH path, which may hold one), checked
// before any parser sees it: scim2/filter-parser backtracks, and 16,000
// open parentheses cost it a quarter of a gigabyte and more than a second.
const (
	maxFilterBytes = 4 << 10
	maxFilterDepth = 32
)

// parseRequestFilter parses the filter of a request: bounded first, then
// read as Microsoft writes it (quoteBareValues, then
// rewriteSubAttrAfterValuePath), then parsed.
// Every error is a 400 invalidFilter whose detail says what is wrong in
// the filter's own terms, never the parser's.
func parseRequestFilter(f string) (filter.Expression, error) {
	if err := checkFilterBounds("filter", f); err != nil {
		return nil, invalidFilter("%s", err.Error())
	}
	if e, ok := parseSimpleEq(f); ok {
		return e, nil
	}
	text := quoteBareValues(f)
	if len(text) > maxFilterBytes {
		// Quoting adds no nesting (checkFilterBounds counts nothing in
		// quotes, and a bare value holds no bracket), only two bytes a
		// value: the parser still never reads more than the bound.
		return nil, invalidFilter("with its unquoted values in quotes, the filter is %d bytes long; at most %d are allowed", len(text), maxFilterBytes)
	}
	e, err := parseFilter(rewriteSubAttrAfterValuePath(text))
	if err != nil {
		return nil, invalidFilter("%s", explainFilter(f))
	}
	return e, nil
}

// checkFilterBounds refuses a filter or path longer than maxFilterBytes or
// nested deeper than maxFilterDepth, in one pass that allocates nothing
// unless it refuses. Depth counts parentheses and brackets (a value
// path); "not" is always followed by a parenthesis, which counts it.
// Parentheses inside a quoted string are not counted.
func checkFilterBounds(what, f string) error {
	if len(f) > maxFilterBytes {
		return fmt.Errorf("the %s is %d bytes long; at most %d are allowed", what, len(f), maxFilterBytes)
	}
	depth, quoted := 0, false
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '[':
			if depth++; depth > maxFilterDepth {
				return fmt.Errorf("the %s nests more than %d levels deep (parentheses, not, brackets) at column %d", what, maxFilterDepth, column(f, i))
			}
		case c == ')' || c == ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// column is the 1-based column, in characters, of byte offset i of s.
func column(s string, i int) int {
	if i > len(s) {
		i = len(s)
	}
	return utf8.RuneCountInString(s[:i]) + 1
}

// explainFilter says what is wrong with a filter the parser refused, as a
// person would say it. It reads the grammar of RFC 7644 §3.4.2.2 as
// filter-parser implements it; where it finds nothing wrong, the answer
// is general rather than the parser's own words.
func explainFilter(f string) string {
	if strings.TrimSpace(f) == "" {
		return "the filter is empty"
	}
	x := &filterExplainer{src: f}
	if err := x.scan(); err != "" {
		return err
	}
	if err := x.filter(false); err != "" {
		return err
	}
	if t := x.peek(); t.kind != tokEnd {
		if t.kind == tokClose {
			return fmt.Sprintf("unexpected `)` at column %d: no parenthesis is open", column(f, t.at))
		}
		return fmt.Sprintf("expected `and`, `or` or the end of the filter after `%s`, found `%s` at column %d", x.before(t), t.text, column(f, t.at)) + x.bareHint(x.pos)
	}
	return "the filter is not valid SCIM filter syntax (RFC 7644 §3.4.2.2), for example `userName eq \"ada@example.com\"`"
}

type tokKind int

const (
	tokEnd tokKind = iota
	tokWord
	tokString
	tokOpen
	tokClose
	tokOpenBracket
	tokCloseBracket
)

type token struct {
	kind tokKind
	text string
	at   int // byte offset
}

type filterExplainer struct {
	src  string
	toks []token
	pos  int
	// bare holds the indexes of the tokens read as unquoted string
	// values (bareString), in order.
	bare []int
	// joins counts the and/or of the brackets being read: filter-parser
	// takes at most one.
	joins int
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

const opList = "eq, ne, co, sw, ew, gt, ge, lt, le or pr"

// scan splits the filter into words, strings and brackets.
func (x *filterExplainer) scan() string {
	s := x.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '\t' || c == '\n' || c == '\r':
			return fmt.Sprintf("a tab or line break at column %d: separate the parts of a filter with spaces", column(s, i))
		case c == '(' || c == ')' || c == '[' || c == ']':
			kind := map[byte]tokKind{'(': tokOpen, ')': tokClose, '[': tokOpenBracket, ']': tokCloseBracket}[c]
			x.toks = append(x.toks, token{kind: kind, text: string(c), at: i})
			i++
		case c == '\'':
			// At the start of a token only: O'Malley is a word.
			return fmt.Sprintf("the value at column %d is in single quotes: write strings in double quotes, as in `userName eq \"ada@example.com\"`", column(s, i))
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					if j+1 < len(s) && s[j+1] != '"' && s[j+1] != '\\' {
						return fmt.Sprintf("the escape `\\%c` at column %d is not supported: only `\\\"` and `\\\\` are; write other characters as they are", s[j+1], column(s, j))
					}
					j++
				}
			}
			if j >= len(s) {
				return fmt.Sprintf("the string that starts at column %d has no closing quote", column(s, i))
			}
			x.toks = append(x.toks, token{kind: tokString, text: s[i : j+1], at: i})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()[]\"", rune(s[j])) {
				j++
			}
			x.toks = append(x.toks, token{kind: tokWord, text: s[i:j], at: i})
			i = j
		}
	}
	return ""
}

func (x *filterExplainer) peek() token {
	if x.pos < len(x.toks) {
		return x.toks[x.pos]
	}
	return token{kind: tokEnd, at: len(x.src)}
}

func (x *filterExplainer) next() token { t := x.peek(); x.pos++; return t }

// before is the filter's text before t, trimmed: what a message quotes as
// "after …". Long text is cut to its last 40 characters.
func (x *filterExplainer) before(t token) string {
	s := strings.TrimSpace(x.src[:t.at])
	if n := utf8.RuneCountInString(s); n > 40 {
		r := []rune(s)
		s = "…" + string(r[n-40:])
	}
	return s
}

func isWord(t token, w string) bool { return t.kind == tokWord && strings.EqualFold(t.text, w) }

// filter = and *("or" and); in brackets, no value paths and no
// parentheses but after not.
func (x *filterExplainer) filter(inBrackets bool) string {
	for {
		if err := x.and(inBrackets); err != "" {
			return err
		}
		if !isWord(x.peek(), "or") {
			return ""
		}
		if err := x.join(inBrackets); err != "" {
			return err
		}
	}
}

func (x *filterExplainer) and(inBrackets bool) string {
	for {
		if err := x.value(inBrackets); err != "" {
			return err
		}
		if !isWord(x.peek(), "and") {
			return ""
		}
		if err := x.join(inBrackets); err != "" {
			return err
		}
	}
}

// join takes an and/or, of which brackets hold one at most.
func (x *filterExplainer) join(inBrackets bool) string {
	t := x.next()
	if inBrackets {
		if x.joins++; x.joins > 1 {
			return fmt.Sprintf("brackets hold at most two comparisons joined by one `and` or `or` (a limit of rosterd's filter parser); `%s` at column %d is a second", t.text, column(x.src, t.at))
		}
	}
	return ""
}

func (x *filterExplainer) value(inBrackets bool) string {
	t := x.peek()
	switch {
	case t.kind == tokEnd:
		if x.pos == 0 {
			return "the filter is empty"
		}
		return fmt.Sprintf("expected a filter after `%s`", x.before(t))
	case isWord(t, "not"):
		x.next()
		if x.peek().kind != tokOpen {
			return fmt.Sprintf("`not` at column %d must be followed by a filter in parentheses, as in `not (userName eq \"ada@example.com\")`", column(x.src, t.at))
		}
		return x.group(inBrackets)
	case t.kind == tokOpen:
		if inBrackets {
			return fmt.Sprintf("a parenthesis inside brackets (column %d) is not supported, except after `not`", column(x.src, t.at))
		}
		return x.group(inBrackets)
	case t.kind == tokClose:
		return fmt.Sprintf("expected a filter at column %d, found `)`", column(x.src, t.at))
	case t.kind == tokWord && (isWord(t, "and") || isWord(t, "or")):
		return fmt.Sprintf("expected a filter before `%s` at column %d", t.text, column(x.src, t.at))
	case t.kind != tokWord:
		return fmt.Sprintf("expected an attribute name at column %d, found `%s`", column(x.src, t.at), t.text)
	}
	return x.attrExp(inBrackets)
}

// group: "(" filter ")", the next token being "(".
func (x *filterExplainer) group(inBrackets bool) string {
	open := x.next()
	if err := x.filter(inBrackets); err != "" {
		return err
	}
	switch t := x.next(); t.kind {
	case tokClose:
		return ""
	case tokEnd:
		return fmt.Sprintf("the parenthesis at column %d is not closed", column(x.src, open.at))
	default:
		return fmt.Sprintf("expected `)` to close the parenthesis at column %d, found `%s` at column %d", column(x.src, open.at), t.text, column(x.src, t.at)) + x.bareHint(x.pos-1)
	}
}

// attrExp: attrPath "pr" / attrPath compareOp value / attrPath "[" valFilter "]".
func (x *filterExplainer) attrExp(inBrackets bool) string {
	name := x.next()
	if !validAttrPath(name.text) {
		return fmt.Sprintf("`%s` at column %d is not an attribute name", name.text, column(x.src, name.at))
	}
	if x.peek().kind == tokOpenBracket {
		open := x.next()
		if inBrackets {
			return fmt.Sprintf("brackets inside brackets (column %d) are not supported", column(x.src, open.at))
		}
		x.joins = 0
		if x.peek().kind == tokCloseBracket {
			return fmt.Sprintf("the brackets at column %d are empty: put a filter on %s's elements in them", column(x.src, open.at), name.text)
		}
		if err := x.filter(true); err != "" {
			return err
		}
		switch t := x.next(); t.kind {
		case tokCloseBracket:
		case tokEnd:
			return fmt.Sprintf("the bracket at column %d is not closed", column(x.src, open.at))
		default:
			return fmt.Sprintf("expected `]` to close the bracket at column %d, found `%s` at column %d", column(x.src, open.at), t.text, column(x.src, t.at)) + x.bareHint(x.pos-1)
		}
		// Entra ID's emails[type eq "work"].value eq "x".
		if t := x.peek(); t.kind == tokWord && strings.HasPrefix(t.text, ".") {
			x.next()
			if !validAttrPath(t.text[1:]) {
				return fmt.Sprintf("`%s` at column %d is not a sub-attribute name", t.text[1:], column(x.src, t.at+1))
			}
			return x.comparison(t)
		}
		return ""
	}
	return x.comparison(name)
}

// comparison reads what follows an attribute path: an operator, and a
// value unless the operator is pr.
func (x *filterExplainer) comparison(name token) string {
	op := x.peek()
	switch {
	case op.kind == tokEnd:
		return fmt.Sprintf("expected an operator (%s) after `%s`", opList, x.before(op))
	case op.kind != tokWord:
		return fmt.Sprintf("expected an operator (%s) after `%s`, found `%s` at column %d", opList, x.before(op), op.text, column(x.src, op.at))
	case isWord(op, "pr"):
		x.next()
		return ""
	case !compareOps[strings.ToLower(op.text)]:
		return fmt.Sprintf("`%s` at column %d is not an operator: expected one of %s after `%s`", op.text, column(x.src, op.at), opList, x.before(op))
	}
	x.next()
	v := x.peek()
	switch {
	case v.kind == tokEnd:
		return fmt.Sprintf("expected a value after `%s`", x.before(v))
	case v.kind == tokString:
	case v.kind == tokWord && validValueWord(v.text):
	case v.kind == tokWord && bareString(v.text):
		x.bare = append(x.bare, x.pos)
	case v.kind == tokWord:
		return fmt.Sprintf("`%s` at column %d is not a value: write a string in double quotes, as in `%s %s \"%s\"`, or a number, true, false or null", v.text, column(x.src, v.at), name.text, op.text, v.text)
	default:
		return fmt.Sprintf("expected a value after `%s`, found `%s` at column %d", x.before(v), v.text, column(x.src, v.at))
	}
	x.next()
	return ""
}

// validAttrPath: [URN ":"] ATTRNAME ["." ATTRNAME], ATTRNAME being ALPHA
// *(ALPHA / DIGIT / "-" / "_"), or "$ref".
func validAttrPath(p string) bool {
	if strings.HasPrefix(strings.ToLower(p), "urn:") {
		i := strings.LastIndexByte(p, ':')
		p = p[i+1:]
	}
	name, sub, hasSub := strings.Cut(p, ".")
	if hasSub && (strings.Contains(sub, ".") || !validAttrName(sub)) {
		return false
	}
	return validAttrName(name)
}

func validAttrName(s string) bool { return s == "$ref" || isAttrName(s) }

// validValueWord: a JSON number, true, false or null.
func validValueWord(w string) bool {
	switch strings.ToLower(w) {
	case "true", "false", "null":
		return true
	}
	return w != "" && (w[0] == '-' || '0' <= w[0] && w[0] <= '9') && json.Valid([]byte(w))
}

// quoteBareValues returns f with each unquoted comparison value that is
// not true, false, null or a number (bareString) put in double quotes:
// Microsoft's SCIM validator writes `userName sw O` and
// `meta.created gt 2015-10-10T14:38:21-07:00`, and such a word can only
// mean that string. A filter that is valid as written has no such value
// and comes back as it is; so does one the grammar refuses anywhere else,
// or that holds an unquoted value which could mean something else (01,
// 2015-10-10, and, a\b: see TestUnquotedFilterValuesRefused), for the
// parser to refuse and explainFilter to explain.
func quoteBareValues(f string) string {
	x := &filterExplainer{src: f}
	if x.scan() != "" || x.filter(false) != "" || x.peek().kind != tokEnd || len(x.bare) == 0 {
		return f
	}
	var b strings.Builder
	b.Grow(len(f) + 2*len(x.bare))
	last := 0
	for _, i := range x.bare {
		t := x.toks[i]
		// bareString admits no quote, backslash or control character:
		// the word needs no escaping.
		b.WriteString(f[last:t.at])
		b.WriteByte('"')
		b.WriteString(t.text)
		b.WriteByte('"')
		last = t.at + len(t.text)
	}
	b.WriteString(f[last:])
	return b.String()
}

// bareString says whether w, written unquoted where a comparison value
// goes, is read as the string w: a word that is neither a literal nor a
// number (validValueWord comes first), nor looks like a number
// (looksNumeric), nor is and, or or not, and holds no backslash or control
// character. The scanner has already ended it at a space, a parenthesis,
// a bracket or a double quote.
func bareString(w string) bool {
	if w == "" || !utf8.ValidString(w) || looksNumeric(w) {
		return false
	}
	switch strings.ToLower(w) {
	case "and", "or", "not":
		return false
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// looksNumeric: w is made of digits, signs, points and exponent marks
// only, with a digit, and does not begin with an exponent mark (01, 1.,
// +1, .5, 1e, 1.2.3, 2015-10-10). A client that wrote one may have meant
// a number; rosterd does not guess which.
func looksNumeric(w string) bool {
	if w[0] == 'e' || w[0] == 'E' || strings.IndexFunc(w, func(r rune) bool { return '0' <= r && r <= '9' }) < 0 {
		return false
	}
	return strings.Trim(w, "0123456789+-.eE") == ""
}

// bareHint explains an error at token i when the token before it is an
// unquoted value: the value probably went on.
func (x *filterExplainer) bareHint(i int) string {
	if n := len(x.bare); n == 0 || x.bare[n-1] != i-1 || i >= len(x.toks) {
		return ""
	}
	switch v, t := x.toks[i-1], x.toks[i]; t.kind {
	case tokWord:
		return fmt.Sprintf(": an unquoted value ends at a space, so write `\"%s %s\"` in double quotes", v.text, t.text)
	case tokOpen, tokClose, tokOpenBracket, tokCloseBracket:
		if t.at == v.at+len(v.text) {
			return ": an unquoted value cannot hold parentheses or brackets; write it in double quotes"
		}
	}
	return ""
}

// invalidPath is a 400 invalidPath.
func invalidPath(format string, args ...any) error {
	return scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidPath, Detail: fmt.Sprintf(format, args...), Status: 400}
}
