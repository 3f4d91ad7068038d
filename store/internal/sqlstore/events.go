package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rosterd/rosterd/store"
)

// EventsAfter implements store.Events.
//
// PostgreSQL hands out ids from a sequence as transactions insert, and they
// commit in another order: a reader that paged by id could be handed id 51,
// then see id 50 commit. Ordering by (txid, id) and reading only events of
// transactions older than pg_snapshot_xmin — the oldest one still running —
// means every event a reader could ever see behind its cursor is already
// committed when it reads. Two writers of one card serialize on its row
// lock before either writes, so their transaction ids are in commit order.
func (s *DB) EventsAfter(ctx context.Context, tenant string, after store.EventCursor, limit int) ([]store.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	if !after.IsZero() {
		horizon, err := s.horizon(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if after.Less(horizon) {
			return nil, fmt.Errorf("%w: cursor %s is before %s", store.ErrGone, after, horizon)
		}
	}
	var txArg any = int64(after.TxID)
	txid, visible := "$2", ""
	if s.d.Arrays {
		txArg, txid = strconv.FormatUint(after.TxID, 10), "$2::xid8"
		visible = " AND txid < pg_snapshot_xmin(pg_current_snapshot())"
	}
	// ORDER BY names the table's columns: an output column called txid (the
	// text cast) would sort 1000 before 935.
	rows, err := s.queryContext(ctx, `SELECT id, CAST(txid AS TEXT) AS txid_text, tenant, card_id, type, at, actor, source, data FROM events
		WHERE tenant = $1 AND (txid, id) > (`+txid+`, $3)`+visible+` ORDER BY events.txid, events.id LIMIT $4`,
		tenant, txArg, after.ID, limit)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("reading events: %w", err))
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e        store.Event
			tx, data string
			at       sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &tx, &e.Tenant, &e.CardID, &e.Type, &at, &e.Actor, &e.Source, &data); err != nil {
			return nil, err
		}
		t, err := strconv.ParseUint(tx, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("event %d: txid %q: %w", e.ID, tx, err)
		}
		e.At, e.Data, e.Cursor = fromMicros(at), []byte(data), store.EventCursor{TxID: t, ID: e.ID}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *DB) horizon(ctx context.Context, tenant string) (store.EventCursor, error) {
	var (
		tx string
		id int64
	)
	err := s.queryRowContext(ctx, `SELECT CAST(txid AS TEXT), id FROM event_horizon WHERE tenant = $1`, tenant).Scan(&tx, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return store.EventCursor{}, nil
	}
	if err != nil {
		return store.EventCursor{}, s.d.MapError(fmt.Errorf("reading the event horizon: %w", err))
	}
	t, err := strconv.ParseUint(tx, 10, 64)
	return store.EventCursor{TxID: t, ID: id}, err
}

// PruneEvents implements store.Events.
func (s *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.InTx(ctx, func(t store.Tx) error {
		sqlTx := t.(*tx).tx
		rows, err := sqlTx.QueryContext(ctx, `DELETE FROM events WHERE at < $1 RETURNING tenant, CAST(txid AS TEXT), id`, before.UnixMicro())
		if err != nil {
			return err
		}
		newest := map[string]store.EventCursor{}
		for rows.Next() {
			var (
				tenant, tx string
				id         int64
			)
			if err := rows.Scan(&tenant, &tx, &id); err != nil {
				rows.Close()
				return err
			}
			txid, _ := strconv.ParseUint(tx, 10, 64)
			c := store.EventCursor{TxID: txid, ID: id}
			if old, ok := newest[tenant]; !ok || old.Less(c) {
				newest[tenant] = c
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		txCast := "$2"
		for tenant, c := range newest {
			var txArg any = int64(c.TxID)
			if s.d.Arrays {
				txCast, txArg = "$2::xid8", strconv.FormatUint(c.TxID, 10)
			}
			if _, err := sqlTx.ExecContext(ctx, `INSERT INTO event_horizon (tenant, txid, id) VALUES ($1, `+txCast+`, $3)
				ON CONFLICT (tenant) DO UPDATE SET txid = excluded.txid, id = excluded.id`,
				tenant, txArg, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("pruning events: %w", err))
	}
	return n, nil
}
