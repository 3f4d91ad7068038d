package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// testTenants is the Tenants group: the registry's rows, their Dex-style
// updaters, and the version counter that tells replicas to reload.
func testTenants(t *testing.T, s store.Backend) {
	ctx := context.Background()
	v0, err := s.RegistryVersion(ctx)
	if err != nil || v0 != 0 {
		t.Fatalf("fresh registry version = %d, %v; want 0", v0, err)
	}
	acme := store.TenantRecord{ID: "acme", Name: "Acme", ManagedBy: store.ManagedByAPI, Spec: []byte(`{"invite":"none"}`), CreatedAt: t0, UpdatedAt: t0}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateTenant(ctx, acme); err != nil {
			return err
		}
		if err := tx.CreateSCIMConnection(ctx, store.SCIMConnectionRecord{ID: "c1", Tenant: "acme", Name: "okta", Authoritative: true, ManagedBy: store.ManagedByAPI, CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: "k1", ConnectionID: "c1", Tenant: "acme", Hash: "h1", ManagedBy: store.ManagedByAPI, CreatedAt: t0}); err != nil {
			return err
		}
		_, err := tx.BumpRegistryVersion(ctx)
		return err
	})
	if v, _ := s.RegistryVersion(ctx); v != 1 {
		t.Fatalf("registry version after one change = %d, want 1", v)
	}

	// A second tenant of that id, a second connection of that name, a
	// token hash taken: each refused, and the transaction writes nothing.
	for name, fn := range map[string]func(context.Context, store.Tx) error{
		"tenant id": func(ctx context.Context, tx store.Tx) error { return tx.CreateTenant(ctx, acme) },
		"connection name": func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSCIMConnection(ctx, store.SCIMConnectionRecord{ID: "c2", Tenant: "acme", Name: "okta", ManagedBy: store.ManagedByAPI, CreatedAt: t0})
		},
		"token hash": func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: "k2", ConnectionID: "c1", Tenant: "acme", Hash: "h1", ManagedBy: store.ManagedByAPI, CreatedAt: t0})
		},
	} {
		err := s.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.BumpRegistryVersion(ctx); err != nil {
				return err
			}
			return fn(ctx, tx)
		})
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("duplicate %s: %v, want ErrAlreadyExists", name, err)
		}
	}
	if v, _ := s.RegistryVersion(ctx); v != 1 {
		t.Fatalf("registry version after refused changes = %d, want 1", v)
	}

	// The updater sees the stored row; what it returns is stored, its id
	// and creation kept and its version moved on; its error writes nothing.
	retired := t0.Add(time.Hour)
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.UpdateTenant(ctx, "acme", func(old store.TenantRecord) (store.TenantRecord, error) {
			if old.Name != "Acme" || old.Version != 1 || string(old.Spec) != `{"invite":"none"}` {
				t.Errorf("updater's old row: %+v", old)
			}
			old.ID, old.Name, old.RetiredAt, old.UpdatedAt = "other", "Acme Corp", retired, retired
			return old, nil
		})
		if err == nil && (got.ID != "acme" || got.Version != 2) {
			t.Errorf("updated row: %+v", got)
		}
		return err
	})
	boom := errors.New("boom")
	err = s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.UpdateTenant(ctx, "acme", func(old store.TenantRecord) (store.TenantRecord, error) { return old, boom })
		return err
	})
	if !errors.Is(err, boom) {
		t.Fatalf("updater's error: %v", err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.UpdateTenant(ctx, "nobody", func(old store.TenantRecord) (store.TenantRecord, error) { return old, nil })
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a tenant that does not exist: %v", err)
	}
	ts, err := s.ListTenants(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("ListTenants = %+v, %v", ts, err)
	}
	if g := ts[0]; g.ID != "acme" || g.Name != "Acme Corp" || !g.RetiredAt.Equal(retired) || !g.CreatedAt.Equal(t0) || g.Version != 2 || g.ManagedBy != store.ManagedByAPI {
		t.Fatalf("stored tenant: %+v", g)
	}

	// A domain belongs to one tenant.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateTenant(ctx, store.TenantRecord{ID: "globex", Name: "Globex", ManagedBy: store.ManagedByAPI, Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.SetTenantDomains(ctx, "acme", []string{"acme.test", "acme.example"})
	})
	err = s.InTx(ctx, func(tx store.Tx) error {
		return tx.SetTenantDomains(ctx, "globex", []string{"globex.test", "acme.test"})
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("another tenant's domain: %v", err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetTenantDomains(ctx, "acme", []string{"acme.example"})
	})
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.SetTenantDomains(ctx, "globex", []string{"acme.test"})
	})

	// Tokens: rotation sets an expiry; deleting the connection takes its
	// tokens with it.
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: "k2", ConnectionID: "c1", Tenant: "acme", Hash: "h2", ManagedBy: store.ManagedByAPI, CreatedAt: t0.Add(time.Minute)}); err != nil {
			return err
		}
		_, err := tx.UpdateSCIMToken(ctx, "k1", func(old store.SCIMTokenRecord) (store.SCIMTokenRecord, error) {
			old.ExpiresAt = retired
			return old, nil
		})
		return err
	})
	toks, err := s.ListSCIMTokens(ctx)
	if err != nil || len(toks) != 2 || toks[0].ID != "k1" || !toks[0].ExpiresAt.Equal(retired) || !toks[1].ExpiresAt.IsZero() || toks[1].Hash != "h2" {
		t.Fatalf("tokens after rotation: %+v, %v", toks, err)
	}
	conns, err := s.ListSCIMConnections(ctx)
	if err != nil || len(conns) != 1 || conns[0].Name != "okta" || !conns[0].Authoritative {
		t.Fatalf("connections: %+v, %v", conns, err)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSCIMConnection(ctx, "c1") })
	if toks, _ := s.ListSCIMTokens(ctx); len(toks) != 0 {
		t.Fatalf("tokens left after their connection went: %+v", toks)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteSCIMConnection(ctx, "c1") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
	err = s.InReadTx(ctx, func(tx store.Tx) error { _, err := tx.BumpRegistryVersion(ctx); return err })
	if !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("a registry write in a read-only transaction: %v", err)
	}
}

