// Package credential mints, hashes and checks the secrets rosterd accepts:
// admin API keys and SCIM bearer tokens.
//
// A secret is shown once, when it is made, and kept only as its SHA-256:
// the database never holds a usable token (as SSOReady does). Secrets
// from the configuration file are hashed at start and kept in memory as
// hashes too. Checking compares hashes in constant time.
//
// Read Keyring first.
package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/store"
)

// Prefixes make a leaked secret recognisable to secret scanners and people.
const (
	AdminKeyPrefix  = "rsk_"
	SCIMTokenPrefix = "rst_"
)

// Generate returns a new random secret of 256 bits with the given prefix.
func Generate(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash returns the hex SHA-256 of a secret. Secrets are random and long, so
// a fast unsalted hash is what makes sense (as for GitHub's tokens): there
// is no password to guess.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Static is a credential from the configuration file.
type Static struct {
	Kind     string
	Tenant   string
	Name     string
	Secret   string
	ReadOnly bool
	Scopes   []string
}

// Keyring checks presented secrets against the configured ones and those
// kept in the store.
type Keyring struct {
	store  store.Store
	static []store.Credential
}

// NewKeyring hashes the configured secrets; the plain values are not kept.
func NewKeyring(st store.Store, static []Static) *Keyring {
	k := &Keyring{store: st}
	for _, s := range static {
		k.static = append(k.static, store.Credential{Kind: s.Kind, Tenant: s.Tenant, Name: s.Name, Hash: Hash(s.Secret), ReadOnly: s.ReadOnly, Scopes: s.Scopes, Origin: "config"})
	}
	return k
}

// ErrInvalid: the secret matches no credential of that kind.
var ErrInvalid = errors.New("invalid credential")

// Check returns the credential of kind that secret belongs to.
func (k *Keyring) Check(ctx context.Context, kind, secret string) (store.Credential, error) {
	if secret == "" {
		return store.Credential{}, ErrInvalid
	}
	h := Hash(secret)
	// Compare with every configured hash, without stopping at a match, so
	// the time taken says nothing about which one matched.
	var found store.Credential
	matched := 0
	for _, c := range k.static {
		if c.Kind == kind && subtle.ConstantTimeCompare([]byte(c.Hash), []byte(h)) == 1 {
			found, matched = c, 1
		}
	}
	if matched == 1 {
		return found, nil
	}
	c, err := k.store.FindCredential(ctx, kind, h)
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, ErrInvalid
	}
	if err != nil {
		return store.Credential{}, err
	}
	// The lookup was by hash; compare once more in constant time so that a
	// store that matched loosely (collation, prefix) cannot let a wrong
	// secret through.
	if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(h)) != 1 {
		return store.Credential{}, ErrInvalid
	}
	return c, nil
}

// Has reports whether any credential of kind exists for tenant ("" for
// admin keys), configured or stored.
func (k *Keyring) Has(ctx context.Context, kind, tenant string) (bool, error) {
	for _, c := range k.static {
		if c.Kind == kind && c.Tenant == tenant {
			return true, nil
		}
	}
	n, err := k.store.CountCredentials(ctx, kind, tenant)
	return n > 0, err
}

// Create mints a secret, stores its hash and returns the secret, which is
// not kept anywhere else: the caller shows it once.
func (k *Keyring) Create(ctx context.Context, kind, tenant, name, origin string, readOnly bool, now time.Time) (string, error) {
	secret, err := Generate(PrefixOf(kind))
	if err != nil {
		return "", err
	}
	if err := k.Add(ctx, kind, tenant, name, origin, secret, readOnly, now); err != nil {
		return "", err
	}
	return secret, nil
}

// PrefixOf returns the prefix of a generated secret of kind.
func PrefixOf(kind string) string {
	if kind == store.SCIMToken {
		return SCIMTokenPrefix
	}
	return AdminKeyPrefix
}

// Add stores the hash of secret, one made with Generate, as a credential
// of kind. A caller that must hand the secret over before it works (the
// bootstrap secrets) generates it, delivers it, then adds it.
func (k *Keyring) Add(ctx context.Context, kind, tenant, name, origin, secret string, readOnly bool, now time.Time) error {
	return k.AddScoped(ctx, kind, tenant, name, origin, secret, readOnly, nil, now)
}

// AddScoped is Add of a credential with scopes (store.ScopeOperator).
func (k *Keyring) AddScoped(ctx context.Context, kind, tenant, name, origin, secret string, readOnly bool, scopes []string, now time.Time) error {
	if secret == "" {
		return errors.New("credential: empty secret")
	}
	return k.store.PutCredential(ctx, store.Credential{ID: uuid.NewString(), Kind: kind, Tenant: tenant, Name: name,
		Hash: Hash(secret), ReadOnly: readOnly, Scopes: scopes, Origin: origin, Created: now})
}

// ErrConfigured: a credential of the configuration file, which only the
// file can remove.
var ErrConfigured = errors.New("credential: declared in the configuration file")

// List returns the credentials of kind, the file's first (their ids are
// "config:NAME"), without their hashes' use: what the admin API shows.
func (k *Keyring) List(ctx context.Context, kind string) ([]store.Credential, error) {
	var out []store.Credential
	for _, c := range k.static {
		if c.Kind == kind {
			c.ID = "config:" + c.Name
			out = append(out, c)
		}
	}
	stored, err := k.store.ListCredentials(ctx, kind)
	if err != nil {
		return nil, err
	}
	return append(out, stored...), nil
}

// Revoke removes a stored credential: it stops working at once on every
// replica (each check reads the store). A credential of the file is
// ErrConfigured.
func (k *Keyring) Revoke(ctx context.Context, id string) error {
	for _, c := range k.static {
		if "config:"+c.Name == id {
			return ErrConfigured
		}
	}
	return k.store.DeleteCredential(ctx, id)
}
