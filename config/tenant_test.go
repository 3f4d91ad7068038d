package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The API's tenant documents are checked by the file's rules: every case
// is written once as a JSON body and once as the file's tenants[0], and
// both must report the same problems, at the same paths.
func TestDecodeTenantSameProblemsAsTheFile(t *testing.T) {
	cases := []struct {
		name string
		doc  string // JSON
		want []string
	}{
		{"bad id and invite", `{"id": "Acme!", "invite": "sms"}`, []string{`id: invalid tenant id "Acme!"`, `invite: must be email or none`}},
		{"safety out of range", `{"id": "acme", "safety": {"max_disable_percent": 120, "min_snapshot_ratio": -1}}`,
			[]string{"safety.max_disable_percent: must be between 0 and 100", "safety.min_snapshot_ratio: must be between 0 and 1"}},
		{"saml without a callback", `{"id": "acme", "saml": {"idp_metadata_url": "http://idp.example/md"}}`,
			[]string{"app_callback_url: required when saml is configured", "saml.idp_metadata_url: http:// metadata can be replaced"}},
		{"unknown key", `{"id": "acme", "colour": "red"}`, []string{`unknown key "colour"`}},
		{"wrong type", `{"id": "acme", "jit": "maybe", "invite_ttl": "a week"}`, []string{`jit: expected true or false`, `invite_ttl: `}},
		{"precedence", `{"id": "acme", "precedence": ["scim", "scim"]}`, []string{`precedence[1]: duplicate source kind "scim"`, "precedence: missing admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTenant([]byte(tc.doc), nil, nil)
			api := problemLines(t, err, "")
			var m map[string]any
			if err := json.Unmarshal([]byte(tc.doc), &m); err != nil {
				t.Fatal(err)
			}
			// JSON is YAML: the same mapping as the file's first tenant.
			_, err = Parse([]byte(`{"tenants": [`+tc.doc+`]}`), "rosterd.yaml", nil)
			file := problemLines(t, err, "tenants[0].")
			if !slices.Equal(api, file) {
				t.Errorf("API problems:\n  %s\nfile problems:\n  %s", strings.Join(api, "\n  "), strings.Join(file, "\n  "))
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(api, func(l string) bool { return strings.Contains(l, w) }) {
					t.Errorf("no problem %q among:\n  %s", w, strings.Join(api, "\n  "))
				}
			}
		})
	}
}

func problemLines(t *testing.T, err error, prefix string) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v: want a *config.Error", err)
	}
	var out []string
	for _, p := range ce.Problems {
		path, ok := strings.CutPrefix(p.Path, prefix)
		if prefix != "" && p.Path == "tenants[0]" {
			path, ok = "", true
		}
		if !ok {
			continue
		}
		out = append(out, path+": "+p.Message)
	}
	slices.Sort(out)
	return out
}

func TestDecodeTenantRefusesFilesAndKeepsExplicitZeros(t *testing.T) {
	_, err := DecodeTenant([]byte(`{"id": "acme", "saml": {"idp_metadata_file": "/etc/shadow"}, "app_callback_url": "https://app.example/cb"}`), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "saml.idp_metadata_file: files are not read through the API") {
		t.Fatalf("a *_file key: %v", err)
	}
	base, err := DecodeTenant([]byte(`{"id": "acme", "safety": {"max_disable_count": 0}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base.Safety.MaxDisableCount != 0 || base.Safety.MaxDisablePercent != 10 || base.Name != "acme" || base.Invite != "email" {
		t.Fatalf("defaults: %+v", base)
	}
	patched, err := DecodeTenant([]byte(`{"name": "Acme Corp", "jit": true}`), base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if patched.Name != "Acme Corp" || !patched.JIT || patched.Safety.MaxDisableCount != 0 || base.Name != "acme" {
		t.Fatalf("patch: %+v (base %+v)", patched, base)
	}
}

// A PATCH giving saml to a tenant without it, or replacing its saml,
// fills the new value's defaults; keys it leaves out keep the base's.
func TestDecodeTenantGivenKeyTakesItsDefaults(t *testing.T) {
	base, err := DecodeTenant([]byte(`{"id": "acme", "app_callback_url": "https://app.example/cb", "safety": {"max_disable_count": 0}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{`{"saml": {"idp_metadata_url": "https://idp.example/md"}}`, `{"saml": {"idp_metadata_url": "https://idp.example/md2", "clock_skew": "0s"}}`} {
		got, err := DecodeTenant([]byte(doc), base, nil)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if got.SAML.MetadataRefresh.Std() != 24*time.Hour || got.SAML.RequestCookieLifetime.Std() != 5*time.Minute || got.Safety.MaxDisableCount != 0 {
			t.Fatalf("%s: %+v %+v", doc, got.SAML, got.Safety)
		}
		base = got
	}
	if base.SAML.ClockSkew != 0 {
		t.Fatalf("the explicit clock_skew: 0s became %s", base.SAML.ClockSkew)
	}
	again, err := DecodeTenant([]byte(`{"jit": true}`), base, nil)
	if err != nil || again.SAML.ClockSkew != 0 || again.SAML.IDPMetadataURL != "https://idp.example/md2" {
		t.Fatalf("a PATCH of another key: %+v, %v", again.SAML, err)
	}
}

func TestDomains(t *testing.T) {
	_, err := Parse([]byte("tenants:\n  - id: a\n    domains: [acme.com, Acme.com, acme.com]\n  - id: b\n    domains: [acme.com, globex.test]\n"), "rosterd.yaml", nil)
	for _, want := range []string{`tenants[0].domains[1]: invalid domain "Acme.com"`, `tenants[0].domains[2]: duplicate domain "acme.com"`,
		`tenants[1].domains[0]: domain "acme.com" belongs to another tenant (tenants[0].domains[0])`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
	if _, err := DecodeTenant([]byte(`{"id": "a", "domains": ["acme.com", "x"]}`), nil, nil); err == nil || !strings.Contains(err.Error(), `domains[1]: invalid domain "x"`) {
		t.Errorf("API domains: %v", err)
	}
}

// FuzzDecodeTenant: whatever an API client sends, DecodeTenant does not
// panic; what it accepts passes the file's rules again, and as a base it
// decodes an empty change to the same tenant.
func FuzzDecodeTenant(f *testing.F) {
	for _, seed := range []string{
		`{"id": "acme"}`,
		`{"id": "acme", "saml": {"idp_metadata_url": "https://idp.example/md"}, "app_callback_url": "https://app.example/cb"}`,
		`{"id": "acme", "safety": {"max_disable_count": 0}, "domains": ["acme.com"]}`,
		`{"id": "Bad!", "colour": 1, "saml": null}`,
		`[1, 2]`, `null`, `{"a": &a [*a]}`, "{\"id\": \"\x00\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tn, err := DecodeTenant(data, nil, nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a list of problems", err)
			}
			return
		}
		if err := ValidateTenant(tn); err != nil {
			t.Fatalf("accepted %q, then refused: %v", data, err)
		}
		again, err := DecodeTenant([]byte(`{}`), tn, nil)
		if err != nil || !reflect.DeepEqual(again, tn) {
			t.Fatalf("an empty change to %q: %+v, %v", data, again, err)
		}
	})
}
