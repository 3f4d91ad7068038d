package scim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/prometheus/client_golang/prometheus"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// sqlFilterSeeds reach every branch of the translation: each column,
// raw paths, value paths, the enterprise extension, times, numbers,
// booleans, null, not, and the refusals.
var sqlFilterSeeds = []string{
	`id eq "01a23000-0000-7000-8000-000000000000"`,
	`userName sw "ada" and active eq true`,
	`active ne false or not(userName pr)`,
	`externalId eq "00u1"`,
	`meta.lastModified gt "2024-01-01T00:00:00Z"`,
	`meta.created le "2030-01-01T00:00:00.5+02:00"`,
	`meta.created eq "yesterday"`,
	`name.givenName co "d" and name.familyName ew "ce"`,
	`emails[type eq "work" and value co "@"]`,
	`emails[not(primary eq true)]`,
	`emails.value pr`,
	`emails pr`,
	`emails[type eq "work"].value eq "ada@example.com"`,
	`phoneNumbers.value eq 12`,
	`title gt 1.5`,
	`title eq null`,
	`title ne null`,
	`displayName eq true`,
	`displayName gt true`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@example.com"`,
	`urn:example:unknown:attr eq "x"`,
	`groups.value eq "x"`,
	`members.value eq "x"`,
	`members eq "x" and displayName sw "Eng"`,
	`nosuch eq "x"`,
	`name.nosuch eq "x"`,
	`displayName[value eq "x"]`,
	`x509Certificates[value sw "MII"]`,
	`userName eq "a%_\\*?["`,
	`userName co "\""`,
	`not(not(not(userName eq "x")))`,
	strings.Repeat("not(", 32) + `userName pr` + strings.Repeat(")", 32),
	strings.Repeat(`userName eq "a" or `, 40) + `userName eq "b"`,
	`(userName eq "a" or userName eq "b") and (title pr or not(emails pr))`,
}

// FuzzFilterSQL: any filter either is refused with 400 invalidFilter, or
// parses, prints back to itself, and translates — for Users and for
// Groups — to SQL that SQLite runs against the real schema over real rows,
// or to the store's typed invalid-filter error. Nothing panics.
func FuzzFilterSQL(f *testing.F) {
	for _, s := range append(append(filterSamples, sqlFilterSeeds...), unquotedSeeds...) {
		f.Add(s)
	}
	st := storetest.Migrated(f, storetest.OpenSQLite)
	seedFilterStore(f, st)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, text string) {
		e, err := parseRequestFilter(text)
		if err != nil {
			mustBeInvalidFilter(t, text, "parse", err)
			return
		}
		checkFilterRoundTrip(t, text, e)
		if uf, err := userSchemas.userFilter(e); err != nil {
			mustBeInvalidFilter(t, text, "users", err)
		} else {
			_, _, err := st.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: "scim:entra", Filter: uf, Limit: 5, WithGroups: true})
			mustRunOrRefuse(t, text, "users", err)
		}
		if gf, err := groupSchemas.groupFilter(e); err != nil {
			mustBeInvalidFilter(t, text, "groups", err)
		} else {
			_, _, err := st.QueryGroups(ctx, store.GroupQuery{Tenant: "acme", Source: "scim:entra", Filter: gf, Limit: 5})
			mustRunOrRefuse(t, text, "groups", err)
		}
	})
}

func mustBeInvalidFilter(t *testing.T, text, what string, err error) {
	t.Helper()
	var se scimerrors.ScimError
	if !errors.As(err, &se) || se.ScimType != scimerrors.ScimTypeInvalidFilter || se.Status != 400 || se.Detail == "" {
		t.Fatalf("%s %q: %v (%T), want a 400 invalidFilter", what, text, err, err)
	}
	for _, internal := range []string{"parse conflict", "internal error", "func", "op.Or", "int32"} {
		if strings.Contains(se.Detail, internal) {
			t.Fatalf("%s %q: the detail %q speaks the parser's language (%s)", what, text, se.Detail, internal)
		}
	}
}

func mustRunOrRefuse(t *testing.T, text, what string, err error) {
	t.Helper()
	var bad interface{ InvalidFilter() bool }
	if err != nil && !(errors.As(err, &bad) && bad.InvalidFilter()) {
		t.Fatalf("%s %q: the store failed: %v", what, text, err)
	}
}

