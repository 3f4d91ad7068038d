// Package tenanttest builds a tenant registry for tests of the channels:
// the tenants given, written to a migrated store as the file's would be.
package tenanttest

import (
	"context"
	"testing"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Registry applies tenants (their defaults filled as the file's are) to
// st and returns the loaded registry.
func Registry(t testing.TB, st store.Store, tenants ...config.Tenant) *tenant.Registry {
	t.Helper()
	cfg := &config.Config{Tenants: tenants}
	cfg.ApplyDefaults()
	reg := tenant.New(st, tenant.Options{Secrets: Secrets(t)})
	if _, err := reg.Apply(context.Background(), cfg, "rosterd.yaml"); err != nil {
		t.Fatal(err)
	}
	return reg
}

// SCIM is a SCIM connection of that name, with no token of its own (the
// tests' tokens sit in their keyring).
func SCIM(names ...string) []config.SCIMConnection {
	var out []config.SCIMConnection
	for _, n := range names {
		out = append(out, config.SCIMConnection{Name: n})
	}
	return out
}

// FromYAML applies the tenants of a configuration document (its tenants:
// list, with defaults and validation as the file's) to st and returns the
// loaded registry: for explicit zeros ("min_snapshot_ratio: 0") that a
// Tenant built in code cannot say.
func FromYAML(t testing.TB, st store.Store, doc string) *tenant.Registry {
	t.Helper()
	return FromYAMLWith(t, st, doc, tenant.Options{})
}

// FromYAMLWith is FromYAML with the registry's options (a resolver, a
// clock).
func FromYAMLWith(t testing.TB, st store.Store, doc string, opt tenant.Options) *tenant.Registry {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Secrets == nil {
		opt.Secrets = Secrets(t)
	}
	reg := tenant.New(st, opt)
	if _, err := reg.Apply(context.Background(), cfg, "rosterd.yaml"); err != nil {
		t.Fatal(err)
	}
	return reg
}

// Secrets is a key-encryption key of the test's own, for the secrets of
// the feeds and webhooks a test adds through the registry.
func Secrets(t testing.TB) func() (*secretbox.Box, error) {
	k, _, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	box := secretbox.New(k)
	return func() (*secretbox.Box, error) { return box, nil }
}
