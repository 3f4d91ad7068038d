// Package console is rosterd's web console under /console/: server-rendered
// html/template pages with one embedded stylesheet, no JavaScript and no
// front-end build, for the platform's operators and customers' admins.
//
// It is a channel like admin: a page handler decodes the request, calls the
// directory (Deps) and renders a typed view; a form POSTs and redirects.
// Every change goes through the directory service, which audits it with the
// signed-in person as actor ("console:<key name>"); no business rule lives
// here and nothing here writes to the store.
//
// Read Console.routes first (the one route table), then the middleware in
// session.go and csrf.go, then one page (users.go with its template
// templates/users.html).
//
// Sessions: a random 256-bit id in an HttpOnly, SameSite=Lax cookie (Secure
// when public_url is https), stored only as its SHA-256, with an idle and an
// absolute timeout; the id is replaced at sign-in (no session fixation) and
// the session is deleted at sign-out. In this first step the session table
// is in the daemon's memory: a restart signs everyone out and replicas do
// not share sessions (see sessions.go).
//
// CSRF: every session has a token; every page's view carries it (View.CSRF)
// and the middleware checks it, in constant time, on every request that is
// not GET or HEAD, before any handler runs.
//
// Sign-in today is an admin API key (the bootstrap and break-glass form);
// a key bound to a tenant reaches that tenant's pages only, a read-only key
// reads only. SAML sign-in through rosterd's own SP comes later.
//
// Every response carries a strict Content-Security-Policy (CSP): nothing
// but the console's own stylesheet and images load, forms post only to
// rosterd, and no page may be framed.
package console
