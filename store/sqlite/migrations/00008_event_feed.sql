-- +goose Up
-- The change feed's order: (txid, id). SQLite writes one transaction at a
-- time, so txid stays 0 and ids are commit order.
ALTER TABLE events ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_feed ON events (tenant, txid, id);
CREATE INDEX events_at ON events (at);
-- The newest cursor retention pruned, per tenant: older cursors are gone.
CREATE TABLE event_horizon (
    tenant TEXT PRIMARY KEY,
    txid   INTEGER NOT NULL,
    id     INTEGER NOT NULL
);

-- +goose Down
DROP TABLE event_horizon;
DROP INDEX events_at;
DROP INDEX events_feed;
ALTER TABLE events DROP COLUMN txid;
