-- +goose Up
-- Issue 18: the display label a SCIM client sent with a member (its
-- "display", or the "displayName" Microsoft's validator sends), echoed
-- back as the member's "display" on GET; '' when none was sent, and then
-- the member's own display name is returned instead.
ALTER TABLE group_members ADD COLUMN display TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE group_members DROP COLUMN display;
