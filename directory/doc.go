// Package directory owns the domain of rosterd and is the only code that
// changes cards.
//
// A Card is one person of one tenant. Each source that knows the person —
// a SCIM connection, an HR file feed, an LDAP feed, SAML logins, the admin —
// holds a Claim on the card: present, deactivated or withdrawn, with the
// attributes it asserts. Resolve, a pure function, turns a card's claims and
// admin pin into its enabled state and attributes; StatusOf derives what
// admins see (active, invite_pending, invite_expired, provisioned,
// disabled) at a given time, so an invite expires without a sweep job.
//
// Service applies changes. Each is one transaction holding the card, the
// claim, an audit event, an event for the platform and any outbox message
// (an invite to send), so a crash never loses one of them and never leaves
// one behind for a change that rolled back. Transactions that lose a race
// (two writers creating one email's card, a deadlock) are retried. SCIM,
// SAML, the sync reconciler and the admin API call the Service; none of
// them writes to the store, and none decides who is enabled.
//
// This package knows no HTTP and no SQL. Read Resolve first, then
// Service.ApplyClaims.
//
// Decisions worth knowing:
//   - Emails match case-insensitively (the card keeps the display form the
//     highest-precedence source sent); a claim found by its source's
//     external id follows its card when the email changes.
//   - Attribute precedence is by source kind (admin > scim > ldap > file >
//     saml unless the tenant says otherwise); two sources of one kind are
//     ordered by name, so the result never depends on arrival order.
//   - Withdrawn claims keep their last attributes for the record, but they
//     no longer count while an authoritative source lists the person. A
//     card that none lists any more keeps them, marked as last known (the
//     source and when it withdrew): disabling never loses data.
//   - A SAML login enriches attributes but does not by itself keep a card
//     enabled, except on a card it created just in time.
//   - An invite is queued when a card becomes enabled without ever having
//     been invited or having logged in, if the tenant invites by email and
//     auto-invites (or the change asks for it). Updates never re-invite.
//   - A change that changes nothing writes nothing: no audit line, no event.
package directory
