-- +goose Up
-- SAML: assertion ids already used (the replay cache), one-time login
-- codes, and the service providers' generated key pairs. They live in the
-- database so that every replica sees them: a replay to another replica is
-- refused, a code is redeemed once whichever replica minted it, and all
-- replicas sign with one key.

CREATE TABLE saml_assertions (
    tenant       TEXT NOT NULL,
    -- hex SHA-256 of the assertion's ID attribute: bounded length whatever
    -- the IdP sends.
    id_hash      TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, id_hash)
);
CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);

CREATE TABLE saml_login_codes (
    -- hex SHA-256 of the code; the code itself is never stored.
    hash         TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    card_id      TEXT NOT NULL REFERENCES cards (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    redeemed_at  BIGINT
);
CREATE INDEX saml_login_codes_expires ON saml_login_codes (expires_at);

CREATE TABLE saml_key_pairs (
    name         TEXT PRIMARY KEY,
    key_pem      TEXT NOT NULL,
    cert_pem     TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE saml_key_pairs;
DROP TABLE saml_login_codes;
DROP TABLE saml_assertions;
