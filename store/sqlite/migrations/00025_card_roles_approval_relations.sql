-- +goose Up
-- Issue 15: a card's role says which pin, rule or source gave it; a card
-- may wait for an admin's approval; and it keeps its named relations to
-- other cards (parent, instructor) by email.
ALTER TABLE cards ADD COLUMN role_source TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN approval_state TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN approval_actor TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN approval_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN approval_at BIGINT;
ALTER TABLE cards ADD COLUMN relations_json TEXT NOT NULL DEFAULT '{}';
-- role and manager filters read cards_tenant_id in id order (a page at a
-- time); an index on them misleads the planner for the unfiltered list.
CREATE INDEX cards_tenant_pending ON cards (tenant, id) WHERE approval_state = 'pending';

-- +goose Down
DROP INDEX cards_tenant_pending;
ALTER TABLE cards DROP COLUMN relations_json;
ALTER TABLE cards DROP COLUMN approval_at;
ALTER TABLE cards DROP COLUMN approval_reason;
ALTER TABLE cards DROP COLUMN approval_actor;
ALTER TABLE cards DROP COLUMN approval_state;
ALTER TABLE cards DROP COLUMN role_source;
