-- +goose Up
-- Issue 18: a SCIM PATCH of `active` rewrites its claim's raw record, and
-- 00046's statement trigger then deleted and re-inserted the claim's
-- emails, which had not changed: about a quarter of PostgreSQL's time per
-- PATCH. An update now re-derives a claim's emails only when the emails
-- array itself changed (jsonb equality, so key order and spacing do not
-- count), or the claim's key did. The test is the trigger's WHEN, which
-- PostgreSQL evaluates without calling PL/pgSQL, so an update that leaves
-- the emails alone costs no function call and no transition table. A row
-- trigger calls PL/pgSQL once per row whose emails changed; writes that
-- change many claims' emails at once are rare (inserts, the bulk case,
-- keep 00046's statement trigger). Measured with pgbench on a 10,000-claim
-- table, one claim's `active` toggled per transaction, two clients:
-- about 5,200 updates/s with 00046's trigger, 7,500 with this one, 8,300
-- with none.
DROP TRIGGER claim_emails_update ON claims;
DROP FUNCTION claim_emails_updated();

-- +goose StatementBegin
CREATE FUNCTION claim_emails_row_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM claim_emails WHERE card_id = OLD.card_id AND source = OLD.source;
    INSERT INTO claim_emails (card_id, source, value_norm)
    SELECT NEW.card_id, NEW.source, lower(e ->> 'value')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(NEW.raw_json AS jsonb) -> 'emails') = 'array'
        THEN CAST(NEW.raw_json AS jsonb) -> 'emails' END) e
    WHERE jsonb_typeof(e -> 'value') = 'string'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claim_emails_update AFTER UPDATE OF raw_json, card_id, source ON claims FOR EACH ROW
    WHEN (OLD.card_id IS DISTINCT FROM NEW.card_id OR OLD.source IS DISTINCT FROM NEW.source
          OR (CAST(OLD.raw_json AS jsonb) -> 'emails') IS DISTINCT FROM (CAST(NEW.raw_json AS jsonb) -> 'emails'))
    EXECUTE FUNCTION claim_emails_row_updated();

-- +goose Down
DROP TRIGGER claim_emails_update ON claims;
DROP FUNCTION claim_emails_row_updated();

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

CREATE TRIGGER claim_emails_update AFTER UPDATE ON claims
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION claim_emails_updated();
