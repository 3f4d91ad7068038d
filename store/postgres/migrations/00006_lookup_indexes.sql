-- +goose Up
-- Lookups by email, external id, login and group name take many keys at
-- once (a batch of a thousand). With the tenant first in these indexes,
-- PostgreSQL without fresh statistics (a new install, a big import inside
-- autovacuum's minute) took "tenant = $1" as the selective part, scanned
-- the whole tenant and filtered the keys: a lookup cost a table scan. With
-- the looked-up column first, "= ANY($keys)" is always the index condition.
DROP INDEX cards_tenant_email;
CREATE UNIQUE INDEX cards_tenant_email ON cards (email_norm, tenant) WHERE email_norm <> '';
DROP INDEX claims_external_id;
CREATE UNIQUE INDEX claims_external_id ON claims (external_id, tenant, source) WHERE external_id <> '';
DROP INDEX claims_login;
CREATE UNIQUE INDEX claims_login ON claims (login_norm, tenant, source) WHERE login_norm <> '' AND state <> 'withdrawn';
DROP INDEX groups_name;
CREATE UNIQUE INDEX groups_name ON groups (display_name_norm, tenant, source);

-- +goose Down
DROP INDEX groups_name;
CREATE UNIQUE INDEX groups_name ON groups (tenant, source, display_name_norm);
DROP INDEX claims_login;
CREATE UNIQUE INDEX claims_login ON claims (tenant, source, login_norm) WHERE login_norm <> '' AND state <> 'withdrawn';
DROP INDEX claims_external_id;
CREATE UNIQUE INDEX claims_external_id ON claims (tenant, source, external_id) WHERE external_id <> '';
DROP INDEX cards_tenant_email;
CREATE UNIQUE INDEX cards_tenant_email ON cards (tenant, email_norm) WHERE email_norm <> '';
