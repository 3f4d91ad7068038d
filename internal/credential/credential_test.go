package credential_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestKeyring(t *testing.T) {
	ctx := context.Background()
	st := storetest.Migrated(t, storetest.OpenSQLite)
	k := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: "configured-admin-secret"},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: "configured-scim-secret"},
	})

	c, err := k.Check(ctx, store.AdminKey, "configured-admin-secret")
	if err != nil || c.Name != "ops" || c.Origin != "config" {
		t.Fatalf("configured admin key: %+v, %v", c, err)
	}
	if _, err := k.Check(ctx, store.AdminKey, "configured-scim-secret"); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("a SCIM token used as an admin key: %v", err)
	}
	if _, err := k.Check(ctx, store.AdminKey, ""); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("empty secret: %v", err)
	}

	if has, _ := k.Has(ctx, store.SCIMToken, "default"); has {
		t.Fatal("tenant default has no SCIM token yet")
	}
	secret, err := k.Create(ctx, store.SCIMToken, "default", "bootstrap", "bootstrap", false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, credential.SCIMTokenPrefix) || len(secret) < 40 {
		t.Fatalf("secret %q: want a prefixed 256-bit token", secret)
	}
	c, err = k.Check(ctx, store.SCIMToken, secret)
	if err != nil || c.Tenant != "default" {
		t.Fatalf("created token: %+v, %v", c, err)
	}
	if has, _ := k.Has(ctx, store.SCIMToken, "default"); !has {
		t.Fatal("Has after Create")
	}
	// The store holds the hash, never the secret.
	stored, err := st.FindCredential(ctx, store.SCIMToken, credential.Hash(secret))
	if err != nil || stored.Hash == secret || strings.Contains(stored.Hash, secret) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if _, err := k.Check(ctx, store.SCIMToken, secret+"x"); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("altered token: %v", err)
	}
}

// TestAddGeneratedSecret: a secret generated first and added later (the
// bootstrap secrets, delivered before they are stored) works like one
// from Create; an empty one is refused.
func TestAddGeneratedSecret(t *testing.T) {
	ctx := context.Background()
	st := storetest.Migrated(t, storetest.OpenSQLite)
	k := credential.NewKeyring(st, nil)
	secret, err := credential.Generate(credential.PrefixOf(store.AdminKey))
	if err != nil || !strings.HasPrefix(secret, credential.AdminKeyPrefix) {
		t.Fatalf("Generate: %q, %v", secret, err)
	}
	if _, err := k.Check(ctx, store.AdminKey, secret); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("before Add: %v", err)
	}
	if err := k.Add(ctx, store.AdminKey, "", "bootstrap", "bootstrap", secret, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := k.Check(ctx, store.AdminKey, secret); err != nil || c.Name != "bootstrap" || c.Origin != "bootstrap" {
		t.Fatalf("after Add: %+v, %v", c, err)
	}
	if err := k.Add(ctx, store.AdminKey, "", "empty", "cli", "", false, time.Now()); err == nil {
		t.Fatal("Add accepted an empty secret")
	}
}
