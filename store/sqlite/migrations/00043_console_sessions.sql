-- +goose Up
-- The web console's sessions, so that a restart or another replica keeps
-- them: keyed by the SHA-256 of the session id (the cookie holds the id),
-- with the signed-in person, a version for compare-and-swap writes, and
-- the SAML login the session waits for (found by its nonce).
CREATE TABLE console_sessions (
    hash       TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    csrf       TEXT NOT NULL,
    name       TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    read_only  INTEGER NOT NULL,
    card_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    flash      TEXT NOT NULL,
    nonce      TEXT,
    pending    BLOB
);
CREATE UNIQUE INDEX console_sessions_nonce ON console_sessions (nonce);
CREATE INDEX console_sessions_seen ON console_sessions (seen_at);
CREATE INDEX console_sessions_created ON console_sessions (created_at);

-- +goose Down
DROP TABLE console_sessions;
