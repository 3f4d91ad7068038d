// Package tenant is the one home of what a tenant is: its policy, its
// safety limits, its SCIM connections and their tokens, its SAML settings,
// feeds and webhooks, as they are now.
//
// Read Registry first. It loads every tenant from the store into an
// immutable snapshot, and every channel asks it for "tenant T as it is
// now" per request or per run (Get); none keeps a copy of its own. The
// YAML file's tenants are laid over the store as a declarative layer, in
// the manner of Dex's storage/static.go: Apply writes them to the store
// (managed_by config) at start and on SIGHUP, and the admin API refuses
// to change what the file manages unless it says api_may_extend. A change
// commits with an audit line and an event and moves the registry's
// version counter; Watch notices a new version (PostgreSQL's NOTIFY, or
// its poll) and swaps in a new snapshot, so every replica serves the
// change within a second or two, without a restart and without dropping a
// request: a request holds the snapshot it began with.
//
// Decisions worth knowing:
//
//   - Secrets a tenant's file declares (feed passwords) are not stored:
//     a config-managed tenant's settings come from the process's own file
//     and the store holds them without secrets. A tenant the API manages
//     keeps its secrets sealed in its stored settings (secrets.go: one
//     list of secret fields; ResealSecrets for a key rotation). Tokens
//     are stored as hashes only, and compared in constant time.
//   - An email domain routes sign-in by email only once verified: by a
//     DNS TXT record holding its challenge, by an operator, or by being
//     declared in the file (domains.go).
//   - A retired tenant keeps its row, cards and audit; Get says
//     ErrNotFound for it, so SCIM, SAML and feeds stop answering, and
//     Restore brings it back.
//   - The tenant's settings are validated by package config's own rules
//     (config.DecodeTenant), never by a copy of them; so are the feeds
//     and webhook endpoints the API adds (config.DecodeFeed,
//     config.DecodeWebhook).
//   - The feeds and webhook endpoints the API adds are rows of their own,
//     not part of the tenant's settings, so that applying the file again
//     keeps those a file's tenant with api_may_extend took. Their secrets
//     (SFTP password and key, LDAP bind password, webhook secret) are
//     sealed under the key-encryption key (Options.Secrets); a row
//     whose secrets do not open (another key) is left out and logged.
//     Subscribe tells the scheduler and the webhook dispatchers that a
//     reload swapped in new settings, so they re-arm.
package tenant
