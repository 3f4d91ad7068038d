package scim_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store/storetest"
)

// A filter too long or too deep is refused before any parser reads it: a
// 66 KB filter of "(" once took the process past a gigabyte. The refusal
// is measured in allocations, not time.
func TestFilterBoundsComeBeforeParsing(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	for _, tc := range []struct {
		name, filter, detail string
	}{
		{"66 KB of (", strings.Repeat("(", 66<<10), "the filter is 67584 bytes long; at most 4096 are allowed"},
		{"4 KB of (", strings.Repeat("(", 4000), "the filter nests more than 32 levels deep (parentheses, not, brackets) at column 33"},
		{"4 KB of not(", strings.Repeat("not(", 1000), "the filter nests more than 32 levels deep (parentheses, not, brackets) at column 132"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Parentheses need no escaping in a query: the request line is
			// the filter's own size.
			get := func() response { return e.entra("GET", "/Users?filter="+strings.ReplaceAll(tc.filter, " ", "+"), nil) }
			r := get()
			if r.Status != 400 || r.str("scimType") != "invalidFilter" || r.str("detail") != tc.detail {
				t.Fatalf("%d %s, want 400 invalidFilter %q", r.Status, truncate(r.Raw), tc.detail)
			}
			// The whole round trip, client and server: the parser alone
			// made 15 MiB and hundreds of thousands of allocations of
			// 1,000 parentheses.
			if n := testing.AllocsPerRun(5, func() { get() }); n > 2000 {
				t.Errorf("a refused filter costs %.0f allocations a request, want at most 2000", n)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			get()
			runtime.ReadMemStats(&after)
			if b := after.TotalAlloc - before.TotalAlloc; b > 2<<20 {
				t.Errorf("a refused filter allocates %d bytes, want at most 2 MiB", b)
			}
		})
	}
}

// POST /.search is not supported: its filter is read by no parser, and
// the answer costs what the body does.
func TestSearchFilterIsNotParsed(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": strings.Repeat("(", 66<<10)}
	for _, path := range []string{"/.search", "/Users/.search", "/Groups/.search"} {
		search := func() response { return e.entra("POST", path, body) }
		if r := search(); r.Status != 501 {
			t.Errorf("POST %s: %d %s, want 501", path, r.Status, truncate(r.Raw))
		}
		if n := testing.AllocsPerRun(3, func() { search() }); n > 2000 {
			t.Errorf("POST %s costs %.0f allocations, want at most 2000", path, n)
		}
	}
}

// Nesting up to 32 levels is accepted, 33 is not; a parenthesis in a
// string is not nesting.
func TestFilterDepth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace")).must(t, 201)
		nots := func(n int, inner string) string { return strings.Repeat("not(", n) + inner + strings.Repeat(")", n) }
		parens := func(n int, inner string) string { return strings.Repeat("(", n) + inner + strings.Repeat(")", n) }
		for _, tc := range []struct {
			name, filter string
			found        int // -1: refused
		}{
			{"32 nots", nots(32, `userName eq "ada@example.com"`), 1},
			{"33 nots", nots(33, `userName eq "ada@example.com"`), -1},
			{"32 parentheses", parens(32, `userName eq "ada@example.com"`), 1},
			{"33 parentheses", parens(33, `userName eq "ada@example.com"`), -1},
			{"31 parentheses and brackets", parens(31, `emails[type eq "work"]`), 1},
			{"32 parentheses and brackets", parens(32, `emails[type eq "work"]`), -1},
			{"30 nots and a not in brackets", nots(30, `emails[not(type eq "home")]`), 1},
			{"parentheses in a string", `userName eq "` + strings.Repeat("(", 40) + `"`, 0},
			{"escaped quote in a string", `userName eq "\"` + strings.Repeat("(", 40) + `"`, 0},
		} {
			r := e.entra("GET", "/Users?filter="+queryEscape(tc.filter), nil)
			switch {
			case tc.found < 0 && (r.Status != 400 || r.str("scimType") != "invalidFilter" || !strings.Contains(r.str("detail"), "more than 32 levels")):
				t.Errorf("%s: %d %s, want 400 invalidFilter for depth", tc.name, r.Status, truncate(r.Raw))
			case tc.found >= 0 && (r.Status != 200 || r.str("totalResults") != itoa(tc.found)):
				t.Errorf("%s: %d %s, want 200 with %d", tc.name, r.Status, truncate(r.Raw), tc.found)
			}
		}
	})
}

