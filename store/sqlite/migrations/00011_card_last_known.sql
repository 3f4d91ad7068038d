-- +goose Up
-- A card that no source lists any more keeps the attributes it last had,
-- marked as last known: by which source, since when.
ALTER TABLE cards ADD COLUMN last_known_source TEXT;
ALTER TABLE cards ADD COLUMN last_known_at BIGINT;

-- +goose Down
ALTER TABLE cards DROP COLUMN last_known_at;
ALTER TABLE cards DROP COLUMN last_known_source;
