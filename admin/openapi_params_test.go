package admin

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIQueryParams lists the query parameters openapi.yaml documents for
// an operation, $refs resolved.
func openAPIQueryParams(t *testing.T, method, path string) []string {
	t.Helper()
	type param struct {
		Ref  string `yaml:"$ref"`
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]struct{ Parameters []param } `yaml:"paths"`
		Components struct {
			Parameters map[string]param `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	op, ok := doc.Paths[path][method]
	if !ok {
		t.Fatalf("openapi.yaml has no %s %s", method, path)
	}
	var out []string
	for _, p := range op.Parameters {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			q, ok := doc.Components.Parameters[name]
			if !ok {
				t.Fatalf("%s %s: no component %s", method, path, p.Ref)
			}
			p = q
		}
		if p.In == "query" {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// The parameters each card query endpoint accepts are exactly those it
// documents.
func TestOpenAPIDocumentsEveryCardQueryParameter(t *testing.T) {
	for _, tc := range []struct {
		path     string
		accepted []string
	}{
		{"/api/v1/tenants/{t}/cards", listParams},
		{"/api/v1/tenants/{t}/cards/stats", statsParams},
		{"/api/v1/tenants/{t}/cards/export.csv", exportParams},
		{"/api/v1/tenants/{t}/cards/export.xlsx", exportParams},
	} {
		// relation.<name> is a family of parameters: the operation's
		// description documents it.
		want := slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(tc.accepted), func(p string) bool { return p == "relation.<name>" })))
		if got := openAPIQueryParams(t, "get", tc.path); !slices.Equal(got, want) {
			t.Errorf("%s documents %v, accepts %v", tc.path, got, want)
		}
	}
}

// The import's query parameters are exactly those it documents.
func TestOpenAPIDocumentsEveryImportParameter(t *testing.T) {
	if got, want := openAPIQueryParams(t, "post", "/api/v1/tenants/{t}/imports"), slices.Sorted(slices.Values(importParams)); !slices.Equal(got, want) {
		t.Errorf("imports documents %v, accepts %v", got, want)
	}
}
