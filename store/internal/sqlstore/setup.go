package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterd/rosterd/store"
)

const setupCols = `id, tenant, token_hash, parts, created_by, created_at, expires_at, revoked_at, session_hash, redeemed_at`

func scanSetupLink(sc scanner) (store.SetupLink, error) {
	var (
		l                                   store.SetupLink
		parts                               string
		session                             sql.NullString
		created, expires, revoked, redeemed sql.NullInt64
	)
	err := sc.Scan(&l.ID, &l.Tenant, &l.TokenHash, &parts, &l.CreatedBy, &created, &expires, &revoked, &session, &redeemed)
	l.Parts = strings.Fields(parts)
	l.SessionHash = session.String
	l.CreatedAt, l.ExpiresAt, l.RevokedAt, l.RedeemedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked), fromMicros(redeemed)
	return l, err
}

// PutSetupLink implements store.SetupLinks.
func (s *DB) PutSetupLink(ctx context.Context, l store.SetupLink) error {
	err := s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `INSERT INTO setup_links (id, tenant, token_hash, parts, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, l.ID, l.Tenant, l.TokenHash, strings.Join(l.Parts, " "), l.CreatedBy, micros(l.CreatedAt), micros(l.ExpiresAt))
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing setup link: %w", err))
	}
	return nil
}

// ListSetupLinks implements store.SetupLinks.
func (s *DB) ListSetupLinks(ctx context.Context, tenant string) ([]store.SetupLink, error) {
	rows, err := s.queryContext(ctx, `SELECT `+setupCols+` FROM setup_links WHERE tenant = $1 ORDER BY created_at DESC, id`, tenant)
	out, err := collect(rows, err, scanSetupLink)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing setup links: %w", err))
	}
	return out, nil
}

// RevokeSetupLink implements store.SetupLinks.
func (s *DB) RevokeSetupLink(ctx context.Context, tenant, id string, now time.Time) error {
	var n int64
	err := s.exclusive(ctx, func() error {
		res, err := s.SQL.ExecContext(ctx, `UPDATE setup_links SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant = $1 AND id = $2`, tenant, id, micros(now))
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("revoking setup link: %w", err))
	}
	if n == 0 {
		return fmt.Errorf("setup link %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// RedeemSetupLink implements store.SetupLinks.
func (s *DB) RedeemSetupLink(ctx context.Context, tokenHash, sessionHash string, now time.Time) (store.SetupLink, error) {
	var l store.SetupLink
	err := s.exclusive(ctx, func() error {
		var err error
		l, err = scanSetupLink(s.SQL.QueryRowContext(ctx, `UPDATE setup_links SET session_hash = $2, redeemed_at = $3
			WHERE token_hash = $1 AND session_hash IS NULL AND revoked_at IS NULL AND expires_at > $3
			RETURNING `+setupCols, tokenHash, sessionHash, micros(now)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return l, store.ErrNotFound
	}
	if err != nil {
		return l, s.d.MapError(fmt.Errorf("redeeming setup link: %w", err))
	}
	return l, nil
}

// SetupSession implements store.SetupLinks.
func (s *DB) SetupSession(ctx context.Context, sessionHash string, now time.Time) (store.SetupLink, error) {
	l, err := scanSetupLink(s.queryRowContext(ctx, `SELECT `+setupCols+` FROM setup_links
		WHERE session_hash = $1 AND revoked_at IS NULL AND expires_at > $2`, sessionHash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return l, store.ErrNotFound
	}
	if err != nil {
		return l, s.d.MapError(fmt.Errorf("reading setup session: %w", err))
	}
	return l, nil
}
