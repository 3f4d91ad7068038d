package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

// The tenant registry: reads outside a transaction for loading a
// snapshot, Dex-style updaters inside one so that a change commits with
// its audit line and event.

const tenantCols = `id, name, managed_by, api_may_extend, spec, retired_at, created_at, updated_at, version`

func scanTenant(sc scanner) (store.TenantRecord, error) {
	var (
		t                         store.TenantRecord
		spec                      string
		retired, created, updated sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.ManagedBy, &t.APIMayExtend, &spec, &retired, &created, &updated, &t.Version); err != nil {
		return t, err
	}
	t.Spec = []byte(spec)
	t.RetiredAt, t.CreatedAt, t.UpdatedAt = fromMicros(retired), fromMicros(created), fromMicros(updated)
	return t, nil
}

const connCols = `id, tenant, name, authoritative, managed_by, created_at`

func scanConn(sc scanner) (store.SCIMConnectionRecord, error) {
	var (
		c       store.SCIMConnectionRecord
		created sql.NullInt64
	)
	err := sc.Scan(&c.ID, &c.Tenant, &c.Name, &c.Authoritative, &c.ManagedBy, &created)
	c.CreatedAt = fromMicros(created)
	return c, err
}

const tokenCols = `id, connection_id, tenant, hash, managed_by, created_at, expires_at`

func scanToken(sc scanner) (store.SCIMTokenRecord, error) {
	var (
		t                store.SCIMTokenRecord
		created, expires sql.NullInt64
	)
	err := sc.Scan(&t.ID, &t.ConnectionID, &t.Tenant, &t.Hash, &t.ManagedBy, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return t, err
}

func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ListTenants implements store.Registry.
func (s *DB) ListTenants(ctx context.Context) ([]store.TenantRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY id`)
	out, err := collect(rows, err, scanTenant)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing tenants: %w", err))
	}
	return out, nil
}

// ListSCIMConnections implements store.Registry.
func (s *DB) ListSCIMConnections(ctx context.Context) ([]store.SCIMConnectionRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT `+connCols+` FROM tenant_scim_connections ORDER BY tenant, name`)
	out, err := collect(rows, err, scanConn)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing SCIM connections: %w", err))
	}
	return out, nil
}

// ListSCIMTokens implements store.Registry.
func (s *DB) ListSCIMTokens(ctx context.Context) ([]store.SCIMTokenRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT `+tokenCols+` FROM tenant_scim_tokens ORDER BY created_at, id`)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing SCIM tokens: %w", err))
	}
	return out, nil
}

// RegistryVersion implements store.Registry.
func (s *DB) RegistryVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.queryRowContext(ctx, `SELECT version FROM registry_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, s.d.MapError(fmt.Errorf("reading the registry version: %w", err))
	}
	return v, nil
}

func (t *tx) writable() error {
	if t.readOnly {
		return store.ErrReadOnly
	}
	return nil
}

func (t *tx) queryOne(ctx context.Context, what string, scan func(scanner) error, query string, args ...any) error {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return t.d.MapError(fmt.Errorf("reading %s: %w", what, err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return t.d.MapError(fmt.Errorf("reading %s: %w", what, err))
		}
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err := scan(rows); err != nil {
		return t.d.MapError(fmt.Errorf("reading %s: %w", what, err))
	}
	return rows.Close()
}

func (t *tx) exec(ctx context.Context, what string, query string, args ...any) (int64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, t.d.MapError(fmt.Errorf("%s: %w", what, err))
	}
	return res.RowsAffected()
}

// GetTenant implements store.RegistryTx.
func (t *tx) GetTenant(ctx context.Context, id string) (store.TenantRecord, error) {
	var out store.TenantRecord
	err := t.queryOne(ctx, fmt.Sprintf("tenant %q", id), func(sc scanner) (err error) { out, err = scanTenant(sc); return err },
		`SELECT `+tenantCols+` FROM tenants WHERE id = $1`+t.forUpdate(), id)
	return out, err
}

