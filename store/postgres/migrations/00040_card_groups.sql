-- +goose Up
-- Issue 15: the card list's group filter over 1,000,000 cards. A card's
-- groups (groups_json, the union over its sources) are also kept one row
-- per name, lower case, by triggers, so "group=Sales" is an index range
-- (about a thousand cards) instead of a LIKE over every card of the
-- tenant. The triggers fire only when groups_json changes.
CREATE TABLE card_groups (
    tenant  TEXT NOT NULL,
    name    TEXT NOT NULL,
    card_id TEXT NOT NULL,
    PRIMARY KEY (tenant, name, card_id)
);
CREATE INDEX card_groups_card ON card_groups (card_id);
INSERT INTO card_groups (tenant, name, card_id)
    SELECT DISTINCT c.tenant, lower(g), c.id FROM cards c, jsonb_array_elements_text(c.groups_json::jsonb) g WHERE c.groups_json <> '[]';

-- +goose StatementBegin
CREATE FUNCTION card_groups_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM card_groups WHERE card_id = OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    INSERT INTO card_groups (tenant, name, card_id)
        SELECT DISTINCT NEW.tenant, lower(g), NEW.id FROM jsonb_array_elements_text(NEW.groups_json::jsonb) g
        ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER cards_groups_insert AFTER INSERT ON cards FOR EACH ROW
    WHEN (NEW.groups_json <> '[]') EXECUTE FUNCTION card_groups_sync();
CREATE TRIGGER cards_groups_update AFTER UPDATE OF groups_json ON cards FOR EACH ROW
    WHEN (OLD.groups_json IS DISTINCT FROM NEW.groups_json) EXECUTE FUNCTION card_groups_sync();
CREATE TRIGGER cards_groups_delete AFTER DELETE ON cards FOR EACH ROW EXECUTE FUNCTION card_groups_sync();

-- +goose Down
DROP TRIGGER cards_groups_delete ON cards;
DROP TRIGGER cards_groups_update ON cards;
DROP TRIGGER cards_groups_insert ON cards;
DROP FUNCTION card_groups_sync();
DROP TABLE card_groups;
