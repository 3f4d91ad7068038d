-- +goose Up
-- Signed webhooks (the push side of the change feed). Each endpoint keeps,
-- per tenant, the cursor after which it has delivered nothing yet (the
-- cursor's String form, "TXID-ID").
CREATE TABLE webhook_cursors (
    endpoint   TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    cursor     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (endpoint, tenant)
);
-- Batches that did not go through at the first attempt: pending while
-- retried, then delivered or failed. Pruned with the event retention.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint         TEXT NOT NULL,
    tenant           TEXT NOT NULL,
    event_ids        TEXT NOT NULL,
    first_cursor     TEXT NOT NULL,
    last_cursor      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    first_attempt_at BIGINT NOT NULL,
    last_attempt_at  BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant, status, id);
CREATE INDEX webhook_deliveries_last ON webhook_deliveries (last_attempt_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_cursors;
