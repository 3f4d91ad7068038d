-- +goose Up
-- Setup links for a customer's IT admin: a URL whose token (stored as its
-- hash) opens one browser session, scoped to one tenant and to the parts
-- the operator allowed (saml, scim, feeds), until it expires or is revoked.
CREATE TABLE setup_links (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    token_hash   TEXT NOT NULL,
    parts        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    session_hash TEXT,
    redeemed_at  BIGINT
);
CREATE UNIQUE INDEX setup_links_token ON setup_links (token_hash);
CREATE UNIQUE INDEX setup_links_session ON setup_links (session_hash);
CREATE INDEX setup_links_tenant ON setup_links (tenant, created_at);

-- +goose Down
DROP TABLE setup_links;
