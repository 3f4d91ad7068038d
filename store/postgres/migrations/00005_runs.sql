-- +goose Up
-- Runs of feeds and admin imports, with their stored plans.
CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    feed              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    dry_run           BOOLEAN NOT NULL DEFAULT FALSE,
    trigger           TEXT NOT NULL DEFAULT '',
    actor             TEXT NOT NULL DEFAULT '',
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    file_name         TEXT NOT NULL DEFAULT '',
    file_size         BIGINT NOT NULL DEFAULT 0,
    file_hash         TEXT NOT NULL DEFAULT '',
    counts_json       TEXT NOT NULL DEFAULT '{}',
    flagged_json      TEXT NOT NULL DEFAULT '[]',
    hold_reasons_json TEXT NOT NULL DEFAULT '[]',
    plan              BYTEA,
    fingerprint       TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_tenant_feed ON runs (tenant, feed, id);
CREATE INDEX runs_tenant ON runs (tenant, id);

-- One row per scheduled run started: the replica that inserts it runs it.
CREATE TABLE schedule_slots (
    tenant     TEXT NOT NULL,
    feed       TEXT NOT NULL,
    due_at     BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, feed, due_at)
);

-- +goose Down
DROP TABLE schedule_slots;
DROP TABLE runs;
