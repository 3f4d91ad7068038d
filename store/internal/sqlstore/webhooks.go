package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

// The webhook dispatcher's statements: one each, outside InTx. Writes take
// the process's single writer on SQLite, like the outbox's.

// WebhookCursor implements store.Webhooks.
func (s *DB) WebhookCursor(ctx context.Context, endpoint, tenant string) (store.EventCursor, error) {
	var c string
	err := s.queryRowContext(ctx, `SELECT cursor FROM webhook_cursors WHERE endpoint = $1 AND tenant = $2`, endpoint, tenant).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return store.EventCursor{}, nil
	}
	if err != nil {
		return store.EventCursor{}, s.d.MapError(fmt.Errorf("reading webhook cursor: %w", err))
	}
	return store.ParseEventCursor(c)
}

// SetWebhookCursor implements store.Webhooks.
func (s *DB) SetWebhookCursor(ctx context.Context, endpoint, tenant string, c store.EventCursor, now time.Time) error {
	err := s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `INSERT INTO webhook_cursors (endpoint, tenant, cursor, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (endpoint, tenant) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			endpoint, tenant, c.String(), now.UnixMicro())
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing webhook cursor: %w", err))
	}
	return nil
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

func splitIDs(s string) []int64 {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]int64, 0, len(parts))
	for _, p := range parts {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// RecordWebhookDelivery implements store.Webhooks.
func (s *DB) RecordWebhookDelivery(ctx context.Context, d store.WebhookDelivery) (int64, error) {
	id := d.ID
	err := s.exclusive(ctx, func() error {
		if d.ID != 0 {
			_, err := s.SQL.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5, last_attempt_at = $6
				WHERE id = $1`, d.ID, d.Status, d.Attempts, d.LastStatus, d.LastError, d.LastAttempt.UnixMicro())
			return err
		}
		return s.queryRowContext(ctx, `INSERT INTO webhook_deliveries (endpoint, tenant, event_ids, first_cursor, last_cursor, status, attempts,
				last_status, last_error, first_attempt_at, last_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			d.Endpoint, d.Tenant, joinIDs(d.EventIDs), d.First.String(), d.Last.String(), d.Status, d.Attempts,
			d.LastStatus, d.LastError, d.FirstAttempt.UnixMicro(), d.LastAttempt.UnixMicro()).Scan(&id)
	})
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("recording webhook delivery: %w", err))
	}
	return id, nil
}

// ListWebhookDeliveries implements store.Webhooks.
func (s *DB) ListWebhookDeliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where, args := []string{"tenant = $1"}, []any{q.Tenant}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Status != "" {
		add("status = $%d", q.Status)
	}
	if q.Endpoint != "" {
		add("endpoint = $%d", q.Endpoint)
	}
	if q.BeforeID > 0 {
		add("id < $%d", q.BeforeID)
	}
	args = append(args, q.Limit)
	rows, err := s.queryContext(ctx, `SELECT id, endpoint, tenant, event_ids, first_cursor, last_cursor, status, attempts, last_status,
		last_error, first_attempt_at, last_attempt_at FROM webhook_deliveries WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing webhook deliveries: %w", err))
	}
	defer rows.Close()
	var out []store.WebhookDelivery
	for rows.Next() {
		var (
			d             store.WebhookDelivery
			ids, fc, lc   string
			first, latest sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.Endpoint, &d.Tenant, &ids, &fc, &lc, &d.Status, &d.Attempts, &d.LastStatus,
			&d.LastError, &first, &latest); err != nil {
			return nil, err
		}
		d.EventIDs = splitIDs(ids)
		d.First, _ = store.ParseEventCursor(fc)
		d.Last, _ = store.ParseEventCursor(lc)
		d.FirstAttempt, d.LastAttempt = fromMicros(first), fromMicros(latest)
		out = append(out, d)
	}
	return out, rows.Err()
}

// PruneWebhookDeliveries implements store.Webhooks.
func (s *DB) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE last_attempt_at < $1`, before.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("pruning webhook deliveries: %w", err))
	}
	return int(n), nil
}

// CountEventsAfter implements store.Webhooks: the rows EventsAfter would
// hand out, counted up to limit through the feed's index.
func (s *DB) CountEventsAfter(ctx context.Context, tenant string, after store.EventCursor, limit int) (int, error) {
	if limit <= 0 {
		limit = 10000
	}
	var txArg any = int64(after.TxID)
	txid, visible := "$2", ""
	if s.d.Arrays {
		txArg, txid = strconv.FormatUint(after.TxID, 10), "$2::xid8"
		visible = " AND txid < pg_snapshot_xmin(pg_current_snapshot())"
	}
	var n int
	err := s.queryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM events
		WHERE tenant = $1 AND (txid, id) > (`+txid+`, $3)`+visible+` LIMIT $4) AS backlog`,
		tenant, txArg, after.ID, limit).Scan(&n)
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("counting events: %w", err))
	}
	return n, nil
}
