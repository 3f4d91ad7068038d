// Package store defines the persistence the directory service needs — the
// Store and Tx interfaces, the records (Card, Claim, AuditEvent, Event,
// OutboxMessage, Credential) and the sentinel errors every backend maps its
// driver errors onto (ErrNotFound, ErrAlreadyExists, ErrConflict,
// ErrSchemaBehind).
//
// It knows no policy: who is enabled, what a status means and when an
// invite is due are the directory's. Backends: store/sqlite (the embedded
// default) and store/postgres, both passing store/storetest.
//
// Read Store and Tx first.
package store
