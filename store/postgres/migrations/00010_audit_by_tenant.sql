-- +goose Up
-- The admin API reads a tenant's whole audit trail in id order (not only a
-- card's): logins refused before they reached a card, emails given up.
CREATE INDEX audit_tenant_id ON audit_events (tenant, id);

-- +goose Down
DROP INDEX audit_tenant_id;
