package directory

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// MinInviteKeyLen is the shortest invite key accepted, in bytes.
const MinInviteKeyLen = 32

// InviteKey is the secret invite tokens are derived from, so that no
// token is ever stored — not on the card (it keeps the token's hash), and
// not in the outbox row that carries the invite to the mail worker.
//
// An invite's outbox row holds a random seed and the key's id; the token
// is HMAC-SHA256(key, tenant, card id, seed), made again by the worker at
// send time (Token) and put into the link. The rows — a database dump, a
// support query on the outbox — hold nothing that opens an invite without
// the key, which rosterd derives from its secrets key (configuration or
// data directory), never from the database. Every process that queues invites (serve, import, sync
// run) and every one that sends them must hold the same key; a worker
// with another key refuses to send (the link would not work), and says so.
type InviteKey struct {
	key []byte
	id  string
}

// NewInviteKey returns the key made of secret, which must be at least
// MinInviteKeyLen bytes.
func NewInviteKey(secret []byte) (*InviteKey, error) {
	if len(secret) < MinInviteKeyLen {
		return nil, fmt.Errorf("an invite key must be at least %d bytes, got %d", MinInviteKeyLen, len(secret))
	}
	k := &InviteKey{key: append([]byte(nil), secret...)}
	mac := hmac.New(sha256.New, k.key)
	mac.Write([]byte("rosterd invite key id"))
	k.id = hex.EncodeToString(mac.Sum(nil)[:8])
	return k, nil
}

// NewRandomInviteKey returns a fresh random key, for a process that both
// queues and sends its invites (tests, a Service built without a key).
func NewRandomInviteKey() *InviteKey {
	k, err := NewInviteKey([]byte(rand.Text() + rand.Text()))
	if err != nil {
		panic(err)
	}
	return k
}

// ID names the key without revealing it: the outbox row records it, so
// a worker holding another key can tell.
func (k *InviteKey) ID() string { return k.id }

func (k *InviteKey) derive(tenant, cardID, seed string) string {
	mac := hmac.New(sha256.New, k.key)
	mac.Write([]byte("rosterd invite token\x00" + tenant + "\x00" + cardID + "\x00" + seed))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// mint returns a new seed and the token it stands for.
func (k *InviteKey) mint(tenant, cardID string) (seed, token string) {
	seed = rand.Text()
	return seed, k.derive(tenant, cardID, seed)
}

// Invite key errors of Token.
var (
	// ErrNoInviteSeed: the payload carries neither a seed nor a token (it
	// was sent or given up already, and blanked).
	ErrNoInviteSeed = errors.New("the outbox message has no invite seed")
	// ErrOtherInviteKey: the message was queued under another key.
	ErrOtherInviteKey = errors.New("the outbox message was queued under another invite key")
)

// Token returns the invite token an outbox message of tenant stands for.
// A message queued before tokens were derived carries the token itself.
func (k *InviteKey) Token(tenant string, m InviteMessage) (string, error) {
	switch {
	case m.Token != "":
		return m.Token, nil
	case m.Seed == "":
		return "", ErrNoInviteSeed
	case m.KeyID != k.id:
		return "", fmt.Errorf("%w (key %s; this process holds key %s): give every replica and command the same secrets_key", ErrOtherInviteKey, m.KeyID, k.id)
	}
	return k.derive(tenant, m.CardID, m.Seed), nil
}
