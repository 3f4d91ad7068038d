-- +goose Up
-- SCIM: a claim's login name (userName) and the source's raw record, and
-- the groups a source keeps with their members.

ALTER TABLE claims ADD COLUMN login TEXT NOT NULL DEFAULT '';
-- login_norm is strings.ToLower(login), computed by the store.
ALTER TABLE claims ADD COLUMN login_norm TEXT NOT NULL DEFAULT '';
-- raw_json: the source's own record (a SCIM resource), JSON text; NULL when none.
ALTER TABLE claims ADD COLUMN raw_json TEXT;
-- A login is unique among a source's live claims, ignoring case; a withdrawn
-- claim (a SCIM DELETE) frees it.
CREATE UNIQUE INDEX claims_login ON claims (tenant, source, login_norm)
    WHERE login_norm <> '' AND state <> 'withdrawn';
-- A source's claims in card order (SCIM list pages). state rides along so
-- that counting a source's live claims, and skipping to a page's offset,
-- read the index alone. It serves every lookup the (tenant, source) index
-- served, which it replaces.
CREATE INDEX claims_source_card ON claims (tenant, source, card_id, state);
DROP INDEX claims_tenant_source;

CREATE TABLE groups (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    source            TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    -- strings.ToLower(display_name), computed by the store.
    display_name_norm TEXT NOT NULL,
    external_id       TEXT NOT NULL DEFAULT '',
    raw_json          TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    version           BIGINT NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups (tenant, source, display_name_norm);
CREATE INDEX groups_source_id ON groups (tenant, source, id);

-- One row per membership: a group of 10,000 members changes by adding and
-- removing rows, never by rewriting a list.
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    card_id  TEXT NOT NULL REFERENCES cards (id),
    PRIMARY KEY (group_id, card_id)
);
CREATE INDEX group_members_card ON group_members (card_id);

-- +goose Down
DROP TABLE group_members;
DROP TABLE groups;
CREATE INDEX claims_tenant_source ON claims (tenant, source);
DROP INDEX claims_source_card;
DROP INDEX claims_login;
ALTER TABLE claims DROP COLUMN raw_json;
ALTER TABLE claims DROP COLUMN login_norm;
ALTER TABLE claims DROP COLUMN login;
