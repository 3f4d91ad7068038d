-- +goose Up
-- Issue 18: IdPs look users up by email (Entra ID's matching attribute may
-- be emails[type eq "work"].value), and the emails are an array in the
-- claim's raw record, which no expression index can serve: the lookup read
-- every live claim of the source. claim_emails holds, for each claim, the
-- lower() of every string "value" of an object in its raw record's
-- "emails" array, kept by triggers so that no write path can forget it.
-- lower() is the filter's own fold (store/internal/sqlstore/filter.go), so
-- "value_norm = lower(x)" is implied by the filter's comparison and can
-- go before it (emailLookup in store/internal/sqlstore/plans.go).
CREATE TABLE claim_emails (
    card_id    TEXT NOT NULL,
    source     TEXT NOT NULL,
    value_norm TEXT NOT NULL,
    PRIMARY KEY (card_id, source, value_norm)
) WITHOUT ROWID;
CREATE INDEX claim_emails_value ON claim_emails (value_norm, source, card_id);

INSERT OR IGNORE INTO claim_emails (card_id, source, value_norm)
SELECT c.card_id, c.source, lower(json_extract(e.value, '$.value'))
FROM claims c, json_each(c.raw_json, '$.emails') e
WHERE c.raw_json IS NOT NULL AND json_type(c.raw_json, '$.emails') = 'array'
  AND e.type = 'object' AND json_type(e.value, '$.value') = 'text';

-- +goose StatementBegin
CREATE TRIGGER claim_emails_insert AFTER INSERT ON claims
WHEN NEW.raw_json IS NOT NULL AND json_type(NEW.raw_json, '$.emails') = 'array'
BEGIN
    INSERT OR IGNORE INTO claim_emails (card_id, source, value_norm)
    SELECT NEW.card_id, NEW.source, lower(json_extract(e.value, '$.value'))
    FROM json_each(NEW.raw_json, '$.emails') e
    WHERE e.type = 'object' AND json_type(e.value, '$.value') = 'text';
END;
-- +goose StatementEnd

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

-- +goose StatementBegin
CREATE TRIGGER claim_emails_delete AFTER DELETE ON claims
BEGIN
    DELETE FROM claim_emails WHERE card_id = OLD.card_id AND source = OLD.source;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER claim_emails_delete;
DROP TRIGGER claim_emails_update;
DROP TRIGGER claim_emails_insert;
DROP TABLE claim_emails;
