package scim

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

const patchFuzzID = "01a23000-0000-7000-8000-00000000000a"

// patchFuzzUser is the resource every fuzzed PATCH applies to.
const patchFuzzUser = `{"userName":"ada@example.com","externalId":"00u1","active":true,"displayName":"Ada",
	"name":{"givenName":"Ada","familyName":"Lovelace"},"title":"Countess",
	"emails":[{"type":"work","value":"ada@example.com","primary":true},{"type":"home","value":"ada@home.example"}],
	"phoneNumbers":[{"type":"work","value":"+44 20 7946 0000"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"` + patchFuzzID + `"}}}`

// patchFuzzDir is the directory a user PATCH sees: one user, and a
// record of what the PATCH would write.
type patchFuzzDir struct {
	Directory // nil: a user PATCH calls only the methods below
	wrote     []byte
}

func (d *patchFuzzDir) QueryClaims(_ context.Context, q store.ClaimQuery) ([]store.ClaimCard, int, error) {
	return []store.ClaimCard{{
		Claim: store.Claim{CardID: patchFuzzID, Tenant: q.Tenant, Source: q.Source, Login: "ada@example.com", State: store.Present, Raw: []byte(patchFuzzUser)},
		Card:  store.Card{ID: patchFuzzID, Tenant: q.Tenant, Version: 3},
	}}, 1, nil
}

func (d *patchFuzzDir) ApplyClaim(ctx context.Context, _ directory.Actor, in directory.ClaimInput) (directory.Outcome, error) {
	if in.Patch != nil {
		// As the directory does: the patch made from the user as it is.
		rows, _, _ := d.QueryClaims(ctx, store.ClaimQuery{Tenant: in.Tenant, Source: in.Source})
		next, err := in.Patch(rows[0].Card, rows[0].Claim)
		if err != nil {
			return directory.Outcome{Card: rows[0].Card, Err: err}, err
		}
		in = next
	}
	d.wrote = in.Raw
	return directory.Outcome{Card: store.Card{ID: patchFuzzID, Tenant: in.Tenant, Version: 4}, Changed: true}, nil
}

func (d *patchFuzzDir) Get(context.Context, string, string) (directory.Card, error) {
	return directory.Card{ID: patchFuzzID, Email: "ada@example.com"}, nil
}

type patchFuzzKeys struct{}

func (patchFuzzKeys) Check(context.Context, string, string) (store.Credential, error) {
	return store.Credential{Kind: store.SCIMToken, Tenant: "acme", Name: "entra"}, nil
}

// FuzzPatchUser sends any body as a PATCH of a user through the whole
// server — body normalizing, the library's validation, applyPatch, the
// schema check, the claim — and requires that it either applies, writing
// a record that validates as a User, or is refused with a SCIM error that
// has a scimType, writing nothing. Nothing panics; nothing is a 500.
func FuzzPatchUser(f *testing.F) {
	for _, s := range patchSeeds(f) {
		f.Add(s)
	}
	check := newPatchCheck(f)
	f.Fuzz(check)
}

// FuzzPatchOperation is FuzzPatchUser over one operation's parts — the
// op, the path, the value (JSON, or else a string) — so that the fuzzer
// explores paths and values rather than JSON syntax.
func FuzzPatchOperation(f *testing.F) {
	for _, seed := range [][3]string{
		{"replace", `emails[type eq "work"].value`, `"x@example.com"`},
		{"add", `emails[type eq "work" and primary eq true].display`, `"Work"`},
		{"remove", `emails[not(type eq "work")]`, ``},
		{"remove", `phoneNumbers[value co "+44"]`, ``},
		{"replace", `name`, `{"givenName":"A","familyName":"B"}`},
		{"add", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `"` + patchFuzzID + `"`},
		{"replace", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, `"Ops"`},
		{"Replace", ``, `{"active":false,"name.familyName":"C","emails[type eq \"work\"].value":"w@example.com"}`},
		{"add", `roles`, `[{"value":"admin","primary":true}]`},
		{"replace", `addresses[type eq "work"].locality`, `"Paris"`},
		{"remove", `members[value eq "x"]`, ``},
		{"add", `x509Certificates`, `[{"value":"MIIB"}]`},
		{"replace", `meta.lastModified`, `"2024-01-01T00:00:00Z"`},
		{"replace", `id`, `"other"`},
		{"add", `emails[type eq "work"]`, `{"value":"v@example.com"}`},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	check := newPatchCheck(f)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		o := map[string]any{"op": op}
		if path != "" {
			o["path"] = path
		}
		if value != "" {
			if json.Valid([]byte(value)) {
				o["value"] = json.RawMessage(value)
			} else {
				o["value"] = value
			}
		}
		body, err := json.Marshal(map[string]any{"schemas": []string{patchOpSchema}, "Operations": []any{o}})
		if err != nil {
			t.Skip() // not UTF-8 enough for encoding/json: no body to send
		}
		check(t, string(body))
	})
}

