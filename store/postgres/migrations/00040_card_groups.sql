-- +goose Up
-- Issue 15: the card list's group filter over 1,000,000 cards. A card's
-- groups (groups_json, the union over its sources) are also kept one row
-- per name, lower case, so "group=Sales" is an index range (about a
-- thousand cards) instead of a LIKE over every card of the tenant.
-- Statement triggers with transition tables keep them: one INSERT and one
-- DELETE per write of a batch of cards (a row trigger's per-row function
-- call halved the rate of a 100,000-card apply), touching only the cards
-- whose groups_json changed; the old rows are found by their names through
-- the primary key (no second index to keep).
CREATE TABLE card_groups (
    tenant  TEXT NOT NULL,
    name    TEXT NOT NULL,
    card_id TEXT NOT NULL,
    PRIMARY KEY (tenant, name, card_id)
);
INSERT INTO card_groups (tenant, name, card_id)
    SELECT DISTINCT c.tenant, lower(g), c.id FROM cards c, jsonb_array_elements_text(c.groups_json::jsonb) g WHERE c.groups_json <> '[]';

-- +goose StatementBegin
CREATE FUNCTION card_groups_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO card_groups (tenant, name, card_id)
        SELECT DISTINCT n.tenant, lower(g), n.id
        FROM card_groups_new n, jsonb_array_elements_text(n.groups_json::jsonb) g
        WHERE n.groups_json <> '[]'
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION card_groups_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM card_groups cg
        USING card_groups_old o JOIN card_groups_new n ON n.id = o.id, jsonb_array_elements_text(o.groups_json::jsonb) g
        WHERE o.groups_json IS DISTINCT FROM n.groups_json
            AND cg.tenant = o.tenant AND cg.name = lower(g) AND cg.card_id = o.id;
    INSERT INTO card_groups (tenant, name, card_id)
        SELECT DISTINCT n.tenant, lower(g), n.id
        FROM card_groups_old o JOIN card_groups_new n ON n.id = o.id, jsonb_array_elements_text(n.groups_json::jsonb) g
        WHERE o.groups_json IS DISTINCT FROM n.groups_json
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION card_groups_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM card_groups cg
        USING card_groups_old o, jsonb_array_elements_text(o.groups_json::jsonb) g
        WHERE cg.tenant = o.tenant AND cg.name = lower(g) AND cg.card_id = o.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER cards_groups_insert AFTER INSERT ON cards
    REFERENCING NEW TABLE AS card_groups_new FOR EACH STATEMENT EXECUTE FUNCTION card_groups_insert();
CREATE TRIGGER cards_groups_update AFTER UPDATE ON cards
    REFERENCING OLD TABLE AS card_groups_old NEW TABLE AS card_groups_new FOR EACH STATEMENT EXECUTE FUNCTION card_groups_update();
CREATE TRIGGER cards_groups_delete AFTER DELETE ON cards
    REFERENCING OLD TABLE AS card_groups_old FOR EACH STATEMENT EXECUTE FUNCTION card_groups_delete();

-- +goose Down
DROP TRIGGER cards_groups_delete ON cards;
DROP TRIGGER cards_groups_update ON cards;
DROP TRIGGER cards_groups_insert ON cards;
DROP FUNCTION card_groups_delete();
DROP FUNCTION card_groups_update();
DROP FUNCTION card_groups_insert();
DROP TABLE card_groups;
