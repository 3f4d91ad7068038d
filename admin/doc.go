// Package admin is the admin REST API under /api/v1/: JSON over HTTP,
// authenticated by admin API keys (Authorization: Bearer <key>), read-only
// keys limited to reading, every change audited as "admin:<key name>".
//
// It decodes, checks and answers; every change goes through the directory
// service (Directory), feed runs through the sync runner (Runner), and no
// business rule lives here. Read API and its routes first (every route is
// described in openapi.yaml, served at /api/v1/openapi.yaml; a test keeps
// the two in step), then Services.
//
// One read is an optional interface of Directory, which directory.Service
// has: ClaimsOfCards (an export page's claims in one query); a directory
// without it is read card by card.
//
// The card list, stats, exports and bulk filter take directory.ListQuery's
// parameters through directory.ParseListQuery (filters.go): an unknown
// parameter or a bad value is a 400 naming it. A bulk action (bulk.go) is
// recorded as a run of kind "bulk" — the one write to the store this
// package makes (RunWriter, which the store satisfies) — and its rules are
// the directory's (Service.Bulk); the safety brake is reconcile.Hold.
package admin
