package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
)

// LoginCodePrefix marks login codes for secret scanners and people.
const LoginCodePrefix = "rlc_"

// ErrInvalidCode: a login code unknown, spent, expired, or of another
// tenant. It wraps store.ErrNotFound.
var ErrInvalidCode = fmt.Errorf("login code is not valid: %w", store.ErrNotFound)

// MintLoginCode makes a one-time login code for a card that has just
// logged in (SAML) or accepted an invite: LoginCodePrefix and 256 random
// bits, of which only the SHA-256 is stored, valid for ttl. The platform
// redeems it once (RedeemLoginCode).
func (s *Service) MintLoginCode(ctx context.Context, tenant, cardID string, ttl time.Duration) (string, error) {
	code, err := credential.Generate(LoginCodePrefix)
	if err != nil {
		return "", err
	}
	now := s.Now()
	err = s.store.PutLoginCode(ctx, store.LoginCode{Hash: credential.Hash(code), Tenant: tenant, CardID: cardID, Created: now, Expires: now.Add(ttl)})
	if err != nil {
		return "", err
	}
	return code, nil
}

// RedeemLoginCode spends a login code and returns its card. tenant, when
// not empty, must be the code's. A code is spent once, whatever follows:
// a card disabled since the login is refused with ErrDisabled (LoginCard).
func (s *Service) RedeemLoginCode(ctx context.Context, code, tenant string) (Card, error) {
	if !strings.HasPrefix(code, LoginCodePrefix) || len(code) > 200 {
		return Card{}, ErrInvalidCode
	}
	lc, err := s.store.RedeemLoginCode(ctx, credential.Hash(code), s.Now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && tenant != "" && lc.Tenant != tenant) {
		return Card{}, ErrInvalidCode
	}
	if err != nil {
		return Card{}, err
	}
	return s.LoginCard(ctx, lc.Tenant, lc.CardID)
}

// AuditLoginRefusal writes the audit line of a login refused before it
// reached a card (a bad signature, a replay, an assertion out of its time):
// RecordLogin audits the refusals that reach one. reason is the SAML
// service provider's short reason ("bad_signature", "replay", …).
func (s *Service) AuditLoginRefusal(ctx context.Context, tenant, reason, detail string) error {
	if _, err := s.Policy(tenant); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx store.Tx) error {
		return tx.Write(ctx, store.Changes{Audit: []store.AuditEvent{{Tenant: tenant, At: s.Now(), Actor: KindSAML,
			Source: KindSAML, Action: "login.refused", Detail: reason + ": " + detail}}})
	})
}
