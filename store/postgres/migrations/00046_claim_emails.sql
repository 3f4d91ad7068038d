-- +goose Up
-- Issue 18: IdPs look users up by email (Entra ID's matching attribute may
-- be emails[type eq "work"].value), and the emails are an array in the
-- claim's raw record: the lookup read every live claim of the source.
-- claim_emails holds, for each claim, the lower() of every string "value"
-- of an object in its raw record's "emails" array, kept by triggers so
-- that no write path can forget it. lower() is the filter's own fold
-- (store/internal/sqlstore/filter.go), so "value_norm = lower(x)" is
-- implied by the filter's comparison and can go before it (emailLookup in
-- store/internal/sqlstore/plans.go). The SQLite schema is the same.
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

-- +goose StatementBegin
CREATE FUNCTION claim_emails_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM claim_emails WHERE card_id = OLD.card_id AND source = OLD.source;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.raw_json IS NOT NULL THEN
        INSERT INTO claim_emails (card_id, source, value_norm)
        SELECT NEW.card_id, NEW.source, lower(e ->> 'value')
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(NEW.raw_json AS jsonb) -> 'emails') = 'array'
            THEN CAST(NEW.raw_json AS jsonb) -> 'emails' END) e
        WHERE jsonb_typeof(e -> 'value') = 'string'
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claim_emails_insert AFTER INSERT ON claims
    FOR EACH ROW WHEN (NEW.raw_json IS NOT NULL) EXECUTE FUNCTION claim_emails_sync();
CREATE TRIGGER claim_emails_update AFTER UPDATE OF raw_json ON claims
    FOR EACH ROW WHEN (OLD.raw_json IS DISTINCT FROM NEW.raw_json) EXECUTE FUNCTION claim_emails_sync();
CREATE TRIGGER claim_emails_delete AFTER DELETE ON claims
    FOR EACH ROW EXECUTE FUNCTION claim_emails_sync();

-- +goose Down
DROP TRIGGER claim_emails_delete ON claims;
DROP TRIGGER claim_emails_update ON claims;
DROP TRIGGER claim_emails_insert ON claims;
DROP FUNCTION claim_emails_sync();
DROP TABLE claim_emails;
