-- +goose Up
-- Issue 18: IdPs look users up by email (Entra ID's matching attribute may
-- be emails[type eq "work"].value), and the emails are an array in the
-- claim's raw record: the lookup read every live claim of the source.
-- claim_emails holds, for each claim, the lower() of every string "value"
-- of an object in its raw record's "emails" array, kept by triggers so
-- that no write path can forget it. lower() is the filter's own fold
-- (store/internal/sqlstore/filter.go), so "value_norm = lower(x)" is
-- implied by the filter's comparison and can go before it (emailLookup in
-- store/internal/sqlstore/plans.go). SQLite has the same table, kept by
-- row triggers (in-process, they cost no call into another language).
CREATE TABLE claim_emails (
    card_id    TEXT NOT NULL,
    source     TEXT NOT NULL,
    value_norm TEXT NOT NULL,
    PRIMARY KEY (card_id, source, value_norm)
);
CREATE INDEX claim_emails_value ON claim_emails (value_norm, source, card_id);

INSERT INTO claim_emails (card_id, source, value_norm)
SELECT c.card_id, c.source, lower(e ->> 'value')
FROM claims c, jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(c.raw_json AS jsonb) -> 'emails') = 'array'
    THEN CAST(c.raw_json AS jsonb) -> 'emails' END) e
WHERE c.raw_json IS NOT NULL AND jsonb_typeof(e -> 'value') = 'string'
ON CONFLICT DO NOTHING;

-- The triggers are per statement, over transition tables: claims are
-- written many rows per statement (a batch, a SCIM write's CTE), and a
-- PL/pgSQL call per row cost a bulk write of SCIM claims about half again
-- its time. An update rewrites the emails only of rows whose raw record
-- changed (or whose key did, which never happens).
-- +goose StatementBegin
CREATE FUNCTION claim_emails_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO claim_emails (card_id, source, value_norm)
    SELECT n.card_id, n.source, lower(e ->> 'value')
    FROM new_rows n, jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(n.raw_json AS jsonb) -> 'emails') = 'array'
        THEN CAST(n.raw_json AS jsonb) -> 'emails' END) e
    WHERE n.raw_json IS NOT NULL AND jsonb_typeof(e -> 'value') = 'string'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION claim_emails_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM claim_emails ce USING old_rows o
    WHERE ce.card_id = o.card_id AND ce.source = o.source
      AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.card_id = o.card_id AND n.source = o.source
                      AND n.raw_json IS NOT DISTINCT FROM o.raw_json);
    INSERT INTO claim_emails (card_id, source, value_norm)
    SELECT n.card_id, n.source, lower(e ->> 'value')
    FROM new_rows n, jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(n.raw_json AS jsonb) -> 'emails') = 'array'
        THEN CAST(n.raw_json AS jsonb) -> 'emails' END) e
    WHERE n.raw_json IS NOT NULL AND jsonb_typeof(e -> 'value') = 'string'
      AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.card_id = n.card_id AND o.source = n.source
                      AND o.raw_json IS NOT DISTINCT FROM n.raw_json)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION claim_emails_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM claim_emails ce USING old_rows o WHERE ce.card_id = o.card_id AND ce.source = o.source;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claim_emails_insert AFTER INSERT ON claims
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION claim_emails_inserted();
CREATE TRIGGER claim_emails_update AFTER UPDATE ON claims
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION claim_emails_updated();
CREATE TRIGGER claim_emails_delete AFTER DELETE ON claims
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION claim_emails_deleted();

-- +goose Down
DROP TRIGGER claim_emails_delete ON claims;
DROP TRIGGER claim_emails_update ON claims;
DROP TRIGGER claim_emails_insert ON claims;
DROP FUNCTION claim_emails_deleted();
DROP FUNCTION claim_emails_updated();
DROP FUNCTION claim_emails_inserted();
DROP TABLE claim_emails;
