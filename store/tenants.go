package store

import (
	"context"
	"time"
)

// Who manages a registry entry: the YAML file, applied at start and on
// SIGHUP, or the admin API.
const (
	ManagedByConfig = "config"
	ManagedByAPI    = "api"
)

// TenantRecord is one tenant of the registry as stored. The package tenant
// reads it into a tenant.Tenant; nothing else interprets Spec.
type TenantRecord struct {
	ID           string
	Name         string
	ManagedBy    string
	APIMayExtend bool
	// Spec is the tenant's settings (policy, SAML, feeds) as JSON, with
	// no secret in it.
	Spec []byte
	// RetiredAt is when the tenant was retired; zero while it is live.
	RetiredAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version starts at 1 and grows by one with every update.
	Version int64
}

// SCIMConnectionRecord is one SCIM client of a tenant.
type SCIMConnectionRecord struct {
	// ID is the connection's stable id, as the admin API names it.
	ID            string
	Tenant        string
	Name          string
	Authoritative bool
	ManagedBy     string
	CreatedAt     time.Time
}

// SCIMTokenRecord is the hash of one bearer token of a SCIM connection.
type SCIMTokenRecord struct {
	ID           string
	ConnectionID string
	Tenant       string
	// Hash is the hex SHA-256 of the token; the token itself is never
	// stored.
	Hash      string
	ManagedBy string
	CreatedAt time.Time
	// ExpiresAt ends the token (a rotated token's overlap); zero: never.
	ExpiresAt time.Time
}

// DomainRecord is one email domain of a tenant and its verification.
type DomainRecord struct {
	Domain string
	Tenant string
	// Challenge is what the TXT record _rosterd-challenge.<domain> must
	// hold to verify the domain; random, made when the domain is added.
	Challenge string
	// VerifiedAt is when the domain was verified; zero: not yet.
	VerifiedAt time.Time
	// VerifiedBy says how: "dns", "operator:<key>" or "migration".
	VerifiedBy string
}

// Registry is the tenant registry's persistence, read outside a
// transaction; part of Store. Its writes are in RegistryTx, so that a
// change commits with its audit line and event.
type Registry interface {
	FeedRegistry
	// ListTenants returns every tenant, retired ones included, by id.
	ListTenants(ctx context.Context) ([]TenantRecord, error)
	// ListSCIMConnections returns every SCIM connection, by tenant and name.
	ListSCIMConnections(ctx context.Context) ([]SCIMConnectionRecord, error)
	// ListSCIMTokens returns every SCIM token's record.
	ListSCIMTokens(ctx context.Context) ([]SCIMTokenRecord, error)
	// ListTenantDomains returns every tenant's domains, by domain.
	ListTenantDomains(ctx context.Context) ([]DomainRecord, error)
	// RegistryVersion is the counter every registry change moves.
	RegistryVersion(ctx context.Context) (int64, error)
}

// RegistryTx is the write side of the registry, inside InTx. Updaters
// are Dex's: fn receives the stored row (locked) and returns the row to
// store; an error from fn is returned and nothing is written.
type RegistryTx interface {
	FeedRegistryTx
	// GetTenant returns (and locks) a tenant; ErrNotFound if none.
	GetTenant(ctx context.Context, id string) (TenantRecord, error)
	// CreateTenant inserts t with Version 1; ErrAlreadyExists if the id is
	// taken.
	CreateTenant(ctx context.Context, t TenantRecord) error
	// UpdateTenant replaces the tenant with what fn returns (its id kept,
	// its version moved on) and returns it.
	UpdateTenant(ctx context.Context, id string, fn func(old TenantRecord) (TenantRecord, error)) (TenantRecord, error)

	// SCIMConnections returns (and locks) a tenant's connections by name.
	SCIMConnections(ctx context.Context, tenant string) ([]SCIMConnectionRecord, error)
	// CreateSCIMConnection inserts c; ErrAlreadyExists if its name is taken
	// in the tenant.
	CreateSCIMConnection(ctx context.Context, c SCIMConnectionRecord) error
	// UpdateSCIMConnection replaces the connection with what fn returns.
	UpdateSCIMConnection(ctx context.Context, id string, fn func(old SCIMConnectionRecord) (SCIMConnectionRecord, error)) (SCIMConnectionRecord, error)
	// DeleteSCIMConnection removes the connection and every token of it;
	// ErrNotFound if none.
	DeleteSCIMConnection(ctx context.Context, id string) error

	// SCIMTokens returns the tokens of a connection, oldest first.
	SCIMTokens(ctx context.Context, connectionID string) ([]SCIMTokenRecord, error)
	// CreateSCIMToken inserts t; ErrAlreadyExists if its hash is taken.
	CreateSCIMToken(ctx context.Context, t SCIMTokenRecord) error
	// UpdateSCIMToken replaces the token with what fn returns.
	UpdateSCIMToken(ctx context.Context, id string, fn func(old SCIMTokenRecord) (SCIMTokenRecord, error)) (SCIMTokenRecord, error)
	// DeleteSCIMToken removes a token; ErrNotFound if none.
	DeleteSCIMToken(ctx context.Context, id string) error

	// SetTenantDomains makes domains the tenant's email domains (lower
	// case); ErrAlreadyExists when one belongs to another tenant. A domain
	// the tenant keeps keeps its challenge and verification; a new one
	// gets a new random challenge and is unverified.
	SetTenantDomains(ctx context.Context, tenant string, domains []string) error
	// VerifyTenantDomain marks a domain of the tenant verified at at, by
	// by; ErrNotFound when the tenant has no such domain.
	VerifyTenantDomain(ctx context.Context, tenant, domain string, at time.Time, by string) error

	// BumpRegistryVersion moves the registry's counter on and returns it;
	// on PostgreSQL it also notifies the other replicas at commit. Every
	// transaction that changes the registry calls it once.
	BumpRegistryVersion(ctx context.Context) (int64, error)
}

// RegistryChannel is the PostgreSQL notification channel a registry change
// is announced on; its payload is the new version.
const RegistryChannel = "rosterd_registry"
