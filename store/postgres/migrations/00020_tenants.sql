-- +goose Up
-- The tenant registry: tenants, their SCIM connections and the hashes of
-- those connections' bearer tokens, created from the YAML file
-- (managed_by 'config') or by the admin API ('api'). spec is the tenant's
-- settings as JSON, without secrets. A retired tenant keeps its row (its
-- cards and audit stay); retired_at says since when.
CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    managed_by     TEXT NOT NULL,
    api_may_extend BOOLEAN NOT NULL DEFAULT FALSE,
    spec           TEXT NOT NULL,
    retired_at     BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    version        BIGINT NOT NULL
);
CREATE TABLE tenant_scim_connections (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    name          TEXT NOT NULL,
    authoritative BOOLEAN NOT NULL,
    managed_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenant_scim_connections_name ON tenant_scim_connections (tenant, name);
-- A token's hash is unique over every connection: one bearer secret
-- identifies one connection.
CREATE TABLE tenant_scim_tokens (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES tenant_scim_connections (id) ON DELETE CASCADE,
    tenant        TEXT NOT NULL,
    hash          TEXT NOT NULL,
    managed_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT
);
CREATE UNIQUE INDEX tenant_scim_tokens_hash ON tenant_scim_tokens (hash);
CREATE INDEX tenant_scim_tokens_connection ON tenant_scim_tokens (connection_id);
-- One counter that every change to the registry moves: replicas poll it
-- to learn that their snapshot is old.
CREATE TABLE registry_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (1, 0);
-- An admin key's scopes, space-separated: "operator" manages the registry.
-- The bootstrap key, made for the operator of a new install, has it.
ALTER TABLE credentials ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
UPDATE credentials SET scopes = 'operator' WHERE kind = 'admin_key' AND tenant = '' AND origin = 'bootstrap';

-- +goose Down
ALTER TABLE credentials DROP COLUMN scopes;
DROP TABLE registry_version;
DROP TABLE tenant_scim_tokens;
DROP TABLE tenant_scim_connections;
DROP TABLE tenants;
