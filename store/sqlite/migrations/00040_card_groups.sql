-- +goose Up
-- Issue 15: the card list's group filter over 1,000,000 cards. A card's
-- groups (groups_json, the union over its sources) are also kept one row
-- per name, lower case, by triggers, so "group=Sales" is an index range
-- (about a thousand cards) instead of a LIKE over every card of the
-- tenant. The triggers fire only when groups_json changes, and find the
-- old rows by their names through the primary key (no second index to
-- keep). Their INSERTs take DISTINCT names: an OR IGNORE in a trigger
-- yields to the conflict policy of the statement that fired it, the
-- cards' upsert.
CREATE TABLE card_groups (
    tenant  TEXT NOT NULL,
    name    TEXT NOT NULL,
    card_id TEXT NOT NULL,
    PRIMARY KEY (tenant, name, card_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO card_groups (tenant, name, card_id)
    SELECT DISTINCT c.tenant, lower(j.value), c.id FROM cards c, json_each(c.groups_json) j WHERE c.groups_json <> '[]';

-- +goose StatementBegin
CREATE TRIGGER cards_groups_insert AFTER INSERT ON cards WHEN NEW.groups_json <> '[]'
BEGIN
    INSERT INTO card_groups (tenant, name, card_id)
        SELECT DISTINCT NEW.tenant, lower(j.value), NEW.id FROM json_each(NEW.groups_json) j;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cards_groups_update AFTER UPDATE OF groups_json ON cards WHEN OLD.groups_json IS NOT NEW.groups_json
BEGIN
    DELETE FROM card_groups WHERE tenant = OLD.tenant AND card_id = OLD.id
        AND name IN (SELECT lower(j.value) FROM json_each(OLD.groups_json) j);
    INSERT INTO card_groups (tenant, name, card_id)
        SELECT DISTINCT NEW.tenant, lower(j.value), NEW.id FROM json_each(NEW.groups_json) j;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cards_groups_delete AFTER DELETE ON cards WHEN OLD.groups_json <> '[]'
BEGIN
    DELETE FROM card_groups WHERE tenant = OLD.tenant AND card_id = OLD.id
        AND name IN (SELECT lower(j.value) FROM json_each(OLD.groups_json) j);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER cards_groups_delete;
DROP TRIGGER cards_groups_update;
DROP TRIGGER cards_groups_insert;
DROP TABLE card_groups;
