package scim

import (
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

var filterSamples = []string{
	`userName eq "ada@example.com"`,
	`externalId eq "00u1abc"`,
	`userName EQ "Ada"`,
	`displayName eq ""`,
	`userName eq "Ünïcødé 名前"`,
	`userName eq "a b  c"`,
	`userName eq "with \"quote\""`,
	`userName eq "back\\slash"`,
	`userName  eq "two spaces"`,
	`userName eq  "two spaces"`,
	`name.familyName eq "O'Brien"`,
	`emails[type eq "work"]`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`,
	`userName ne "x"`,
	`userName eq true`,
	`userName eq 12`,
	`userName eq "x" and active eq true`,
	`1userName eq "x"`,
	`user$Name eq "x"`,
	`userName eq "x`,
	`userName eq x"`,
	`userName eq`,
	`userName eq "tab	inside"`,
	"userName eq \"bad \xff utf8\"",
	`meta.lastModified gt "2024-01-01T00:00:00Z"`,
	`emails[type eq "work" and value eq "ada@example.com"]`,
	`emails[value eq "ada@example.com"]`,
	`emails[type EQ "work" AND value eq "a and b"]`,
	`emails[type eq "a and b" and value eq "x"]`,
	`emails[type eq "work"  and value eq "x"]`,
	`emails[type eq "work" and value eq "x" and primary eq "true"]`,
	`emails[type eq "work" or value eq "x"]`,
	`emails[type eq "work"] and value eq "x"]`,
	`emails[[type eq "work"]`,
	`emails[]`,
	`emails[type eq "work" and ]`,
	`emails[type eq "with \"quote\""]`,
	`id eq "01a2" and members eq "01b3"`,
	`id eq "01a2" AND members EQ "a and b"`,
	`id eq "a and b" and members eq "x"`,
	`id eq "x" and members eq "y" and displayName eq "z"`,
	`id eq "x" or members eq "y"`,
	`(id eq "x") and members eq "y"`,
}

// The fast path must agree with filter-parser on everything it accepts, and
// must take the forms identity providers send.
func TestParseSimpleEq(t *testing.T) {
	for _, f := range filterSamples {
		checkFilterAgrees(t, f)
	}
	for _, f := range []string{`userName eq "ada@example.com"`, `externalId eq "00u1abc"`, `userName EQ "Ada"`, `displayName eq ""`, `userName eq "Ünïcødé 名前"`} {
		if _, ok := parseSimpleEq(f); !ok {
			t.Errorf("parseSimpleEq(%q) declined a simple filter", f)
		}
	}
	if _, ok := parseSimpleAnd(`id eq "01a2" and members eq "01b3"`); !ok {
		t.Errorf("parseSimpleAnd declined Entra ID's membership check")
	}
	for _, f := range []string{`emails[type eq "work" and value eq "ada@example.com"]`, `emails[value eq "ada@example.com"]`, `emails[type EQ "work" AND value eq "a and b"]`} {
		if _, ok := parseSimpleValuePath(f); !ok {
			t.Errorf("parseSimpleValuePath(%q) declined a simple filter", f)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range filterSamples {
		f.Add(s)
	}
	f.Fuzz(checkFilterAgrees)
}

func checkFilterAgrees(t *testing.T, f string) {
	if and, ok := parseSimpleAnd(f); ok {
		want, err := filter.ParseFilter([]byte(f))
		if err != nil {
			t.Fatalf("parseSimpleAnd(%q) accepted what filter-parser refuses: %v", f, err)
		}
		if !reflect.DeepEqual(filter.Expression(and), want) {
			t.Fatalf("parseSimpleAnd(%q) = %#v, filter-parser gives %#v", f, and, want)
		}
	}
	if vp, ok := parseSimpleValuePath(f); ok {
		want, err := filter.ParseFilter([]byte(f))
		if err != nil {
			t.Fatalf("parseSimpleValuePath(%q) accepted what filter-parser refuses: %v", f, err)
		}
		if !reflect.DeepEqual(filter.Expression(vp), want) {
			t.Fatalf("parseSimpleValuePath(%q) = %#v, filter-parser gives %#v", f, vp, want)
		}
	}
	fast, ok := parseSimpleEq(f)
	if !ok {
		return
	}
	want, err := filter.ParseFilter([]byte(f))
	if err != nil {
		t.Fatalf("parseSimpleEq(%q) accepted what filter-parser refuses: %v", f, err)
	}
	if !reflect.DeepEqual(filter.Expression(fast), want) {
		t.Fatalf("parseSimpleEq(%q) = %#v, filter-parser gives %#v", f, fast, want)
	}
}

// go test -run '^$' -bench ParseFilter -benchmem ./scim/
func BenchmarkParseFilter(b *testing.B) {
	for _, bc := range []struct {
		name  string
		parse func(string) (filter.Expression, error)
	}{
		{"filter-parser", func(s string) (filter.Expression, error) { return filter.ParseFilter([]byte(s)) }},
		{"rosterd", parseFilter},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.parse(`userName eq "ada.lovelace@example.com"`); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRequestFilter: what GET ?filter= does before the store,
// for filters the one-comparison fast path does not take.
//
//	go test -run '^$' -bench ParseRequestFilter -benchmem ./scim/
func BenchmarkParseRequestFilter(b *testing.B) {
	for name, f := range map[string]string{
		"and":         `userName eq "ada@example.com" and active eq true`,
		"and-strings": `id eq "01a23464-b8fb-7661-9011-9f08161d36b0" and members eq "01a23464-b8f8-705b-887f-60408946a6f5"`,
		"value-path":  `emails[type eq "work"].value eq "ada@example.com"`,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := parseRequestFilter(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
