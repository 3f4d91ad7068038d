-- +goose Up
-- Times are BIGINT microseconds since the Unix epoch (UTC), as in the SQLite
-- schema, so that both backends share one set of queries.

CREATE TABLE cards (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_norm        TEXT NOT NULL,
    given_name        TEXT NOT NULL DEFAULT '',
    family_name       TEXT NOT NULL DEFAULT '',
    display_name      TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    department        TEXT NOT NULL DEFAULT '',
    location          TEXT NOT NULL DEFAULT '',
    employee_id       TEXT NOT NULL DEFAULT '',
    manager_email     TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL DEFAULT '',
    groups_json       TEXT NOT NULL DEFAULT '[]',
    custom_json       TEXT NOT NULL DEFAULT '{}',
    enabled           BOOLEAN NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    pin_actor         TEXT,
    pin_reason        TEXT,
    pin_at            BIGINT,
    invite_token_hash TEXT,
    invite_sent_at    BIGINT,
    invite_expires_at BIGINT,
    invite_reminded_at BIGINT,
    first_login_at    BIGINT,
    last_login_at     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    version           BIGINT NOT NULL
);
CREATE UNIQUE INDEX cards_tenant_email ON cards (tenant, email_norm);
CREATE INDEX cards_tenant_id ON cards (tenant, id);
CREATE UNIQUE INDEX cards_invite_token ON cards (invite_token_hash) WHERE invite_token_hash IS NOT NULL;

CREATE TABLE claims (
    card_id       TEXT NOT NULL REFERENCES cards (id),
    tenant        TEXT NOT NULL,
    source        TEXT NOT NULL,
    external_id   TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL,
    state         TEXT NOT NULL,
    authoritative BOOLEAN NOT NULL,
    attrs_json    TEXT NOT NULL DEFAULT '{}',
    run_id        TEXT NOT NULL DEFAULT '',
    actor         TEXT NOT NULL DEFAULT '',
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    state_since   BIGINT NOT NULL,
    PRIMARY KEY (card_id, source)
);
CREATE UNIQUE INDEX claims_external_id ON claims (tenant, source, external_id) WHERE external_id <> '';
CREATE INDEX claims_tenant_source ON claims (tenant, source);

CREATE TABLE audit_events (
    id      BIGSERIAL PRIMARY KEY,
    tenant  TEXT NOT NULL,
    card_id TEXT NOT NULL DEFAULT '',
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    source  TEXT NOT NULL DEFAULT '',
    action  TEXT NOT NULL,
    run_id  TEXT NOT NULL DEFAULT '',
    before_json TEXT,
    after_json  TEXT,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_tenant_card ON audit_events (tenant, card_id, id);
CREATE INDEX audit_tenant_at ON audit_events (tenant, at);

-- events: the platform's change feed. txid records the writing transaction
-- so that a reader can stop at the oldest transaction still in flight and
-- never hand out a cursor that a later commit would land behind.
CREATE TABLE events (
    id      BIGSERIAL PRIMARY KEY,
    txid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tenant  TEXT NOT NULL,
    card_id TEXT NOT NULL,
    type    TEXT NOT NULL,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL DEFAULT '',
    source  TEXT NOT NULL DEFAULT '',
    data    TEXT NOT NULL
);
CREATE INDEX events_tenant_id ON events (tenant, id);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    tenant          TEXT NOT NULL,
    card_id         TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (status, next_attempt_at);

CREATE TABLE credentials (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    tenant     TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    read_only  BOOLEAN NOT NULL DEFAULT FALSE,
    origin     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX credentials_hash ON credentials (kind, hash);

-- +goose Down
DROP TABLE credentials;
DROP TABLE outbox;
DROP TABLE events;
DROP TABLE audit_events;
DROP TABLE claims;
DROP TABLE cards;
