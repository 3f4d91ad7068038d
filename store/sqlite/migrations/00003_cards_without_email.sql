-- +goose Up
-- A card may have no email: a SCIM user whose IdP sends none, or whose
-- address another card already has (two people sharing a mailbox). Emails
-- stay unique among the cards that have one.
DROP INDEX cards_tenant_email;
CREATE UNIQUE INDEX cards_tenant_email ON cards (tenant, email_norm) WHERE email_norm <> '';

-- +goose Down
DROP INDEX cards_tenant_email;
CREATE UNIQUE INDEX cards_tenant_email ON cards (tenant, email_norm);
