package scim

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	scimerrors "github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"
)

// An unquoted comparison value that is not true, false, null or a number
// is a string (Microsoft's SCIM validator writes `userName sw O`): the
// filter means exactly what it means with the value in quotes.
func TestUnquotedFilterValues(t *testing.T) {
	for _, tc := range []struct{ filter, quoted string }{
		// The three filters of Microsoft's collection.
		{`userName sw O`, `userName sw "O"`},
		{`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
			`name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org")`},
		{`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, `meta.Created gt "2015-10-10T14:38:21.8617979-07:00"`},
		// Any operator, in any case; inside brackets and after them.
		{`userName EQ ada@example.com`, `userName EQ "ada@example.com"`},
		{`emails[type eq work]`, `emails[type eq "work"]`},
		{`emails[type eq work and value ew example.com]`, `emails[type eq "work" and value ew "example.com"]`},
		{`emails[type eq work].value eq ada@example.com`, `emails[type eq "work" and value eq "ada@example.com"]`},
		{`emails[not(type eq home)]`, `emails[not(type eq "home")]`},
		{`not(userName eq ada)`, `not(userName eq "ada")`},
		// Mixed with quoted values and literals, which keep their meaning.
		{`userName eq ada and active eq true`, `userName eq "ada" and active eq true`},
		{`title eq "Site engineer" or title eq Countess`, `title eq "Site engineer" or title eq "Countess"`},
		{`phoneNumbers.value eq 12 or displayName eq Twelve`, `phoneNumbers.value eq 12 or displayName eq "Twelve"`},
		// Words that only begin like a literal or a number are strings.
		{`userName eq truex`, `userName eq "truex"`},
		{`userName eq nullable`, `userName eq "nullable"`},
		{`userName eq 12abc`, `userName eq "12abc"`},
		{`userName eq NaN`, `userName eq "NaN"`},
		{`title eq E5`, `title eq "E5"`},
		{`userName eq José`, `userName eq "José"`},
		{`userName eq O'Malley`, `userName eq "O'Malley"`},
		{`externalId eq 00u1abc`, `externalId eq "00u1abc"`},
		{`userName eq pr`, `userName eq "pr"`},
	} {
		got, err := parseRequestFilter(tc.filter)
		if err != nil {
			t.Errorf("%s: %v, want it read as %s", tc.filter, err, tc.quoted)
			continue
		}
		want, err := parseRequestFilter(tc.quoted)
		if err != nil {
			t.Fatalf("%s: %v", tc.quoted, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n reads as %s\n     want %s", tc.filter, formatFilter(got), formatFilter(want))
		}
	}
}

// What stays as the RFC has it: true, false, null and numbers unquoted are
// those literals, never strings; a quoted value is a string.
func TestUnquotedLiteralsKeepTheirMeaning(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   any
	}{
		{`userName eq true`, true},
		{`userName eq False`, false},
		{`userName eq null`, nil},
		{`userName eq 12`, int64(12)},
		{`userName eq -0.5e3`, float64(-500)},
		{`userName eq "true"`, "true"},
		{`userName eq "12"`, "12"},
	} {
		e, err := parseRequestFilter(tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		x, ok := e.(*filter.AttributeExpression)
		if !ok {
			t.Errorf("%s: parses to %#v", tc.filter, e)
			continue
		}
		if got, err := filterValue(x.CompareValue); err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: compares with %#v (%v), want %#v", tc.filter, got, err, tc.want)
		}
	}
}

// What stays refused: a value that looks like a number but is not one, a
// keyword, and anything that is not one word (spaces, parentheses,
// quotes, backslashes) — each with an error that says so.
func TestUnquotedFilterValuesRefused(t *testing.T) {
	notValue := func(v, col, f string) string {
		return "`" + v + "` at column " + col + " is not a value: write a string in double quotes, as in `" + f + " \"" + v + "\"`, or a number, true, false or null"
	}
	for _, tc := range []struct{ filter, detail string }{
		{`userName eq 01`, notValue("01", "13", "userName eq")},
		{`userName eq 1.`, notValue("1.", "13", "userName eq")},
		{`userName eq +1`, notValue("+1", "13", "userName eq")},
		{`userName eq .5`, notValue(".5", "13", "userName eq")},
		{`userName eq 1e`, notValue("1e", "13", "userName eq")},
		{`userName eq 1.2.3`, notValue("1.2.3", "13", "userName eq")},
		{`meta.created gt 2015-10-10`, notValue("2015-10-10", "17", "meta.created gt")},
		{`userName eq and`, notValue("and", "13", "userName eq")},
		{`userName eq OR`, notValue("OR", "13", "userName eq")},
		{`userName eq not`, notValue("not", "13", "userName eq")},
		{`userName eq a\b`, notValue(`a\b`, "13", "userName eq")},
		{"userName eq a\x01b", notValue("a\x01b", "13", "userName eq")},
		{`title eq Site engineer`, "expected `and`, `or` or the end of the filter after `title eq Site`, found `engineer` at column 15: an unquoted value ends at a space, so write `\"Site engineer\"` in double quotes"},
		{`userName eq ada lovelace and active eq true`, "expected `and`, `or` or the end of the filter after `userName eq ada`, found `lovelace` at column 17: an unquoted value ends at a space, so write `\"ada lovelace\"` in double quotes"},
		{`userName eq foo(bar)`, "expected `and`, `or` or the end of the filter after `userName eq foo`, found `(` at column 16: an unquoted value cannot hold parentheses or brackets; write it in double quotes"},
		{`(userName eq Site engineer)`, "expected `)` to close the parenthesis at column 1, found `engineer` at column 19: an unquoted value ends at a space, so write `\"Site engineer\"` in double quotes"},
		{`emails[value eq a]b]`, "expected `and`, `or` or the end of the filter after `emails[value eq a]`, found `b` at column 19"},
		{`userName eq O"Brien`, "the string that starts at column 14 has no closing quote"},
		{`userName eq 'ada'`, "the value at column 13 is in single quotes: write strings in double quotes, as in `userName eq \"ada@example.com\"`"},
		{`userName eq`, "expected a value after `userName eq`"},
	} {
		_, err := parseRequestFilter(tc.filter)
		var se scimerrors.ScimError
		if !errors.As(err, &se) || se.Status != 400 || se.ScimType != scimerrors.ScimTypeInvalidFilter || se.Detail != tc.detail {
			t.Errorf("%s:\n got %#v\nwant 400 invalidFilter %q", tc.filter, err, tc.detail)
		}
	}
}

// Quoting unquoted values never lets the parser see more than a filter may
// hold: the bounds hold for the filter as written and as quoted, and the
// depth is the same.
func TestUnquotedFilterValuesBounded(t *testing.T) {
	// 4,090 bytes as written; 2 more per value once quoted.
	long := strings.Repeat(`userName eq a or `, 240) + `userName eq a`
	if len(long) > maxFilterBytes {
		t.Fatalf("the test filter is %d bytes", len(long))
	}
	_, err := parseRequestFilter(long)
	var se scimerrors.ScimError
	want := "with its unquoted values in quotes, the filter is 4575 bytes long; at most 4096 are allowed"
	if !errors.As(err, &se) || se.ScimType != scimerrors.ScimTypeInvalidFilter || se.Detail != want {
		t.Errorf("a filter that grows past %d bytes when quoted: %v, want 400 invalidFilter %q", maxFilterBytes, err, want)
	}
	// Depth: 32 levels with an unquoted value inside is fine, 33 is not.
	for n, ok := range map[int]bool{32: true, 33: false} {
		f := strings.Repeat("(", n) + "userName eq ada" + strings.Repeat(")", n)
		_, err := parseRequestFilter(f)
		if ok != (err == nil) {
			t.Errorf("%d parentheses around an unquoted value: %v", n, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "more than 32 levels")) {
			t.Errorf("%d parentheses around an unquoted value: %v, want the depth refused", n, err)
		}
	}
}

// FuzzQuoteBareValues: quoting gives meaning only to what the parser
// refuses as written — a filter filter-parser accepts comes back
// unchanged — and never changes a filter's nesting; a filter it quotes
// either parses or is refused as invalidFilter.
func FuzzQuoteBareValues(f *testing.F) {
	for _, s := range append(append(filterSamples, sqlFilterSeeds...), unquotedSeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if checkFilterBounds("filter", text) != nil {
			return
		}
		q := quoteBareValues(text)
		if q == text {
			return
		}
		if _, err := filter.ParseFilter([]byte(text)); err == nil {
			t.Fatalf("%q is valid as written, yet quoted as %q", text, q)
		}
		if d := len(q) - len(text); d <= 0 || d%2 != 0 || strings.ReplaceAll(q, `"`, "") != strings.ReplaceAll(text, `"`, "") {
			t.Fatalf("%q quoted as %q: not just pairs of quotes added", text, q)
		}
		if err := checkFilterBounds("filter", q); err != nil && len(q) <= maxFilterBytes {
			t.Fatalf("%q is within bounds; quoted as %q, it is not: %v", text, q, err)
		}
		if _, err := parseRequestFilter(text); err != nil {
			mustBeInvalidFilter(t, text, "parse", err)
		}
	})
}

// unquotedSeeds are filters with unquoted values, for the fuzz targets.
var unquotedSeeds = []string{
	`userName sw O`,
	`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
	`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`,
	`emails[type eq work].value eq ada@example.com`,
	`emails[not(type eq home)]`,
	`userName eq 01`,
	`userName eq and`,
	`title eq Site engineer`,
	`userName eq foo(bar)`,
	`userName eq O'Malley`,
	`userName eq a\b`,
}
