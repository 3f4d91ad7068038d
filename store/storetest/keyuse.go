package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// testKeyUseAndDomains: a credential's last use is written only when the
// stored one is not after notBefore (replicas write it once per interval
// between them); CreateCredential and RemoveCredential commit with the
// transaction's audit line, or not at all; a tenant's domains keep their
// challenge and verification while listed, a new one is unverified with
// a fresh challenge, and verifying a domain of another tenant is
// ErrNotFound.
func testKeyUseAndDomains(t *testing.T, s store.Backend) {
	ctx := context.Background()
	c := store.Credential{ID: "k1", Kind: store.AdminKey, Name: "ops", Hash: "aa", Origin: "cli", Created: t0}
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		return tx.Write(ctx, store.Changes{Audit: []store.AuditEvent{{At: t0, Actor: "cli", Source: "cli", Action: "admin_key.created", Detail: "k1"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	lastUse := func() time.Time {
		t.Helper()
		got, err := s.FindCredential(ctx, store.AdminKey, "aa")
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsed
	}
	if !lastUse().IsZero() {
		t.Fatal("a new key has a last use")
	}
	at := t0.Add(time.Hour)
	for i, step := range []struct {
		at, notBefore, want time.Time
	}{
		{at, at.Add(-time.Minute), at},
		{at.Add(30 * time.Second), at.Add(-30 * time.Second), at}, // within the minute: not written
		{at.Add(61 * time.Second), at.Add(time.Second), at.Add(61 * time.Second)},
	} {
		if err := s.TouchCredential(ctx, "k1", step.at, step.notBefore); err != nil {
			t.Fatal(err)
		}
		if got := lastUse(); !got.Equal(step.want) {
			t.Fatalf("step %d: last use %v, want %v", i, got, step.want)
		}
	}
	if err := s.TouchCredential(ctx, "gone", at, at); err != nil {
		t.Fatalf("touching a credential that is gone: %v", err)
	}
	// A removal rolled back leaves the key.
	boom := errors.New("boom")
	err = s.InTx(ctx, func(tx store.Tx) error {
		if got, err := tx.RemoveCredential(ctx, "k1"); err != nil || got.Name != "ops" {
			t.Fatalf("RemoveCredential = %+v, %v", got, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.FindCredential(ctx, store.AdminKey, "aa"); err != nil {
		t.Fatalf("the key after a rolled-back removal: %v", err)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { _, err := tx.RemoveCredential(ctx, "k1"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { _, err := tx.RemoveCredential(ctx, "k1"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing it again: %v", err)
	}

	// Domains.
	err = s.InTx(ctx, func(tx store.Tx) error {
		for _, id := range []string{"acme", "globex"} {
			if err := tx.CreateTenant(ctx, store.TenantRecord{ID: id, Name: id, ManagedBy: store.ManagedByAPI, Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return tx.SetTenantDomains(ctx, "acme", []string{"acme.test", "acme-corp.test"})
	})
	if err != nil {
		t.Fatal(err)
	}
	byDomain := func() map[string]store.DomainRecord {
		t.Helper()
		list, err := s.ListTenantDomains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]store.DomainRecord{}
		for _, d := range list {
			out[d.Domain] = d
		}
		return out
	}
	first := byDomain()
	if len(first) != 2 || len(first["acme.test"].Challenge) != 32 || first["acme.test"].Challenge == first["acme-corp.test"].Challenge || !first["acme.test"].VerifiedAt.IsZero() {
		t.Fatalf("domains: %+v", first)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.VerifyTenantDomain(ctx, "globex", "acme.test", t0, "dns"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("verifying another tenant's domain: %v", err)
		}
		if err := tx.VerifyTenantDomain(ctx, "acme", "acme.test", t0, "dns"); err != nil {
			return err
		}
		return tx.SetTenantDomains(ctx, "acme", []string{"acme.test", "acme.example"})
	})
	if err != nil {
		t.Fatal(err)
	}
	second := byDomain()
	if d := second["acme.test"]; d.Challenge != first["acme.test"].Challenge || !d.VerifiedAt.Equal(t0) || d.VerifiedBy != "dns" {
		t.Fatalf("a kept domain: %+v", d)
	}
	if _, ok := second["acme-corp.test"]; ok || second["acme.example"].Challenge == "" || !second["acme.example"].VerifiedAt.IsZero() {
		t.Fatalf("domains after the change: %+v", second)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.SetTenantDomains(ctx, "globex", []string{"acme.test"}) })
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("another tenant's domain: %v", err)
	}

	// SAML key pair names, for rotation.
	for _, n := range []string{"b", "a"} {
		if _, err := s.PutSAMLKeyPair(ctx, store.SAMLKeyPair{Name: n, KeyPEM: []byte("k"), CertPEM: []byte("c"), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if names, err := s.SAMLKeyPairNames(ctx); err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("SAMLKeyPairNames = %v, %v", names, err)
	}
}
