package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/store"
)

var _ store.ConsoleSessions = (*DB)(nil)

const consoleSessionCols = `hash, version, csrf, name, tenant, read_only, card_id, created_at, seen_at, flash, nonce, pending`

func scanConsoleSession(sc scanner) (store.ConsoleSession, error) {
	var (
		s             store.ConsoleSession
		readOnly      int64
		created, seen sql.NullInt64
		nonce         sql.NullString
		pending       []byte
	)
	err := sc.Scan(&s.Hash, &s.Version, &s.CSRF, &s.Name, &s.Tenant, &readOnly, &s.CardID, &created, &seen, &s.Flash, &nonce, &pending)
	s.ReadOnly, s.Nonce, s.Pending = readOnly != 0, nonce.String, pending
	s.CreatedAt, s.SeenAt = fromMicros(created), fromMicros(seen)
	return s, err
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// CreateConsoleSession implements store.ConsoleSessions.
func (s *DB) CreateConsoleSession(ctx context.Context, cs store.ConsoleSession) error {
	err := s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `INSERT INTO console_sessions (`+consoleSessionCols+`)
			VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, cs.Hash, cs.CSRF, cs.Name, cs.Tenant, boolInt(cs.ReadOnly), cs.CardID,
			micros(cs.CreatedAt), micros(cs.SeenAt), cs.Flash, nullString(cs.Nonce, cs.Nonce != ""), cs.Pending)
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing console session: %w", err))
	}
	return nil
}

func (s *DB) getConsoleSession(ctx context.Context, where string, arg any) (store.ConsoleSession, error) {
	cs, err := scanConsoleSession(s.queryRowContext(ctx, `SELECT `+consoleSessionCols+` FROM console_sessions WHERE `+where+` = $1`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return cs, store.ErrNotFound
	}
	if err != nil {
		return cs, s.d.MapError(fmt.Errorf("reading console session: %w", err))
	}
	return cs, nil
}

// GetConsoleSession implements store.ConsoleSessions.
func (s *DB) GetConsoleSession(ctx context.Context, hash string) (store.ConsoleSession, error) {
	return s.getConsoleSession(ctx, "hash", hash)
}

// ConsoleSessionByNonce implements store.ConsoleSessions.
func (s *DB) ConsoleSessionByNonce(ctx context.Context, nonce string) (store.ConsoleSession, error) {
	if nonce == "" {
		return store.ConsoleSession{}, store.ErrNotFound
	}
	return s.getConsoleSession(ctx, "nonce", nonce)
}

// UpdateConsoleSession implements store.ConsoleSessions.
func (s *DB) UpdateConsoleSession(ctx context.Context, cs store.ConsoleSession) (store.ConsoleSession, error) {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, `UPDATE console_sessions SET version = version + 1, csrf = $3, name = $4, tenant = $5,
			read_only = $6, card_id = $7, seen_at = $8, flash = $9, nonce = $10, pending = $11 WHERE hash = $1 AND version = $2`,
			cs.Hash, cs.Version, cs.CSRF, cs.Name, cs.Tenant, boolInt(cs.ReadOnly), cs.CardID, micros(cs.SeenAt), cs.Flash,
			nullString(cs.Nonce, cs.Nonce != ""), cs.Pending)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return cs, s.d.MapError(fmt.Errorf("updating console session: %w", err))
	}
	if n == 0 {
		if _, err := s.GetConsoleSession(ctx, cs.Hash); err != nil {
			return cs, err
		}
		return cs, store.ErrConflict
	}
	cs.Version++
	return cs, nil
}

// DeleteConsoleSession implements store.ConsoleSessions.
func (s *DB) DeleteConsoleSession(ctx context.Context, hash string) error {
	err := s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `DELETE FROM console_sessions WHERE hash = $1`, hash)
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("deleting console session: %w", err))
	}
	return nil
}

// PruneConsoleSessions implements store.ConsoleSessions.
func (s *DB) PruneConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, `DELETE FROM console_sessions WHERE seen_at < $1 OR created_at < $2`,
			idleBefore.UnixMicro(), createdBefore.UnixMicro())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, s.d.MapError(fmt.Errorf("pruning console sessions: %w", err))
	}
	return n, nil
}
