// Package admin is the admin REST API under /api/v1/: JSON over HTTP,
// authenticated by admin API keys (Authorization: Bearer <key>), read-only
// keys limited to reading.
//
// It decodes, checks and answers; every change goes through the directory
// service, and no business rule lives here. Read API first, then its
// routes in Mount.
//
// So far it serves the tenant list, which is how an operator checks that a
// key works; cards, feeds, runs and audit follow.
package admin
