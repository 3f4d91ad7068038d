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
// Limits of the store it works around, until the store offers them:
//   - the audit trail is read per card (Store.ListAudit), so GET …/audit
//     requires card; a query across cards by actor and time is needed;
//   - GET …/cards/stats pages through every card and derives each status
//     (O(cards)); a count per status query is needed;
//   - the export reads each card's claims for its sources column unless the
//     directory offers ClaimsOfCards (one query per page).
package admin
