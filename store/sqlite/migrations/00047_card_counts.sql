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
--
-- A card's bucket is said once, as a virtual column (computed when read,
-- stored nowhere); PostgreSQL's migration says it once as card_bucket().
ALTER TABLE cards ADD COLUMN count_bucket TEXT GENERATED ALWAYS AS (CASE
        WHEN NOT enabled AND approval_state = 'pending' AND pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT enabled THEN 'disabled'
        WHEN first_login_at IS NOT NULL THEN 'logged_in'
        WHEN invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited' END) VIRTUAL;

CREATE TABLE card_counts (
    tenant TEXT    NOT NULL,
    bucket TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (tenant, bucket)
) WITHOUT ROWID;

INSERT INTO card_counts (tenant, bucket, n)
SELECT tenant, count_bucket, count(*) FROM cards GROUP BY 1, 2;

-- +goose StatementBegin
CREATE TRIGGER card_counts_insert AFTER INSERT ON cards
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (NEW.tenant, NEW.count_bucket, 1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER card_counts_update AFTER UPDATE OF tenant, enabled, approval_state, pin_actor, first_login_at, invite_sent_at ON cards
WHEN OLD.tenant IS NOT NEW.tenant OR OLD.count_bucket IS NOT NEW.count_bucket
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (OLD.tenant, OLD.count_bucket, -1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
    INSERT INTO card_counts (tenant, bucket, n) VALUES (NEW.tenant, NEW.count_bucket, 1)
        ON CONFLICT (tenant, bucket) DO UPDATE SET n = card_counts.n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER card_counts_delete AFTER DELETE ON cards
BEGIN
    INSERT INTO card_counts (tenant, bucket, n) VALUES (OLD.tenant, OLD.count_bucket, -1)
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
ALTER TABLE cards DROP COLUMN count_bucket;
