// Package notify delivers what the directory service queued in the outbox:
// invite and reminder emails, over SMTP. It also serves the page an invite
// link opens.
//
// It owns no card: the directory writes an outbox row in the transaction of
// the change that needs the mail (so a change that rolled back sends
// nothing, and a crash after the commit loses nothing), and the Mailer
// delivers it later. No invite token is ever stored: the row carries a
// random seed, and the Mailer derives the token from it under the invite
// key (directory.InviteKey, derived from secrets_key or the data
// directory's secrets.key, never in the database) when it builds the mail. Once the mail
// is sent or given up the seed is blanked too. The card keeps only the
// token's hash. A Mailer holding another key than the row's sends nothing
// (the link would not work) and retries, saying which key is missing.
//
// The link opens InvitePage, which only shows the invite; its button
// accepts it (see InvitePage for why, and for its CSRF token).
//
// Read Mailer first, then InvitePage.
//
// Delivery, in short:
//
//   - A worker claims due rows with a lease (store.Outbox.ClaimOutbox): on
//     PostgreSQL FOR UPDATE SKIP LOCKED, so several replicas share the work
//     and a row is sent by one of them. A replica that dies mid-send leaves
//     a lease that runs out; the row is then sent again (at least once).
//   - A failed attempt is retried after 1m, 2m, 4m … capped at 1h, each with
//     up to 20% jitter, so that replicas and a queue of failures do not hit
//     a recovering server in step. After MaxAttempts (default 10) the row is
//     dead, and an audit line "email.dead" says so.
//   - Without SMTP configured, no mail is attempted: each due message is
//     logged as undeliverable (its id and card id) and stays queued,
//     untouched, to be sent once SMTP is configured.
//
// It never logs an address, a name or a token: message ids and card ids only.
package notify