// A malformed filter's error says what is wrong as a person would, never
// in the parser's own words.
func TestFilterErrorsReadAsWritten(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	for _, tc := range []struct{ filter, detail string }{
		{`userName eq`, "expected a value after `userName eq`"},
		{`userName`, "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `userName`"},
		{`userName zz "x"`, "`zz` at column 10 is not an operator: expected one of eq, ne, co, sw, ew, gt, ge, lt, le or pr after `userName`"},
		{`userName eq "ada`, "the string that starts at column 13 has no closing quote"},
		{`userName eq 'ada'`, "the value at column 13 is in single quotes: write strings in double quotes, as in `userName eq \"ada@example.com\"`"},
		{`userName eq ada lovelace`, "expected `and`, `or` or the end of the filter after `userName eq ada`, found `lovelace` at column 17: an unquoted value ends at a space, so write `\"ada lovelace\"` in double quotes"},
		{`userName eq and`, "`and` at column 13 is not a value: write a string in double quotes, as in `userName eq \"and\"`, or a number, true, false or null"},
		{`(userName eq "x"`, "the parenthesis at column 1 is not closed"},
		{`userName eq "x")`, "unexpected `)` at column 16: no parenthesis is open"},
		{`userName eq "x" and`, "expected a filter after `userName eq \"x\" and`"},
		{`and userName eq "x"`, "expected a filter before `and` at column 1"},
		{`userName eq "x" xor active eq true`, "expected `and`, `or` or the end of the filter after `userName eq \"x\"`, found `xor` at column 17"},
		{`not userName eq "x"`, "`not` at column 1 must be followed by a filter in parentheses, as in `not (userName eq \"ada@example.com\")`"},
		{`emails[type eq "work"`, "the bracket at column 7 is not closed"},
		{`emails[]`, "the brackets at column 7 are empty: put a filter on emails's elements in them"},
		{`emails[(type eq "work")]`, "a parenthesis inside brackets (column 8) is not supported, except after `not`"},
		{`1userName eq "x"`, "`1userName` at column 1 is not an attribute name"},
		{`name.givenName.x eq "x"`, "`name.givenName.x` at column 1 is not an attribute name"},
		{`userName eq "caf\u00e9"`, "the escape `\\u` at column 17 is not supported: only `\\\"` and `\\\\` are; write other characters as they are"},
		{"userName\teq \"x\"", "a tab or line break at column 9: separate the parts of a filter with spaces"},
		{`userName eq 01`, "`01` at column 13 is not a value: write a string in double quotes, as in `userName eq \"01\"`, or a number, true, false or null"},
		{`()`, "expected a filter at column 2, found `)`"},
		{`emails[type eq "work" and primary eq true and value pr]`, "brackets hold at most two comparisons joined by one `and` or `or` (a limit of rosterd's filter parser); `and` at column 43 is a second"},
	} {
		r := e.entra("GET", "/Users?filter="+queryEscape(tc.filter), nil)
		if r.Status != 400 || r.str("scimType") != "invalidFilter" || r.str("detail") != tc.detail {
			t.Errorf("%s:\n got %d %s\nwant 400 invalidFilter %q", tc.filter, r.Status, r.Raw, tc.detail)
		}
	}
}

