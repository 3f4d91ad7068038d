package store

import (
	"context"
	"time"
)

// SetupLink is a link for a customer's IT admin to set up their tenant's
// SAML, SCIM or feeds. Only the hashes of its token and of the session it
// was redeemed into are kept.
type SetupLink struct {
	ID        string
	Tenant    string
	TokenHash string
	// Parts are what the link's session may configure: "saml", "scim",
	// "feeds".
	Parts     []string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	// RevokedAt is set by a revocation; zero while the link is good.
	RevokedAt time.Time
	// SessionHash is the hash of the session the token was redeemed into,
	// RedeemedAt when; empty and zero until the link is opened.
	SessionHash string
	RedeemedAt  time.Time
}

// SetupLinks keeps the setup links; every method is one statement outside
// InTx. Part of Store.
type SetupLinks interface {
	// PutSetupLink stores a new link.
	PutSetupLink(ctx context.Context, l SetupLink) error
	// ListSetupLinks returns a tenant's links, newest first.
	ListSetupLinks(ctx context.Context, tenant string) ([]SetupLink, error)
	// RevokeSetupLink marks a tenant's link revoked at now; ErrNotFound if
	// none.
	RevokeSetupLink(ctx context.Context, tenant, id string, now time.Time) error
	// RedeemSetupLink binds the link whose token has this hash to the
	// session of sessionHash, once: a link unknown, revoked, expired at
	// now or already redeemed is ErrNotFound. The check and the binding
	// are one statement, so two browsers cannot both redeem one link.
	RedeemSetupLink(ctx context.Context, tokenHash, sessionHash string, now time.Time) (SetupLink, error)
	// SetupSession returns the link a live session (by its hash) was
	// redeemed from; ErrNotFound when none, or revoked or expired at now.
	SetupSession(ctx context.Context, sessionHash string, now time.Time) (SetupLink, error)
}
