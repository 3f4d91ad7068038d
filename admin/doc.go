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
// Two reads are optional interfaces of Directory, which directory.Service
// has: Stats (GET …/cards/stats as one grouped count) and ClaimsOfCards
// (an export page's claims in one query); a directory without them is
// paged through, or read card by card.
package admin
