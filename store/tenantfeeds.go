package store

import (
	"context"
	"time"
)

// FeedRecord is one file or LDAP feed the admin API added to a tenant.
// The feeds the YAML file declares stay in the tenant's Spec.
type FeedRecord struct {
	ID     string
	Tenant string
	// Name is unique in the tenant; it names the source ("file:<name>").
	Name string
	// Spec is the feed's settings as JSON, with no secret in it.
	Spec []byte
	// Secrets are the feed's secrets, sealed (package tenant seals and
	// opens them); nil when it has none.
	Secrets   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version starts at 1 and grows by one with every update.
	Version int64
}

// WebhookEndpointRecord is one webhook endpoint the admin API added to a
// tenant: it receives that tenant's events.
type WebhookEndpointRecord struct {
	ID     string
	Tenant string
	// Spec is the endpoint's settings as JSON, without its secret.
	Spec []byte
	// Secret is the signing secret, sealed; nil for an unsigned receiver.
	Secret    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// FeedRegistry reads the feeds and webhook endpoints of the registry,
// outside a transaction; part of Registry.
type FeedRegistry interface {
	// ListFeeds returns every feed the API added, by tenant and name.
	ListFeeds(ctx context.Context) ([]FeedRecord, error)
	// ListWebhookEndpoints returns every endpoint the API added, by tenant
	// and creation.
	ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpointRecord, error)
}

// FeedRegistryTx is their write side, inside InTx; part of RegistryTx.
type FeedRegistryTx interface {
	// GetFeed returns (and locks) the tenant's feed of that name;
	// ErrNotFound if none.
	GetFeed(ctx context.Context, tenant, name string) (FeedRecord, error)
	// CreateFeed inserts f with Version 1; ErrAlreadyExists if its name is
	// taken in the tenant.
	CreateFeed(ctx context.Context, f FeedRecord) error
	// UpdateFeed replaces the feed with what fn returns (its id, tenant
	// and name kept, its version moved on) and returns it.
	UpdateFeed(ctx context.Context, tenant, name string, fn func(old FeedRecord) (FeedRecord, error)) (FeedRecord, error)
	// DeleteFeed removes the feed; ErrNotFound if none. Its runs stay.
	DeleteFeed(ctx context.Context, tenant, name string) error

	// GetWebhookEndpoint returns (and locks) the tenant's endpoint of that
	// id; ErrNotFound if none.
	GetWebhookEndpoint(ctx context.Context, tenant, id string) (WebhookEndpointRecord, error)
	// CreateWebhookEndpoint inserts w with Version 1.
	CreateWebhookEndpoint(ctx context.Context, w WebhookEndpointRecord) error
	// UpdateWebhookEndpoint replaces the endpoint with what fn returns.
	UpdateWebhookEndpoint(ctx context.Context, tenant, id string, fn func(old WebhookEndpointRecord) (WebhookEndpointRecord, error)) (WebhookEndpointRecord, error)
	// DeleteWebhookEndpoint removes the endpoint; ErrNotFound if none.
	// Its delivery records and cursors stay until they age out.
	DeleteWebhookEndpoint(ctx context.Context, tenant, id string) error
}
