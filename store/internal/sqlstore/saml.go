package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/store"
)

// The SAML service provider's rows: single statements outside InTx, each
// atomic by itself, so that the replay check and the single use of a login
// code hold across replicas without a transaction around them.

// RememberAssertion implements store.SAMLStore. The insert that meets an
// existing row does nothing, and the affected row count tells the caller
// whether the id was new.
func (s *DB) RememberAssertion(ctx context.Context, tenant, assertionID string, expires time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(assertionID))
	res, err := s.SQL.ExecContext(ctx, `INSERT INTO saml_assertions (tenant, id_hash, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, id_hash) DO NOTHING`, tenant, hex.EncodeToString(sum[:]), expires.UnixMicro())
	if err != nil {
		return false, s.d.MapError(fmt.Errorf("recording assertion id: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("recording assertion id: %w", err)
	}
	return n == 1, nil
}

// PutLoginCode implements store.SAMLStore.
func (s *DB) PutLoginCode(ctx context.Context, c store.LoginCode) error {
	_, err := s.SQL.ExecContext(ctx, `INSERT INTO saml_login_codes (hash, tenant, card_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, c.Hash, c.Tenant, c.CardID, c.Created.UnixMicro(), c.Expires.UnixMicro())
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing login code: %w", err))
	}
	return nil
}

// RedeemLoginCode implements store.SAMLStore: one UPDATE … RETURNING both
// checks and marks, so of two concurrent redemptions exactly one matches.
func (s *DB) RedeemLoginCode(ctx context.Context, hash string, now time.Time) (store.LoginCode, error) {
	var (
		c                store.LoginCode
		created, expires int64
		redeemed         sql.NullInt64
	)
	err := s.queryRowContext(ctx, `UPDATE saml_login_codes SET redeemed_at = $2
		WHERE hash = $1 AND redeemed_at IS NULL AND expires_at > $2
		RETURNING hash, tenant, card_id, created_at, expires_at, redeemed_at`, hash, now.UnixMicro()).
		Scan(&c.Hash, &c.Tenant, &c.CardID, &created, &expires, &redeemed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, s.d.MapError(fmt.Errorf("redeeming login code: %w", err))
	}
	c.Created, c.Expires, c.RedeemedAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC(), fromMicros(redeemed)
	return c, nil
}

// SAMLKeyPair implements store.SAMLStore.
func (s *DB) SAMLKeyPair(ctx context.Context, name string) (store.SAMLKeyPair, error) {
	var (
		p        store.SAMLKeyPair
		key, crt string
		created  int64
	)
	err := s.queryRowContext(ctx, `SELECT name, key_pem, cert_pem, created_at FROM saml_key_pairs WHERE name = $1`, name).
		Scan(&p.Name, &key, &crt, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return p, store.ErrNotFound
	}
	if err != nil {
		return p, s.d.MapError(fmt.Errorf("reading SAML key pair %q: %w", name, err))
	}
	p.KeyPEM, p.CertPEM, p.Created = []byte(key), []byte(crt), time.UnixMicro(created).UTC()
	return p, nil
}

// PutSAMLKeyPair implements store.SAMLStore.
func (s *DB) PutSAMLKeyPair(ctx context.Context, p store.SAMLKeyPair) (store.SAMLKeyPair, error) {
	_, err := s.SQL.ExecContext(ctx, `INSERT INTO saml_key_pairs (name, key_pem, cert_pem, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO NOTHING`, p.Name, string(p.KeyPEM), string(p.CertPEM), p.Created.UnixMicro())
	if err != nil {
		return store.SAMLKeyPair{}, s.d.MapError(fmt.Errorf("storing SAML key pair %q: %w", p.Name, err))
	}
	return s.SAMLKeyPair(ctx, p.Name)
}

// SAMLKeyPairNames implements store.SAMLStore.
func (s *DB) SAMLKeyPairNames(ctx context.Context) ([]string, error) {
	rows, err := s.queryContext(ctx, `SELECT name FROM saml_key_pairs ORDER BY name`)
	out, err := collect(rows, err, func(sc scanner) (string, error) {
		var n string
		return n, sc.Scan(&n)
	})
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing SAML key pairs: %w", err))
	}
	return out, nil
}

// ReplaceSAMLKey implements store.SAMLStore.
func (s *DB) ReplaceSAMLKey(ctx context.Context, name string, old, key []byte) (bool, error) {
	res, err := s.SQL.ExecContext(ctx, `UPDATE saml_key_pairs SET key_pem = $1 WHERE name = $2 AND key_pem = $3`, string(key), name, string(old))
	if err != nil {
		return false, s.d.MapError(fmt.Errorf("replacing SAML key %q: %w", name, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replacing SAML key %q: %w", name, err)
	}
	if n == 0 {
		if _, err := s.SAMLKeyPair(ctx, name); err != nil {
			return false, err
		}
	}
	return n == 1, nil
}

// PurgeSAML implements store.SAMLStore.
func (s *DB) PurgeSAML(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM saml_assertions WHERE expires_at <= $1`,
		`DELETE FROM saml_login_codes WHERE expires_at <= $1`,
	} {
		res, err := s.SQL.ExecContext(ctx, q, now.UnixMicro())
		if err != nil {
			return total, s.d.MapError(fmt.Errorf("purging SAML rows: %w", err))
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