// testSetupLinks: a link redeems once, into one session, until it expires
// or is revoked.
func testSetupLinks(t *testing.T, s store.Backend) {
	ctx := context.Background()
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTenant(ctx, store.TenantRecord{ID: "acme", Name: "Acme", ManagedBy: store.ManagedByAPI, Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0})
	})
	l := store.SetupLink{ID: "l1", Tenant: "acme", TokenHash: "tok", Parts: []string{"saml", "scim"}, CreatedBy: "admin:ops", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.PutSetupLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	got, err := s.RedeemSetupLink(ctx, "tok", "sess", t0.Add(time.Minute))
	if err != nil || got.ID != "l1" || got.SessionHash != "sess" || !got.RedeemedAt.Equal(t0.Add(time.Minute)) || len(got.Parts) != 2 {
		t.Fatalf("redeem: %+v, %v", got, err)
	}
	if _, err := s.RedeemSetupLink(ctx, "tok", "other", t0.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second redemption: %v", err)
	}
	if got, err := s.SetupSession(ctx, "sess", t0.Add(time.Minute)); err != nil || got.ID != "l1" {
		t.Fatalf("session: %+v, %v", got, err)
	}
	if _, err := s.SetupSession(ctx, "sess", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired session: %v", err)
	}
	l2 := l
	l2.ID, l2.TokenHash = "l2", "tok2"
	if err := s.PutSetupLink(ctx, l2); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSetupLink(ctx, "acme", "l2", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemSetupLink(ctx, "tok2", "s2", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked link: %v", err)
	}
	if err := s.RevokeSetupLink(ctx, "globex", "l1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's link: %v", err)
	}
	links, err := s.ListSetupLinks(ctx, "acme")
	if err != nil || len(links) != 2 {
		t.Fatalf("list: %+v, %v", links, err)
	}
}