// CreateTenant implements store.RegistryTx.
func (t *tx) CreateTenant(ctx context.Context, r store.TenantRecord) error {
	_, err := t.exec(ctx, fmt.Sprintf("creating tenant %q", r.ID), `INSERT INTO tenants (`+tenantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)`,
		r.ID, r.Name, r.ManagedBy, r.APIMayExtend, string(r.Spec), micros(r.RetiredAt), micros(r.CreatedAt), micros(r.UpdatedAt))
	return err
}

// UpdateTenant implements store.RegistryTx.
func (t *tx) UpdateTenant(ctx context.Context, id string, fn func(store.TenantRecord) (store.TenantRecord, error)) (store.TenantRecord, error) {
	old, err := t.GetTenant(ctx, id)
	if err != nil {
		return old, err
	}
	r, err := fn(old)
	if err != nil {
		return old, err
	}
	r.ID, r.CreatedAt, r.Version = old.ID, old.CreatedAt, old.Version+1
	n, err := t.exec(ctx, fmt.Sprintf("updating tenant %q", id), `UPDATE tenants SET name = $2, managed_by = $3, api_may_extend = $4, spec = $5,
		retired_at = $6, updated_at = $7, version = $8 WHERE id = $1 AND version = $9`,
		id, r.Name, r.ManagedBy, r.APIMayExtend, string(r.Spec), micros(r.RetiredAt), micros(r.UpdatedAt), r.Version, old.Version)
	if err == nil && n != 1 {
		err = fmt.Errorf("updating tenant %q: %w", id, store.ErrConflict)
	}
	return r, err
}

// SCIMConnections implements store.RegistryTx.
func (t *tx) SCIMConnections(ctx context.Context, tenant string) ([]store.SCIMConnectionRecord, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+connCols+` FROM tenant_scim_connections WHERE tenant = $1 ORDER BY name`+t.forUpdate(), tenant)
	out, err := collect(rows, err, scanConn)
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading the SCIM connections of %q: %w", tenant, err))
	}
	return out, nil
}

// CreateSCIMConnection implements store.RegistryTx.
func (t *tx) CreateSCIMConnection(ctx context.Context, c store.SCIMConnectionRecord) error {
	_, err := t.exec(ctx, fmt.Sprintf("creating SCIM connection %q", c.Name), `INSERT INTO tenant_scim_connections (`+connCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ID, c.Tenant, c.Name, c.Authoritative, c.ManagedBy, micros(c.CreatedAt))
	return err
}

// UpdateSCIMConnection implements store.RegistryTx.
func (t *tx) UpdateSCIMConnection(ctx context.Context, id string, fn func(store.SCIMConnectionRecord) (store.SCIMConnectionRecord, error)) (store.SCIMConnectionRecord, error) {
	var old store.SCIMConnectionRecord
	err := t.queryOne(ctx, fmt.Sprintf("SCIM connection %q", id), func(sc scanner) (err error) { old, err = scanConn(sc); return err },
		`SELECT `+connCols+` FROM tenant_scim_connections WHERE id = $1`+t.forUpdate(), id)
	if err != nil {
		return old, err
	}
	c, err := fn(old)
	if err != nil {
		return old, err
	}
	c.ID, c.Tenant, c.CreatedAt = old.ID, old.Tenant, old.CreatedAt
	_, err = t.exec(ctx, fmt.Sprintf("updating SCIM connection %q", id), `UPDATE tenant_scim_connections SET name = $2, authoritative = $3, managed_by = $4 WHERE id = $1`,
		id, c.Name, c.Authoritative, c.ManagedBy)
	return c, err
}

// DeleteSCIMConnection implements store.RegistryTx.
func (t *tx) DeleteSCIMConnection(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "deleting SCIM tokens", `DELETE FROM tenant_scim_tokens WHERE connection_id = $1`, id); err != nil {
		return err
	}
	n, err := t.exec(ctx, "deleting SCIM connection", `DELETE FROM tenant_scim_connections WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("SCIM connection %q: %w", id, store.ErrNotFound)
	}
	return err
}

// SCIMTokens implements store.RegistryTx.
func (t *tx) SCIMTokens(ctx context.Context, connectionID string) ([]store.SCIMTokenRecord, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+tokenCols+` FROM tenant_scim_tokens WHERE connection_id = $1 ORDER BY created_at, id`+t.forUpdate(), connectionID)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading SCIM tokens: %w", err))
	}
	return out, nil
}

// CreateSCIMToken implements store.RegistryTx.
func (t *tx) CreateSCIMToken(ctx context.Context, r store.SCIMTokenRecord) error {
	_, err := t.exec(ctx, "creating SCIM token", `INSERT INTO tenant_scim_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.ConnectionID, r.Tenant, r.Hash, r.ManagedBy, micros(r.CreatedAt), micros(r.ExpiresAt))
	return err
}

// UpdateSCIMToken implements store.RegistryTx.
func (t *tx) UpdateSCIMToken(ctx context.Context, id string, fn func(store.SCIMTokenRecord) (store.SCIMTokenRecord, error)) (store.SCIMTokenRecord, error) {
	var old store.SCIMTokenRecord
	err := t.queryOne(ctx, fmt.Sprintf("SCIM token %q", id), func(sc scanner) (err error) { old, err = scanToken(sc); return err },
		`SELECT `+tokenCols+` FROM tenant_scim_tokens WHERE id = $1`+t.forUpdate(), id)
	if err != nil {
		return old, err
	}
	r, err := fn(old)
	if err != nil {
		return old, err
	}
	r.ID, r.ConnectionID, r.Tenant, r.Hash, r.CreatedAt = old.ID, old.ConnectionID, old.Tenant, old.Hash, old.CreatedAt
	_, err = t.exec(ctx, "updating SCIM token", `UPDATE tenant_scim_tokens SET managed_by = $2, expires_at = $3 WHERE id = $1`,
		id, r.ManagedBy, micros(r.ExpiresAt))
	return r, err
}

// DeleteSCIMToken implements store.RegistryTx.
func (t *tx) DeleteSCIMToken(ctx context.Context, id string) error {
	n, err := t.exec(ctx, "deleting SCIM token", `DELETE FROM tenant_scim_tokens WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("SCIM token %q: %w", id, store.ErrNotFound)
	}
	return err
}

