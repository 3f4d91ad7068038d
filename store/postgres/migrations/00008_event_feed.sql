-- +goose Up
-- The change feed's order: (txid, id), txid being the writing transaction
-- (the column exists since 00001). A reader gets only events of
-- transactions older than the oldest still running, so nothing commits
-- later behind a cursor it was given.
CREATE INDEX events_feed ON events (tenant, txid, id);
CREATE INDEX events_at ON events (at);
-- The newest cursor retention pruned, per tenant: older cursors are gone.
CREATE TABLE event_horizon (
    tenant TEXT PRIMARY KEY,
    txid   xid8 NOT NULL,
    id     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE event_horizon;
DROP INDEX events_at;
DROP INDEX events_feed;