// checkFilterRoundTrip: the filter printed (formatFilter) parses to the
// same expression. filter-parser's own String drops parentheses, so
// (a or b) and c would print as a or b and c, which means something else.
func checkFilterRoundTrip(t *testing.T, text string, e filter.Expression) {
	t.Helper()
	printed := formatFilter(e)
	again, err := parseFilter(printed)
	if err != nil {
		t.Fatalf("%q parses to %#v, printed %q, which does not parse: %v", text, e, printed, err)
	}
	if !reflect.DeepEqual(again, e) {
		t.Fatalf("%q parses to %#v, printed %q, which parses to %#v", text, e, printed, again)
	}
}

// formatFilter prints an expression fully parenthesized, strings with the
// two escapes filter-parser reads (\" and \\).
func formatFilter(e filter.Expression) string {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return "(" + formatFilter(x.Left) + ") " + string(x.Operator) + " (" + formatFilter(x.Right) + ")"
	case *filter.NotExpression:
		return "not(" + formatFilter(x.Expression) + ")"
	case *filter.ValuePath:
		// No parentheses inside brackets but after not (filter-parser
		// takes none): the tree it made of flat text prints back flat.
		return x.AttributePath.String() + "[" + formatValueFilter(x.ValueFilter) + "]"
	case *filter.AttributeExpression:
		s := x.AttributePath.String() + " " + string(x.Operator)
		switch v := x.CompareValue.(type) {
		case nil:
			if x.Operator != filter.PR {
				s += " null"
			}
		case string:
			s += ` "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		case bool:
			s += " " + strconv.FormatBool(v)
		case int:
			s += " " + strconv.Itoa(v)
		case float64:
			b, _ := json.Marshal(v)
			s += " " + string(b)
		default:
			s += " " + strings.TrimSpace(strings.Trim(strconv.Quote(reflect.TypeOf(v).String()), `"`))
		}
		return s
	}
	return "?"
}

func formatValueFilter(e filter.Expression) string {
	if x, ok := e.(*filter.LogicalExpression); ok {
		return formatValueFilter(x.Left) + " " + string(x.Operator) + " " + formatValueFilter(x.Right)
	}
	return formatFilter(e)
}

// seedFilterStore writes users and groups through the SCIM server, so
// the queries read raw records exactly as the server stores them.
func seedFilterStore(tb testing.TB, st store.Backend) {
	tb.Helper()
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	svc := directory.NewService(st, map[string]directory.Policy{"acme": policy})
	keys := credential.NewKeyring(st, []credential.Static{{Kind: store.SCIMToken, Tenant: "acme", Name: "entra", Secret: "fuzz-token"}})
	s, err := New(svc, keys, tenanttest.Registry(tb, st, config.Tenant{ID: "acme", SCIM: tenanttest.SCIM("entra")}),
		slog.New(slog.DiscardHandler), prometheus.NewRegistry(), Options{PublicURL: "http://rosterd.test"})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Mount(mux)
	post := func(path, body string) string {
		req := httptest.NewRequest(http.MethodPost, "/scim/acme/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz-token")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusCreated {
			tb.Fatalf("seeding %s: %d %s", path, rec.Code, b)
		}
		var res struct{ ID string }
		json.Unmarshal(b, &res)
		return res.ID
	}
	ada := post("/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName":"ada@example.com","externalId":"00u1","active":true,"title":"Countess","displayName":"Ada",
		"name":{"givenName":"Ada","familyName":"Lovelace"},
		"emails":[{"type":"work","value":"ada@example.com","primary":true},{"type":"home","value":"ada@home.example"}],
		"phoneNumbers":[{"type":"work","value":"+44 20 7946 0000"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","employeeNumber":"7"}}`)
	post("/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"charles@example.com","active":false,
		"emails":[],"name":{"givenName":"Charles"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"`+ada+`"}}}`)
	post("/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","externalId":"g1",
		"members":[{"value":"`+ada+`"}]}`)
}

func TestFilterRoundTripSeeds(t *testing.T) {
	for _, s := range append(filterSamples, sqlFilterSeeds...) {
		if e, err := parseRequestFilter(s); err == nil {
			checkFilterRoundTrip(t, s, e)
		}
	}
}