// A PATCH path may hold a value filter: it is bounded as a filter is,
// before the library or rosterd parses it.
func TestPatchPathBounds(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	id := e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace")).must(t, 201).str("id")
	deep := `emails[` + strings.Repeat("not(", 500) + `type eq "work"` + strings.Repeat(")", 500) + `].value`
	const depth = "the path nests more than 32 levels deep (parentheses, not, brackets) at column 135"
	for _, tc := range []struct {
		name   string
		op     map[string]any
		detail string
	}{
		{"deep path", map[string]any{"op": "replace", "path": deep, "value": "x@example.com"}, depth},
		{"deep key of a path-less value", map[string]any{"op": "replace", "value": map[string]any{deep: "x@example.com"}}, depth},
		{"long path", map[string]any{"op": "replace", "path": "name." + strings.Repeat("x", 5000), "value": "x"}, "the path is 5005 bytes long; at most 4096 are allowed"},
		{"long key of an extension in a path-less value", map[string]any{"op": "replace", "value": map[string]any{
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{strings.Repeat("x", 4050): "x"}}},
			"the path is 4109 bytes long; at most 4096 are allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patch := func() response { return e.entra("PATCH", "/Users/"+id, patchOp(tc.op)) }
			r := patch()
			if r.Status != 400 || r.str("scimType") != "invalidPath" || r.str("detail") != tc.detail {
				t.Fatalf("%d %s, want 400 invalidPath %q", r.Status, truncate(r.Raw), tc.detail)
			}
			if n := testing.AllocsPerRun(3, func() { patch() }); n > 3000 {
				t.Errorf("a refused path costs %.0f allocations a request, want at most 3000", n)
			}
		})
	}
	e.entra("GET", "/Users/"+id, nil).must(t, 200)
	if got := e.entra("GET", "/Users/"+id, nil).str("name", "givenName"); got != "Ada" {
		t.Errorf("givenName %q after refused patches, want Ada", got)
	}
}

// A string in a filter is a JSON string: \" is a quote and \\ a
// backslash, not the two characters written.
func TestFilterStringEscapes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.entra("POST", "/Users", user("obrien@example.com", "Conan", `O"Brien`, map[string]any{"title": `R\D`})).must(t, 201)
		for _, f := range []string{
			`name.familyName eq "O\"Brien"`,
			`name.familyName sw "o\"b"`,
			`title eq "R\\D"`,
			`title co "\\" and name.familyName co "\""`,
			`emails[value eq "obrien@example.com"] and title ew "\\d"`,
		} {
			r := e.entra("GET", "/Users?filter="+queryEscape(f), nil).must(t, 200)
			if r.str("totalResults") != "1" {
				t.Errorf("%s: %s, want the user", f, truncate(r.Raw))
			}
		}
	})
}

// A long flat chain of or (an IdP looking up a batch of users) is not
// nesting: forty terms are one level, not forty.
func TestFilterFlatChains(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace")).must(t, 201)
		e.entra("POST", "/Users", user("grace@example.com", "Grace", "Hopper")).must(t, 201)
		var terms []string
		for i := range 40 {
			terms = append(terms, `userName eq "nobody`+itoa(i)+`@example.com"`)
		}
		for _, tc := range []struct {
			name, filter string
			found        int
		}{
			{"or chain", strings.Join(append(terms, `userName eq "ada@example.com"`, `userName eq "grace@example.com"`), " or "), 2},
			{"and chain", strings.Repeat(`active eq true and `, 40) + `userName sw "g"`, 1},
			{"value paths", strings.Repeat(`emails[type eq "work"] and `, 40) + `emails[value ew "ada@example.com"]`, 1},
			{"mixed", `(` + strings.Join(terms, " or ") + `) or (userName sw "a" and active eq true and name.givenName eq "Ada")`, 1},
		} {
			r := e.entra("GET", "/Users?filter="+queryEscape(tc.filter), nil)
			if r.Status != 200 || r.str("totalResults") != itoa(tc.found) {
				t.Errorf("%s: %d %s, want %d", tc.name, r.Status, truncate(r.Raw), tc.found)
			}
		}
	})
}

// The value filter of a PATCH path reads \" and \\ as a filter does.
func TestPatchPathStringEscapes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		id := e.entra("POST", "/Users", user("ada@example.com", "Ada", "Lovelace", map[string]any{
			"emails": []any{map[string]any{"type": "work", "value": "ada@example.com", "display": `Ada "Work"`, "primary": true}},
		})).must(t, 201).str("id")
		e.entra("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": `emails[display eq "Ada \"Work\""].value`, "value": "ada.l@example.com"})).must(t, 204)
		r := e.entra("GET", "/Users/"+id, nil).must(t, 200)
		emails, _ := r.Body["emails"].([]any)
		if len(emails) != 1 || r.str("emails") == "" || !strings.Contains(r.Raw, `"value":"ada.l@example.com"`) {
			t.Errorf("emails after the patch: %s, want the one email replaced", r.str("emails"))
		}
	})
}
