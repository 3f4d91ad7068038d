-- +goose Up
-- The file and LDAP feeds the admin API added to a tenant (those the YAML
-- file declares stay in the tenant's spec). spec is the feed's settings
-- as JSON, without secrets; secrets is the feed's SFTP password or key and
-- LDAP bind password, sealed with AES-GCM under the key-encryption key
-- ('' when it has none).
CREATE TABLE tenant_feeds (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    secrets    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenant_feeds_name ON tenant_feeds (tenant, name);

-- +goose Down
DROP TABLE tenant_feeds;
