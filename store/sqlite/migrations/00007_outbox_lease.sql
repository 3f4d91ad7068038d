-- +goose Up
-- The outbox worker leases a row for one attempt (locked_until) so that
-- another replica skips it, and records when it was sent.
ALTER TABLE outbox ADD COLUMN locked_until BIGINT;
ALTER TABLE outbox ADD COLUMN sent_at BIGINT;

-- +goose Down
ALTER TABLE outbox DROP COLUMN sent_at;
ALTER TABLE outbox DROP COLUMN locked_until;