// newPatchCheck returns the property both PATCH fuzzers check, over a
// server whose directory holds one user (patchFuzzUser).
func newPatchCheck(tb testing.TB) func(t *testing.T, body string) {
	dir := &patchFuzzDir{}
	// The tenants come from a registry over a store of their own; the
	// directory is the fuzzer's.
	tenants := tenanttest.Registry(tb, storetest.Migrated(tb, storetest.OpenSQLite), config.Tenant{ID: "acme", SCIM: tenanttest.SCIM("entra")})
	s, err := New(dir, patchFuzzKeys{}, tenants,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry(), Options{PublicURL: "http://rosterd.test"})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Mount(mux)
	return func(t *testing.T, body string) {
		dir.wrote = nil
		req := httptest.NewRequest(http.MethodPatch, "/scim/acme/v2/Users/"+patchFuzzID, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		out, _ := io.ReadAll(rec.Body)
		switch {
		case rec.Code == http.StatusNoContent || rec.Code == http.StatusOK:
			if dir.wrote == nil {
				t.Fatalf("%s: %d without a write", body, rec.Code)
			}
			v, err := decode(dir.wrote)
			m, _ := v.(map[string]any)
			if err != nil || m == nil {
				t.Fatalf("%s: wrote %s, not an object: %v", body, dir.wrote, err)
			}
			if _, scimErr := validateUser(m); scimErr != nil {
				t.Fatalf("%s: wrote %s, which does not validate: %v", body, dir.wrote, scimErr)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var e struct {
				ScimType string
				Schemas  []string
			}
			if err := json.Unmarshal(out, &e); err != nil || e.ScimType == "" || len(e.Schemas) != 1 || e.Schemas[0] != errorSchema {
				t.Fatalf("%s: %d %s, want a SCIM error with a scimType", body, rec.Code, out)
			}
			if dir.wrote != nil {
				t.Fatalf("%s: refused (%d %s) but wrote %s", body, rec.Code, out, dir.wrote)
			}
		default:
			t.Fatalf("%s: %d %s", body, rec.Code, out)
		}
	}
}

// patchSeeds: the PATCH bodies of the recorded Entra and Okta sequences,
// with their template values filled, and bodies that reach each refusal.
func patchSeeds(tb testing.TB) []string {
	tb.Helper()
	seeds := []string{
		`{"Operations":[{"op":"replace","value":{"displayName":"X","name.givenName":"Y","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Z"}}]}`,
		`{"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`,
		`{"Operations":[{"op":"add","path":"emails","value":[{"type":"other","value":"x@example.com","primary":true}]}]}`,
		`{"Operations":[{"op":"replace","path":"emails[type eq \"fax\"].value","value":"f@example.com"}]}`,
		`{"Operations":[{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}]}`,
		`{"Operations":[{"op":"replace","path":"active","value":"False"}]}`,
		`{"Operations":[{"op":"replace","path":"userName","value":""}]}`,
		`{"Operations":[{"op":"replace","path":"userName","value":42}]}`,
		`{"Operations":[{"op":"add","path":"nosuch","value":"x"}]}`,
		`{"Operations":[{"op":"move","path":"title","value":"x"}]}`,
		`{"Operations":[]}`,
		`{"schemas":["urn:x"],"Operations":[{"op":"add","path":"title","value":"x"}]}`,
		`{"Operations":[{"op":"add","path":"emails[` + strings.Repeat("not(", 40) + `type eq \"x\"` + strings.Repeat(")", 40) + `]","value":"x"}]}`,
		`{"Operations":[{"op":"replace","path":"title","value":"a\u0000b"}]}`,
		`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":[{"$ref":"x","value":"y"}]}]}`,
		`[]`, `{`, `null`, `{"Operations":"x"}`,
	}
	vars := strings.NewReplacer("{{.DisplayName}}", "Ada L", "{{.Email}}", "ada@example.com", "{{.GivenName}}", "Ada", "{{.FamilyName}}", "L",
		"{{.ExternalID}}", "00u2", "{{.EmployeeNumber}}", "7", "{{.ManagerID}}", patchFuzzID, "{{.MemberID}}", patchFuzzID, "{{.Title}}", "Eng")
	template := regexp.MustCompile(`\{\{[^}]*\}\}`)
	for _, dir := range []string{"entra", "okta"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				tb.Fatal(err)
			}
			if strings.Contains(string(b), "Operations") && !strings.Contains(name, "group") && !strings.Contains(name, "member") {
				seeds = append(seeds, template.ReplaceAllString(vars.Replace(string(b)), "x"))
			}
		}
	}
	return seeds
}
