-- +goose Up
-- When an admin key was last used, coarsely (written at most once a
-- minute per key, not on every request); NULL: never.
ALTER TABLE credentials ADD COLUMN last_used_at BIGINT;
-- A domain routes "Sign in with SSO" once it is verified: by a DNS TXT
-- record _rosterd-challenge.<domain> holding the challenge, or by an
-- operator. Domains stored before verification existed stay verified
-- (as of their tenant's last change), so nothing that routed stops.
ALTER TABLE tenant_domains ADD COLUMN challenge TEXT NOT NULL DEFAULT '';
ALTER TABLE tenant_domains ADD COLUMN verified_at BIGINT;
ALTER TABLE tenant_domains ADD COLUMN verified_by TEXT NOT NULL DEFAULT '';
UPDATE tenant_domains SET verified_at = (SELECT updated_at FROM tenants WHERE tenants.id = tenant_domains.tenant), verified_by = 'migration';

-- +goose Down
ALTER TABLE tenant_domains DROP COLUMN verified_by;
ALTER TABLE tenant_domains DROP COLUMN verified_at;
ALTER TABLE tenant_domains DROP COLUMN challenge;
ALTER TABLE credentials DROP COLUMN last_used_at;
