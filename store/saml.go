package store

import (
	"context"
	"time"
)

// LoginCode is a one-time code a SAML login hands the platform: the
// platform redeems it once, within its lifetime, for the card. Only its
// hash is stored.
type LoginCode struct {
	// Hash is the hex SHA-256 of the code; the code itself is never stored.
	Hash   string
	Tenant string
	CardID string
	// Created and Expires bound the code's life; RedeemedAt is set by the
	// one redemption that succeeded.
	Created    time.Time
	Expires    time.Time
	RedeemedAt time.Time
}

// SAMLKeyPair is a service provider's signing key and certificate (PEM),
// generated on first start and shared by every replica through the store.
type SAMLKeyPair struct {
	// Name says whose pair it is: the tenant id.
	Name string
	// KeyPEM is the private key as the saml package stores it: sealed
	// (internal/secretbox) under the key-encryption key. A row written
	// before keys were sealed holds the PEM itself until the next start
	// seals it (ReplaceSAMLKey).
	KeyPEM  []byte
	CertPEM []byte
	Created time.Time
}

// SAMLStore is what the SAML service provider keeps in the database rather
// than in process memory, so that every replica behind a load balancer
// sees it: the assertion ids already used, the login codes, and the
// generated key pairs. Part of Store.
type SAMLStore interface {
	// RememberAssertion records an assertion id of a tenant's IdP until
	// expires. It returns false, and records nothing, when the id was
	// recorded before and has not been purged: the assertion is a replay.
	RememberAssertion(ctx context.Context, tenant, assertionID string, expires time.Time) (bool, error)
	// PutLoginCode stores a new login code (by hash).
	PutLoginCode(ctx context.Context, c LoginCode) error
	// RedeemLoginCode marks the code with this hash redeemed at now and
	// returns it, once: a code unknown, already redeemed, or expired at now
	// is ErrNotFound. The check and the mark are one statement, so two
	// replicas redeeming one code at once cannot both succeed.
	RedeemLoginCode(ctx context.Context, hash string, now time.Time) (LoginCode, error)
	// SAMLKeyPair returns the stored key pair of that name, or ErrNotFound.
	SAMLKeyPair(ctx context.Context, name string) (SAMLKeyPair, error)
	// PutSAMLKeyPair stores p unless a pair of that name exists, and
	// returns the pair that is stored: replicas starting at once each
	// generate one, and all of them end up using the first one written.
	PutSAMLKeyPair(ctx context.Context, p SAMLKeyPair) (SAMLKeyPair, error)
	// ReplaceSAMLKey sets the key of the pair of that name to key if it
	// is still old, and reports whether it was: replicas sealing one
	// plaintext key at once do not overwrite each other. No pair of that
	// name is ErrNotFound.
	ReplaceSAMLKey(ctx context.Context, name string, old, key []byte) (bool, error)
	// SAMLKeyPairNames returns the names of every stored key pair, for a
	// rotation of the key-encryption key.
	SAMLKeyPairNames(ctx context.Context) ([]string, error)
	// PurgeSAML deletes assertion ids and login codes that expired before
	// now and returns how many rows went.
	PurgeSAML(ctx context.Context, now time.Time) (int64, error)
}
