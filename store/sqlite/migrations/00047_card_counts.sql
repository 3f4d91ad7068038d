-- +goose Up
-- Issue 17: the users page shows a tenant's cards counted by status on
-- every view, and counting them was a pass over all of the tenant's cards.
-- card_counts keeps the counts of the facts a status derives from, one
-- row per tenant and bucket, kept by triggers on cards so that no write
-- path can forget them (SQLite has one writer: the rows never queue
-- writes; PostgreSQL's table holds deltas instead, see its migration).
-- The one fact that changes with time alone — an invite live or expired —
-- is not a bucket: "invited" counts both, and the reader counts the live
-- ones on cards_invite_live, which holds only the unanswered invites.
CREATE TABLE card_counts (
    tenant TEXT    NOT NULL,
    bucket TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (tenant, bucket)
) WITHOUT ROWID;

INSERT INTO card_counts (tenant, bucket, n)
SELECT c.tenant, CASE
        WHEN NOT c.enabled AND c.approval_state = 'pending' AND c.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT c.enabled THEN 'disabled'
        WHEN c.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN c.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END, count(*)
FROM cards c GROUP BY 1, 2;

-- +goose StatementBegin
CREATE TRIGGER card_counts_insert AFTER INSERT ON cards
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (NEW.tenant, CASE
        WHEN NOT NEW.enabled AND NEW.approval_state = 'pending' AND NEW.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT NEW.enabled THEN 'disabled'
        WHEN NEW.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN NEW.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END, 1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER card_counts_update AFTER UPDATE OF tenant, enabled, approval_state, pin_actor, first_login_at, invite_sent_at ON cards
WHEN OLD.tenant IS NOT NEW.tenant OR (CASE
        WHEN NOT OLD.enabled AND OLD.approval_state = 'pending' AND OLD.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT OLD.enabled THEN 'disabled'
        WHEN OLD.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN OLD.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END) IS NOT (CASE
        WHEN NOT NEW.enabled AND NEW.approval_state = 'pending' AND NEW.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT NEW.enabled THEN 'disabled'
        WHEN NEW.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN NEW.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END)
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (OLD.tenant, CASE
        WHEN NOT OLD.enabled AND OLD.approval_state = 'pending' AND OLD.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT OLD.enabled THEN 'disabled'
        WHEN OLD.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN OLD.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END, -1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
    INSERT INTO card_counts (tenant, bucket, n) VALUES (NEW.tenant, CASE
        WHEN NOT NEW.enabled AND NEW.approval_state = 'pending' AND NEW.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT NEW.enabled THEN 'disabled'
        WHEN NEW.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN NEW.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END, 1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER card_counts_delete AFTER DELETE ON cards
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (OLD.tenant, CASE
        WHEN NOT OLD.enabled AND OLD.approval_state = 'pending' AND OLD.pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT OLD.enabled THEN 'disabled'
        WHEN OLD.first_login_at IS NOT NULL THEN 'logged_in'
        WHEN OLD.invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END, -1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
END;
-- +goose StatementEnd

CREATE INDEX cards_invite_live ON cards (tenant, invite_expires_at)
    WHERE enabled AND first_login_at IS NULL AND invite_sent_at IS NOT NULL;

-- +goose Down
DROP INDEX cards_invite_live;
DROP TRIGGER card_counts_delete;
DROP TRIGGER card_counts_update;
DROP TRIGGER card_counts_insert;
DROP TABLE card_counts;
