-- +goose Up
-- A tenant's email domains, which route "Sign in with SSO" by an email
-- address. A domain belongs to one tenant: the primary key says so across
-- replicas.
CREATE TABLE tenant_domains (
    domain TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id)
);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant);

-- +goose Down
DROP TABLE tenant_domains;
