// Package console is rosterd's web console under /console/: server-rendered
// html/template pages with one embedded stylesheet and no front-end build,
// for the platform's operators, customers' admins, and customers' IT
// admins (the setup portal). The only scripts are the copy button's
// (static/copy.js) and the users page's selection (static/bulk.js: check
// a page's rows at once, then offer "Select all N matching"); every page
// works without them.
//
// It is a channel like admin: a page handler decodes the request, calls the
// directory (Deps) and renders a typed view; a form POSTs and redirects.
// Every change goes through the directory service, the runtime tenant
// registry or sync's runner, which audit it with the signed-in person as
// actor ("console:<key name or email>", "setup-link:<id>"); no business
// rule lives here and nothing here writes to the store but its sessions.
//
// Read Console.routes first (the one route table), then the middleware in
// sessions.go and csrf.go, then one page (users.go with its template
// templates/users.html).
//
// Sessions: a random 256-bit id in an HttpOnly, SameSite=Lax cookie (Secure
// when public_url is https), stored only as its SHA-256, with an idle and an
// absolute timeout; the id is replaced at sign-in (no session fixation) and
// the session is deleted at sign-out. They live in the store
// (store.ConsoleSessions, Deps.Sessions), so a restart or another replica
// keeps them; writes are compare-and-swap on a version, and a session's
// last-seen time moves at most once a minute. Every visitor gets a session
// (the sign-in form's CSRF token needs one): a flood of visitors is a flood
// of rows, pruned when idle.
//
// CSRF: every session has a token; every page's view carries it (View.CSRF)
// and the middleware checks it, in constant time, on every request that is
// not GET or HEAD, before any handler runs.
//
// Sign-in: an admin API key (the bootstrap and break-glass form; a key
// bound to a tenant reaches that tenant's pages only, a read-only key reads
// only), or SSO through rosterd's own SAML SP for a customer's admins
// (sso.go): a card whose role is admin gets a session for its tenant only.
// The SP hands the console's logins back by a nonce (handoff.go). Either
// way the sign-in ends on the page it started for (next), when safeNext
// lets it through: an SSO sign-in keeps next with its pending login in
// the session store, never in the SAML RelayState, and sends a next that
// is off the console or another tenant's to the tenant's users.
//
// The setup portal (setup.go) serves a setup link's session (admin's
// rosterd_setup cookie), asked of the store on every request: SAML (the SP's
// values, the IdP's metadata URL, Test sign-in), SCIM (a token shown
// once) and HR files (the drop box's upload URL and SFTP login of each
// source: upload feed, with its last run; setup_feeds.go) of that one
// tenant, as the link allows.
//
// The import pages (imports.go) call the admin API's own import
// (admin.API.Import, ApplyImportReview, ImportRun through Deps.Imports), so
// a file is read, mapped, reviewed and applied as POST …/imports does it.
// The review page is the answer to its POST (a dry run is not kept with its
// file): it carries the file back, base64, for a review after remapping,
// which bounds the console's files at 10 MiB; Apply applies the review by
// its run (from_review) and redirects to the summary.
//
// Every response carries a strict Content-Security-Policy (CSP): nothing
// but the console's own stylesheet, script and images load, forms post only
// to rosterd (so a login to the IdP starts from a link, not a form), and no
// page may be framed.
package console
