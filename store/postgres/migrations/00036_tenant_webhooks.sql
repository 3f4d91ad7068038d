-- +goose Up
-- The webhook endpoints the admin API added to a tenant (those the YAML
-- file declares stay in the file). spec is the endpoint's settings as JSON
-- without its secret; secret is the signing secret, sealed with AES-GCM
-- under the key-encryption key ('' for an unsigned test receiver).
CREATE TABLE tenant_webhooks (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL REFERENCES tenants (id),
    spec       TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL
);
CREATE INDEX tenant_webhooks_tenant ON tenant_webhooks (tenant);

-- +goose Down
DROP TABLE tenant_webhooks;
