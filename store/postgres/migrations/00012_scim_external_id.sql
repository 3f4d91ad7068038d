-- +goose Up
-- SCIM's externalId is kept only in a claim's raw record (claims.external_id
-- is a feed's or SAML's id), and IdPs look users up by it (Entra ID's
-- matching attribute may be externalId): without an index that lookup read
-- every live claim of the source. The expression is the one the filter
-- writes (rawExternalID in store/internal/sqlstore), verbatim: a planner
-- uses an expression index only for the same expression.
CREATE INDEX claims_raw_external_id ON claims ((CAST(raw_json AS jsonb) ->> 'externalId'));

-- +goose Down
DROP INDEX claims_raw_external_id;
