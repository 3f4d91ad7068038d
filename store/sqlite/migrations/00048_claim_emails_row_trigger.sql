-- +goose Up
-- Issue 18: as on PostgreSQL (its 00048), an update re-derives a claim's
-- emails only when its raw record's emails array changed, not whenever
-- the record did: a SCIM PATCH of `active` leaves them alone. json_extract
-- returns an array minified, so spacing does not count; key order does,
-- which only costs a needless rewrite.
DROP TRIGGER claim_emails_update;

-- +goose StatementBegin
CREATE TRIGGER claim_emails_update AFTER UPDATE OF raw_json ON claims
WHEN json_extract(OLD.raw_json, '$.emails') IS NOT json_extract(NEW.raw_json, '$.emails')
BEGIN
    DELETE FROM claim_emails WHERE card_id = OLD.card_id AND source = OLD.source;
    INSERT OR IGNORE INTO claim_emails (card_id, source, value_norm)
    SELECT NEW.card_id, NEW.source, lower(json_extract(e.value, '$.value'))
    FROM json_each(NEW.raw_json, '$.emails') e
    WHERE NEW.raw_json IS NOT NULL AND json_type(NEW.raw_json, '$.emails') = 'array'
      AND e.type = 'object' AND json_type(e.value, '$.value') = 'text';
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER claim_emails_update;

-- +goose StatementBegin
CREATE TRIGGER claim_emails_update AFTER UPDATE OF raw_json ON claims
WHEN OLD.raw_json IS NOT NEW.raw_json
BEGIN
    DELETE FROM claim_emails WHERE card_id = OLD.card_id AND source = OLD.source;
    INSERT OR IGNORE INTO claim_emails (card_id, source, value_norm)
    SELECT NEW.card_id, NEW.source, lower(json_extract(e.value, '$.value'))
    FROM json_each(NEW.raw_json, '$.emails') e
    WHERE NEW.raw_json IS NOT NULL AND json_type(NEW.raw_json, '$.emails') = 'array'
      AND e.type = 'object' AND json_type(e.value, '$.value') = 'text';
END;
-- +goose StatementEnd
