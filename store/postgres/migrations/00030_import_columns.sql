-- +goose Up
-- A tenant's import default: the column mapping (header → target, as
-- JSON) its last admin import named, used by the next import that names
-- none.
CREATE TABLE tenant_import_columns (
    tenant     TEXT PRIMARY KEY,
    columns    TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE tenant_import_columns;
