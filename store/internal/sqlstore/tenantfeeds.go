package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/rosterd/rosterd/store"
)

// The feeds and webhook endpoints the admin API added to tenants.

const feedCols = `id, tenant, name, spec, secrets, created_at, updated_at, version`

func scanFeed(sc scanner) (store.FeedRecord, error) {
	var (
		f                store.FeedRecord
		spec, secrets    string
		created, updated sql.NullInt64
	)
	err := sc.Scan(&f.ID, &f.Tenant, &f.Name, &spec, &secrets, &created, &updated, &f.Version)
	f.Spec, f.Secrets = []byte(spec), bytesOrNil(secrets)
	f.CreatedAt, f.UpdatedAt = fromMicros(created), fromMicros(updated)
	return f, err
}

const hookCols = `id, tenant, spec, secret, created_at, updated_at, version`

func scanHook(sc scanner) (store.WebhookEndpointRecord, error) {
	var (
		w                store.WebhookEndpointRecord
		spec, secret     string
		created, updated sql.NullInt64
	)
	err := sc.Scan(&w.ID, &w.Tenant, &spec, &secret, &created, &updated, &w.Version)
	w.Spec, w.Secret = []byte(spec), bytesOrNil(secret)
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	return w, err
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// ListFeeds implements store.FeedRegistry.
func (s *DB) ListFeeds(ctx context.Context) ([]store.FeedRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT `+feedCols+` FROM tenant_feeds ORDER BY tenant, name`)
	out, err := collect(rows, err, scanFeed)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing feeds: %w", err))
	}
	return out, nil
}

// ListWebhookEndpoints implements store.FeedRegistry.
func (s *DB) ListWebhookEndpoints(ctx context.Context) ([]store.WebhookEndpointRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT `+hookCols+` FROM tenant_webhooks ORDER BY tenant, created_at, id`)
	out, err := collect(rows, err, scanHook)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing webhook endpoints: %w", err))
	}
	return out, nil
}

// GetFeed implements store.FeedRegistryTx.
func (t *tx) GetFeed(ctx context.Context, tenant, name string) (store.FeedRecord, error) {
	var out store.FeedRecord
	err := t.queryOne(ctx, fmt.Sprintf("feed %q of tenant %q", name, tenant), func(sc scanner) (err error) { out, err = scanFeed(sc); return err },
		`SELECT `+feedCols+` FROM tenant_feeds WHERE tenant = $1 AND name = $2`+t.forUpdate(), tenant, name)
	return out, err
}

// CreateFeed implements store.FeedRegistryTx.
func (t *tx) CreateFeed(ctx context.Context, f store.FeedRecord) error {
	_, err := t.exec(ctx, fmt.Sprintf("creating feed %q", f.Name), `INSERT INTO tenant_feeds (`+feedCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)`,
		f.ID, f.Tenant, f.Name, string(f.Spec), string(f.Secrets), micros(f.CreatedAt), micros(f.UpdatedAt))
	return err
}

// UpdateFeed implements store.FeedRegistryTx.
func (t *tx) UpdateFeed(ctx context.Context, tenant, name string, fn func(store.FeedRecord) (store.FeedRecord, error)) (store.FeedRecord, error) {
	old, err := t.GetFeed(ctx, tenant, name)
	if err != nil {
		return old, err
	}
	f, err := fn(old)
	if err != nil {
		return old, err
	}
	f.ID, f.Tenant, f.Name, f.CreatedAt, f.Version = old.ID, old.Tenant, old.Name, old.CreatedAt, old.Version+1
	n, err := t.exec(ctx, fmt.Sprintf("updating feed %q", name), `UPDATE tenant_feeds SET spec = $2, secrets = $3, updated_at = $4, version = $5
		WHERE id = $1 AND version = $6`, f.ID, string(f.Spec), string(f.Secrets), micros(f.UpdatedAt), f.Version, old.Version)
	if err == nil && n != 1 {
		err = fmt.Errorf("updating feed %q: %w", name, store.ErrConflict)
	}
	return f, err
}

// DeleteFeed implements store.FeedRegistryTx.
func (t *tx) DeleteFeed(ctx context.Context, tenant, name string) error {
	n, err := t.exec(ctx, "deleting feed", `DELETE FROM tenant_feeds WHERE tenant = $1 AND name = $2`, tenant, name)
	if err == nil && n == 0 {
		err = fmt.Errorf("feed %q of tenant %q: %w", name, tenant, store.ErrNotFound)
	}
	return err
}

// GetWebhookEndpoint implements store.FeedRegistryTx.
func (t *tx) GetWebhookEndpoint(ctx context.Context, tenant, id string) (store.WebhookEndpointRecord, error) {
	var out store.WebhookEndpointRecord
	err := t.queryOne(ctx, fmt.Sprintf("webhook endpoint %q of tenant %q", id, tenant), func(sc scanner) (err error) { out, err = scanHook(sc); return err },
		`SELECT `+hookCols+` FROM tenant_webhooks WHERE tenant = $1 AND id = $2`+t.forUpdate(), tenant, id)
	return out, err
}

// CreateWebhookEndpoint implements store.FeedRegistryTx.
func (t *tx) CreateWebhookEndpoint(ctx context.Context, w store.WebhookEndpointRecord) error {
	_, err := t.exec(ctx, "creating webhook endpoint", `INSERT INTO tenant_webhooks (`+hookCols+`) VALUES ($1, $2, $3, $4, $5, $6, 1)`,
		w.ID, w.Tenant, string(w.Spec), string(w.Secret), micros(w.CreatedAt), micros(w.UpdatedAt))
	return err
}

// UpdateWebhookEndpoint implements store.FeedRegistryTx.
func (t *tx) UpdateWebhookEndpoint(ctx context.Context, tenant, id string, fn func(store.WebhookEndpointRecord) (store.WebhookEndpointRecord, error)) (store.WebhookEndpointRecord, error) {
	old, err := t.GetWebhookEndpoint(ctx, tenant, id)
	if err != nil {
		return old, err
	}
	w, err := fn(old)
	if err != nil {
		return old, err
	}
	w.ID, w.Tenant, w.CreatedAt, w.Version = old.ID, old.Tenant, old.CreatedAt, old.Version+1
	n, err := t.exec(ctx, "updating webhook endpoint", `UPDATE tenant_webhooks SET spec = $2, secret = $3, updated_at = $4, version = $5
		WHERE id = $1 AND version = $6`, w.ID, string(w.Spec), string(w.Secret), micros(w.UpdatedAt), w.Version, old.Version)
	if err == nil && n != 1 {
		err = fmt.Errorf("updating webhook endpoint %q: %w", id, store.ErrConflict)
	}
	return w, err
}

// DeleteWebhookEndpoint implements store.FeedRegistryTx.
func (t *tx) DeleteWebhookEndpoint(ctx context.Context, tenant, id string) error {
	n, err := t.exec(ctx, "deleting webhook endpoint", `DELETE FROM tenant_webhooks WHERE tenant = $1 AND id = $2`, tenant, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("webhook endpoint %q of tenant %q: %w", id, tenant, store.ErrNotFound)
	}
	return err
}
