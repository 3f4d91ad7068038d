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
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	// Now is the clock of last use and of audit lines; default time.Now.
	Now func() time.Time

	// used is when this process last recorded each key's use, so that a
	// key used on every request costs one write a minute, not one per
	// request. A key of the file is remembered here only.
	mu   sync.Mutex
	used map[string]time.Time
}

// TouchInterval is how often a key's last use is written at most.
const TouchInterval = time.Minute

// NewKeyring hashes the configured secrets; the plain values are not kept.
func NewKeyring(st store.Store, static []Static) *Keyring {
	k := &Keyring{store: st, Now: time.Now, used: map[string]time.Time{}}
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
		k.touch(ctx, store.Credential{ID: "config:" + found.Name}, false)
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
	k.touch(ctx, c, true)
	return c, nil
}

// touch records a use of c, at most once per TouchInterval: in memory
// first, then (stored keys) in the store, whose one conditional statement
// keeps replicas from each writing it too. Recording is best effort: a
// failed write does not refuse the request, and is tried again next time.
func (k *Keyring) touch(ctx context.Context, c store.Credential, stored bool) {
	now := k.Now().UTC().Truncate(time.Second)
	k.mu.Lock()
	last, seen := k.used[c.ID]
	if seen && now.Sub(last) < TouchInterval {
		k.mu.Unlock()
		return
	}
	k.used[c.ID] = now
	k.mu.Unlock()
	if !stored {
		return
	}
	if err := k.store.TouchCredential(ctx, c.ID, now, now.Add(-TouchInterval)); err != nil {
		k.mu.Lock()
		if k.used[c.ID].Equal(now) {
			delete(k.used, c.ID)
		}
		k.mu.Unlock()
	}
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
// Its audit line names origin as the actor; AddScopedBy names a person or
// key.
func (k *Keyring) AddScoped(ctx context.Context, kind, tenant, name, origin, secret string, readOnly bool, scopes []string, now time.Time) error {
	_, err := k.AddScopedBy(ctx, Actor{Name: origin, Source: origin}, kind, tenant, name, origin, secret, readOnly, scopes, now)
	return err
}

// Actor is who makes or revokes a credential, for its audit line: an
// admin key's name with source "admin", or "cli".
type Actor struct{ Name, Source string }

// AddScopedBy stores the hash of secret with an audit line of by, in one
// transaction, and returns the credential stored (its id). The audit line
// names the credential's id and name, never its secret or hash.
func (k *Keyring) AddScopedBy(ctx context.Context, by Actor, kind, tenant, name, origin, secret string, readOnly bool, scopes []string, now time.Time) (store.Credential, error) {
	if secret == "" {
		return store.Credential{}, errors.New("credential: empty secret")
	}
	c := store.Credential{ID: uuid.NewString(), Kind: kind, Tenant: tenant, Name: name,
		Hash: Hash(secret), ReadOnly: readOnly, Scopes: scopes, Origin: origin, Created: now}
	err := k.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		return tx.Write(ctx, auditOf(by, c, kind+".created", now, nil, describe(c)))
	})
	return c, err
}

// describe is what an audit line records of a credential: never its
// secret or its hash.
func describe(c store.Credential) []byte {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	b, _ := json.Marshal(map[string]any{"id": c.ID, "kind": c.Kind, "name": c.Name, "tenant": c.Tenant, "read_only": c.ReadOnly, "scopes": scopes, "origin": c.Origin})
	return b
}

func auditOf(by Actor, c store.Credential, action string, now time.Time, before, after []byte) store.Changes {
	actor := by.Name
	if by.Source == "admin" {
		actor = "admin:" + by.Name
	}
	return store.Changes{Audit: []store.AuditEvent{{Tenant: c.Tenant, At: now, Actor: actor, Source: by.Source, Action: action,
		Before: before, After: after, Detail: fmt.Sprintf("%s %s (%s)", c.Kind, c.ID, c.Name)}}}
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
			k.mu.Lock()
			c.LastUsed = k.used[c.ID]
			k.mu.Unlock()
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
	return k.RevokeBy(ctx, Actor{Name: "cli", Source: "cli"}, id)
}

// RevokeBy is Revoke with an audit line of by, in the same transaction.
func (k *Keyring) RevokeBy(ctx context.Context, by Actor, id string) error {
	for _, c := range k.static {
		if "config:"+c.Name == id {
			return ErrConfigured
		}
	}
	now := k.Now().UTC()
	return k.store.InTx(ctx, func(tx store.Tx) error {
		c, err := tx.RemoveCredential(ctx, id)
		if err != nil {
			return err
		}
		return tx.Write(ctx, auditOf(by, c, c.Kind+".revoked", now, describe(c), nil))
	})
}
