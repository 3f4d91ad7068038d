package store

import (
	"context"
	"time"
)

// ConsoleSession is one browser's session of the web console, kept in the
// store so that a restart or another replica keeps it. Only the SHA-256
// of the session id (the cookie) is kept.
type ConsoleSession struct {
	// Hash is the hex SHA-256 of the session id.
	Hash string
	// Version counts the writes; UpdateConsoleSession compares it.
	Version int64
	// CSRF is the session's form token.
	CSRF string
	// Name, Tenant and ReadOnly say who is signed in (Name empty: nobody,
	// a sign-in form's session); Tenant empty for every tenant. CardID is
	// the card of a person signed in with SSO ("" for an admin key).
	Name, Tenant string
	ReadOnly     bool
	CardID       string
	CreatedAt    time.Time
	SeenAt       time.Time
	// Flash is a one-time message for the next page.
	Flash string
	// Nonce and Pending: the SAML login the session started and waits
	// for (the console's JSON), found by Nonce when the SP hands it back.
	Nonce   string
	Pending []byte
}

// ConsoleSessions keeps the console's sessions; every method is one
// statement outside InTx. Part of Store.
type ConsoleSessions interface {
	// CreateConsoleSession stores a new session (Version 1).
	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// GetConsoleSession returns a session by its hash; ErrNotFound if none.
	GetConsoleSession(ctx context.Context, hash string) (ConsoleSession, error)
	// ConsoleSessionByNonce returns the session waiting on nonce;
	// ErrNotFound if none.
	ConsoleSessionByNonce(ctx context.Context, nonce string) (ConsoleSession, error)
	// UpdateConsoleSession writes s over the stored session if that is
	// still at s.Version, and returns it at the next version; ErrConflict
	// when another write came first, ErrNotFound when it is gone.
	UpdateConsoleSession(ctx context.Context, s ConsoleSession) (ConsoleSession, error)
	// DeleteConsoleSession removes a session; none is no error.
	DeleteConsoleSession(ctx context.Context, hash string) error
	// PruneConsoleSessions removes the sessions last seen before
	// idleBefore or created before createdBefore, and says how many.
	PruneConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)
}
