package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rosterd/rosterd/store"
)

// The outbox worker's statements. Each is one statement outside InTx: a
// claim is an UPDATE … RETURNING that sets the lease of the rows it picks,
// so the pick and the lease are atomic. On PostgreSQL the pick locks its
// rows FOR UPDATE SKIP LOCKED: a replica claiming at the same moment skips
// the rows another is leasing instead of waiting for it and then finding
// them leased. SQLite has no row locks; the process's single writer (the
// same token InTx takes) orders claims, and SQLite's database lock orders
// processes.

// skipLocked is the dialect's clause for reads that lock rows another
// transaction may hold: " FOR UPDATE SKIP LOCKED" where the dialect locks
// rows at all.
func (d Dialect) skipLocked() string {
	if d.ForUpdate == "" {
		return ""
	}
	return d.ForUpdate + " SKIP LOCKED"
}

// ClaimOutbox implements store.Outbox.
func (s *DB) ClaimOutbox(ctx context.Context, kinds []string, now time.Time, limit int, lease time.Duration) ([]store.ClaimedMessage, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	until := now.Add(lease)
	in, args := s.d.in("kind", kinds, until.UnixMicro(), now.UnixMicro(), limit)
	query := `UPDATE outbox SET locked_until = $1
		WHERE id IN (SELECT id FROM outbox
			WHERE status = 'pending' AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2) AND ` + in + `
			ORDER BY id LIMIT $3` + s.d.skipLocked() + `)
		RETURNING id, tenant, card_id, kind, payload, created_at, attempts, last_error, locked_until`
	var out []store.ClaimedMessage
	err := s.exclusive(ctx, func() error {
		rows, err := s.queryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				m                    store.ClaimedMessage
				payload              string
				created, leasedUntil sql.NullInt64
			)
			if err := rows.Scan(&m.ID, &m.Tenant, &m.CardID, &m.Kind, &payload, &created, &m.Attempts, &m.LastError, &leasedUntil); err != nil {
				return err
			}
			m.Payload, m.Created, m.LeasedUntil = []byte(payload), fromMicros(created), fromMicros(leasedUntil)
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("claiming outbox messages: %w", err))
	}
	// RETURNING gives no order; deliver oldest first.
	slices.SortFunc(out, func(a, b store.ClaimedMessage) int { return int(a.ID - b.ID) })
	return out, nil
}

// updateOutbox runs one UPDATE of a row by id; ErrNotFound when no row has it.
func (s *DB) updateOutbox(ctx context.Context, what string, query string, args ...any) error {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("%s: %w", what, err))
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// MarkOutboxSent implements store.Outbox.
func (s *DB) MarkOutboxSent(ctx context.Context, id int64, now time.Time, scrubbed []byte) error {
	return s.updateOutbox(ctx, "marking outbox message sent", `UPDATE outbox
		SET status = 'sent', sent_at = $2, payload = COALESCE($3, payload), locked_until = NULL, last_error = ''
		WHERE id = $1`, id, now.UnixMicro(), payloadArg(scrubbed))
}

// MarkOutboxRetry implements store.Outbox.
func (s *DB) MarkOutboxRetry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	return s.updateOutbox(ctx, "rescheduling outbox message", `UPDATE outbox
		SET attempts = $2, next_attempt_at = $3, last_error = $4, locked_until = NULL
		WHERE id = $1 AND status = 'pending'`, id, attempts, next.UnixMicro(), lastErr)
}

// MarkOutboxDead implements store.Outbox.
func (s *DB) MarkOutboxDead(ctx context.Context, id int64, attempts int, lastErr string, scrubbed []byte) error {
	return s.updateOutbox(ctx, "giving up outbox message", `UPDATE outbox
		SET status = 'dead', attempts = $2, last_error = $3, payload = COALESCE($4, payload), locked_until = NULL
		WHERE id = $1 AND status = 'pending'`, id, attempts, lastErr, payloadArg(scrubbed))
}

func payloadArg(p []byte) any {
	if p == nil {
		return nil
	}
	return string(p)
}

// OutboxBacklog implements store.Outbox.
func (s *DB) OutboxBacklog(ctx context.Context, kinds []string) (int, time.Time, error) {
	if len(kinds) == 0 {
		return 0, time.Time{}, nil
	}
	in, args := s.d.in("kind", kinds)
	var (
		n      int
		oldest sql.NullInt64
	)
	err := s.queryRowContext(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending' AND `+in, args...).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, s.d.MapError(fmt.Errorf("counting the outbox backlog: %w", err))
	}
	return n, fromMicros(oldest), nil
}

// OutboxStatus implements store.Outbox.
func (s *DB) OutboxStatus(ctx context.Context, id int64) (string, int, string, error) {
	var (
		status, lastErr string
		attempts        int
	)
	err := s.queryRowContext(ctx, `SELECT status, attempts, last_error FROM outbox WHERE id = $1`, id).Scan(&status, &attempts, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, "", store.ErrNotFound
	}
	if err != nil {
		return "", 0, "", s.d.MapError(fmt.Errorf("reading outbox message: %w", err))
	}
	return status, attempts, lastErr, nil
}

// AppendAudit implements store.Outbox: the same append Tx.Write does, in
// a transaction of its own.
func (s *DB) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Audit: events}) })
}
