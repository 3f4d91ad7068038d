package store

import (
	"context"
	"time"
)

// Outbox row statuses. A row is written pending by the change that needs
// it (in that change's transaction) and ends sent or dead; it is never
// deleted by the worker, so the history of what left stays readable.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxDead    = "dead"
)

// ClaimedMessage is an outbox row a worker has leased for one attempt.
type ClaimedMessage struct {
	OutboxMessage
	// Attempts is how many attempts failed before this one.
	Attempts int
	// LastError is the previous attempt's error ("" on the first).
	LastError string
	// LeasedUntil is when the lease ends: past it, another worker may
	// claim the row again.
	LeasedUntil time.Time
}

// Outbox is the delivery side of the outbox: the workers that send what
// committed changes queued. Every method is one statement outside InTx,
// atomic by itself, and safe with several replicas sharing one database:
// Claim leases rows (FOR UPDATE SKIP LOCKED on PostgreSQL, the
// process's single writer on SQLite), so two workers never hold one row at
// once. Part of Store.
type Outbox interface {
	// ClaimOutbox leases up to limit pending messages of these kinds that
	// are due at now (next attempt at or before now) and not leased by
	// another worker, oldest first, until now+lease.
	ClaimOutbox(ctx context.Context, kinds []string, now time.Time, limit int, lease time.Duration) ([]ClaimedMessage, error)
	// MarkOutboxSent records a delivery at now and replaces the payload by
	// scrubbed (the payload without its secrets, such as an invite token);
	// nil keeps the payload.
	MarkOutboxSent(ctx context.Context, id int64, now time.Time, scrubbed []byte) error
	// MarkOutboxRetry records a failed attempt: the message stays pending,
	// with attempts failures so far, due again at next.
	MarkOutboxRetry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error
	// MarkOutboxDead gives a message up after attempts failures; scrubbed
	// as in MarkOutboxSent.
	MarkOutboxDead(ctx context.Context, id int64, attempts int, lastErr string, scrubbed []byte) error
	// OutboxBacklog counts the pending messages of these kinds and returns
	// the creation time of the oldest (zero when none).
	OutboxBacklog(ctx context.Context, kinds []string) (count int, oldest time.Time, err error)
	// OutboxStatus returns a message's status, attempts and last error.
	OutboxStatus(ctx context.Context, id int64) (status string, attempts int, lastErr string, err error)
	// AppendAudit appends audit lines that belong to no card change (a
	// message given up, a refused login that reached no card). Changes to
	// cards write theirs through Tx.Write, in the change's transaction.
	AppendAudit(ctx context.Context, events []AuditEvent) error
}