// SetTenantDomains implements store.RegistryTx.
func (t *tx) SetTenantDomains(ctx context.Context, tenant string, domains []string) error {
	rows, err := t.q.QueryContext(ctx, `SELECT domain FROM tenant_domains WHERE tenant = $1`+t.forUpdate(), tenant)
	have, err := collect(rows, err, func(sc scanner) (string, error) {
		var d string
		return d, sc.Scan(&d)
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("reading the domains of tenant %q: %w", tenant, err))
	}
	keep := map[string]bool{}
	for _, d := range domains {
		keep[d] = true
	}
	for _, d := range have {
		if keep[d] {
			delete(keep, d) // kept with its challenge and verification
			continue
		}
		if _, err := t.exec(ctx, "removing a tenant domain", `DELETE FROM tenant_domains WHERE tenant = $1 AND domain = $2`, tenant, d); err != nil {
			return err
		}
	}
	for _, d := range domains {
		if !keep[d] {
			continue
		}
		delete(keep, d)
		if _, err := t.exec(ctx, fmt.Sprintf("domain %q of tenant %q", d, tenant), `INSERT INTO tenant_domains (domain, tenant, challenge) VALUES ($1, $2, $3)`,
			d, tenant, newChallenge()); err != nil {
			return err
		}
	}
	return nil
}

// newChallenge is a domain's verification challenge: 128 random bits.
func newChallenge() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// VerifyTenantDomain implements store.RegistryTx.
func (t *tx) VerifyTenantDomain(ctx context.Context, tenant, domain string, at time.Time, by string) error {
	n, err := t.exec(ctx, "verifying a tenant domain", `UPDATE tenant_domains SET verified_at = $3, verified_by = $4 WHERE tenant = $1 AND domain = $2`,
		tenant, domain, micros(at), by)
	if err == nil && n == 0 {
		err = fmt.Errorf("domain %q of tenant %q: %w", domain, tenant, store.ErrNotFound)
	}
	return err
}

// ListTenantDomains implements store.Registry.
func (s *DB) ListTenantDomains(ctx context.Context) ([]store.DomainRecord, error) {
	rows, err := s.queryContext(ctx, `SELECT domain, tenant, challenge, verified_at, verified_by FROM tenant_domains ORDER BY domain`)
	out, err := collect(rows, err, func(sc scanner) (store.DomainRecord, error) {
		var (
			d        store.DomainRecord
			verified sql.NullInt64
		)
		err := sc.Scan(&d.Domain, &d.Tenant, &d.Challenge, &verified, &d.VerifiedBy)
		d.VerifiedAt = fromMicros(verified)
		return d, err
	})
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing tenant domains: %w", err))
	}
	return out, nil
}

// CreateCredential implements store.Tx.
func (t *tx) CreateCredential(ctx context.Context, c store.Credential) error {
	_, err := t.exec(ctx, fmt.Sprintf("storing credential %q", c.Name), `INSERT INTO credentials (id, kind, tenant, name, hash, read_only, origin, created_at, scopes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.ID, c.Kind, c.Tenant, c.Name, c.Hash, c.ReadOnly, c.Origin, micros(c.Created), strings.Join(c.Scopes, " "))
	return err
}

// RemoveCredential implements store.Tx.
func (t *tx) RemoveCredential(ctx context.Context, id string) (store.Credential, error) {
	var c store.Credential
	err := t.queryOne(ctx, fmt.Sprintf("credential %q", id), func(sc scanner) error {
		var err error
		c, err = scanCredential(sc)
		return err
	}, `SELECT `+credentialCols+` FROM credentials WHERE id = $1`+t.forUpdate(), id)
	if err != nil {
		return c, err
	}
	_, err = t.exec(ctx, "deleting credential", `DELETE FROM credentials WHERE id = $1`, id)
	return c, err
}

// BumpRegistryVersion implements store.RegistryTx.
func (t *tx) BumpRegistryVersion(ctx context.Context) (int64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	var v int64
	err := t.queryOne(ctx, "the registry version", func(sc scanner) error { return sc.Scan(&v) },
		`UPDATE registry_version SET version = version + 1 WHERE id = 1 RETURNING version`)
	if err != nil {
		return 0, err
	}
	if t.d.Notify {
		// Delivered at commit, and only if the transaction commits.
		if _, err := t.q.ExecContext(ctx, `SELECT pg_notify($1, $2)`, store.RegistryChannel, strconv.FormatInt(v, 10)); err != nil {
			return 0, t.d.MapError(fmt.Errorf("notifying the registry change: %w", err))
		}
	}
	return v, nil
}
