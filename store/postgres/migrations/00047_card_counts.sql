-- +goose Up
-- Issue 17: the users page shows a tenant's cards counted by status on
-- every view, and counting them was a pass over all of the tenant's cards
-- (937 ms at 1,000,000). card_counts keeps the counts of the facts a
-- status derives from, kept by triggers on cards so that no write path
-- can forget them. The one fact that changes with time alone — an invite
-- live or expired — is not a bucket: "invited" counts both, and the
-- reader counts the live ones on cards_invite_live, which holds only the
-- unanswered invites.
--
-- Here the table holds deltas, not one row per count: a row per tenant
-- and bucket, updated by every write, would make concurrent writes of one
-- tenant queue on it (SCIM pushes run 32 at a time). Each statement that
-- writes cards adds one row per bucket it changed, without a lock; the
-- reader sums them and, past a few hundred rows, replaces a tenant's rows
-- by their sums in one statement (sqlstore.CountCards). SQLite, with one
-- writer, keeps one row per tenant and bucket.
CREATE TABLE card_counts (
    tenant TEXT   NOT NULL,
    bucket TEXT   NOT NULL,
    n      BIGINT NOT NULL
);
CREATE INDEX card_counts_tenant ON card_counts (tenant);

-- The bucket of a card: what CountCards' old pass counted it as.
-- +goose StatementBegin
CREATE FUNCTION card_bucket(enabled BOOLEAN, approval_state TEXT, pin_actor TEXT, first_login_at BIGINT, invite_sent_at BIGINT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN NOT enabled AND approval_state = 'pending' AND pin_actor IS NULL THEN 'pending_approval'
        WHEN NOT enabled THEN 'disabled'
        WHEN first_login_at IS NOT NULL THEN 'logged_in'
        WHEN invite_sent_at IS NULL THEN 'never_invited'
        ELSE 'invited'
    END
$$;
-- +goose StatementEnd

INSERT INTO card_counts (tenant, bucket, n)
SELECT tenant, card_bucket(enabled, approval_state, pin_actor, first_login_at, invite_sent_at), count(*)
FROM cards GROUP BY 1, 2;

-- Per statement, over transition tables, like claim_emails': cards are
-- written many rows per statement.
-- +goose StatementBegin
CREATE FUNCTION card_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO card_counts (tenant, bucket, n)
        SELECT tenant, card_bucket(enabled, approval_state, pin_actor, first_login_at, invite_sent_at), count(*)
        FROM new_rows GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO card_counts (tenant, bucket, n)
        SELECT tenant, bucket, sum(d) FROM (
            SELECT tenant, card_bucket(enabled, approval_state, pin_actor, first_login_at, invite_sent_at) AS bucket, -1 AS d FROM old_rows
            UNION ALL
            SELECT tenant, card_bucket(enabled, approval_state, pin_actor, first_login_at, invite_sent_at), 1 FROM new_rows
        ) AS changes GROUP BY 1, 2 HAVING sum(d) <> 0;
    ELSE
        INSERT INTO card_counts (tenant, bucket, n)
        SELECT tenant, card_bucket(enabled, approval_state, pin_actor, first_login_at, invite_sent_at), -count(*)
        FROM old_rows GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER card_counts_insert AFTER INSERT ON cards
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION card_counts_changed();
CREATE TRIGGER card_counts_update AFTER UPDATE ON cards
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION card_counts_changed();
CREATE TRIGGER card_counts_delete AFTER DELETE ON cards
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION card_counts_changed();

CREATE INDEX cards_invite_live ON cards (tenant, invite_expires_at)
    WHERE enabled AND first_login_at IS NULL AND invite_sent_at IS NOT NULL;

-- +goose Down
DROP INDEX cards_invite_live;
DROP TRIGGER card_counts_delete ON cards;
DROP TRIGGER card_counts_update ON cards;
DROP TRIGGER card_counts_insert ON cards;
DROP FUNCTION card_counts_changed();
DROP FUNCTION card_bucket(BOOLEAN, TEXT, TEXT, BIGINT, BIGINT);
DROP TABLE card_counts;
