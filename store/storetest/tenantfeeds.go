package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// testTenantFeeds is the TenantFeeds group: the feeds and webhook
// endpoints the admin API adds to tenants, with Dex-style updaters.
func testTenantFeeds(t *testing.T, s store.Backend) {
	ctx := context.Background()
	hr := store.FeedRecord{ID: "f1", Tenant: "acme", Name: "hr", Spec: []byte(`{"kind":"file"}`), Secrets: []byte("rsb1.sealed"), CreatedAt: t0, UpdatedAt: t0}
	hook := store.WebhookEndpointRecord{ID: "wh_1", Tenant: "acme", Spec: []byte(`{"url":"https://x.test"}`), CreatedAt: t0, UpdatedAt: t0}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateTenant(ctx, store.TenantRecord{ID: "acme", Name: "Acme", ManagedBy: store.ManagedByAPI, Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateFeed(ctx, hr); err != nil {
			return err
		}
		return tx.CreateWebhookEndpoint(ctx, hook)
	})
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.CreateFeed(ctx, store.FeedRecord{ID: "f2", Tenant: "acme", Name: "hr", Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0})
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("a second feed named hr: %v, want ErrAlreadyExists", err)
	}
	feeds, err := s.ListFeeds(ctx)
	if err != nil || len(feeds) != 1 || feeds[0].Version != 1 || string(feeds[0].Secrets) != "rsb1.sealed" || !feeds[0].CreatedAt.Equal(t0) {
		t.Fatalf("ListFeeds = %+v, %v", feeds, err)
	}

	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.UpdateFeed(ctx, "acme", "hr", func(old store.FeedRecord) (store.FeedRecord, error) {
			old.Spec, old.Secrets, old.Name, old.UpdatedAt = []byte(`{"kind":"ldap"}`), nil, "renamed", t0.Add(1)
			return old, nil
		})
		if err != nil || got.Version != 2 || got.Name != "hr" {
			t.Fatalf("UpdateFeed = %+v, %v", got, err)
		}
		// An updater's error is returned and nothing is written.
		refusal := errors.New("no")
		if _, err := tx.UpdateFeed(ctx, "acme", "hr", func(store.FeedRecord) (store.FeedRecord, error) { return store.FeedRecord{}, refusal }); !errors.Is(err, refusal) {
			t.Fatalf("updater's error: %v", err)
		}
		w, err := tx.UpdateWebhookEndpoint(ctx, "acme", "wh_1", func(old store.WebhookEndpointRecord) (store.WebhookEndpointRecord, error) {
			old.Secret = []byte("rsb1.new")
			return old, nil
		})
		if err != nil || w.Version != 2 {
			t.Fatalf("UpdateWebhookEndpoint = %+v, %v", w, err)
		}
		if _, err := tx.GetWebhookEndpoint(ctx, "globex", "wh_1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant's endpoint: %v", err)
		}
		return nil
	})
	feeds, _ = s.ListFeeds(ctx)
	hooks, err := s.ListWebhookEndpoints(ctx)
	if len(feeds) != 1 || string(feeds[0].Spec) != `{"kind":"ldap"}` || feeds[0].Secrets != nil || err != nil || len(hooks) != 1 || string(hooks[0].Secret) != "rsb1.new" {
		t.Fatalf("after the updates: %+v %+v %v", feeds, hooks, err)
	}

	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteFeed(ctx, "acme", "hr"); err != nil {
			return err
		}
		return tx.DeleteWebhookEndpoint(ctx, "acme", "wh_1")
	})
	err = s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteFeed(ctx, "acme", "hr") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
	if feeds, _ := s.ListFeeds(ctx); len(feeds) != 0 {
		t.Fatalf("after delete: %+v", feeds)
	}
}
