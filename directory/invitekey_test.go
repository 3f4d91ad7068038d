package directory_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestInviteTokenIsDerivedNotStored: the outbox payload carries a seed and
// the key's id, not the token; the token is made again from the seed with
// the service's key only. Another key, a missing seed or a short key are
// errors.
func TestInviteTokenIsDerivedNotStored(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	key, err := directory.NewInviteKey([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc := directory.NewService(st, map[string]directory.Policy{"acme": directory.DefaultPolicy()}, directory.WithInviteKey(key))
	out, err := svc.Invite(ctx, actor("admin:ops"), directory.AdminInput{Tenant: "acme", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := storetest.OutboxOf(t, st, "acme", out.Card.ID)
	var m directory.InviteMessage
	if len(msgs) != 1 || json.Unmarshal(msgs[0].Payload, &m) != nil {
		t.Fatalf("outbox: %+v", msgs)
	}
	if m.Token != "" || m.Seed == "" || m.KeyID != key.ID() || m.CardID != out.Card.ID || m.Email != "ann@example.com" {
		t.Fatalf("payload %s: want a seed and the key id, no token", msgs[0].Payload)
	}
	token, err := key.Token("acme", m)
	if err != nil || directory.HashToken(token) != out.Card.Invite.TokenHash {
		t.Fatalf("derived token %q (%v) does not match the card's hash", token, err)
	}
	if strings.Contains(string(msgs[0].Payload), token) {
		t.Fatalf("payload holds the token")
	}
	// The seed is bound to its tenant and card.
	if other, _ := key.Token("globex", m); other == token {
		t.Error("the same seed gives the same token in another tenant")
	}
	if _, err := directory.NewRandomInviteKey().Token("acme", m); !errors.Is(err, directory.ErrOtherInviteKey) || !strings.Contains(err.Error(), "secrets_key") {
		t.Errorf("another key: %v, want ErrOtherInviteKey naming secrets_key", err)
	}
	if _, err := key.Token("acme", directory.InviteMessage{CardID: m.CardID}); !errors.Is(err, directory.ErrNoInviteSeed) {
		t.Errorf("no seed: %v", err)
	}
	// A row queued by an older version carries its token: it still goes.
	if got, err := key.Token("acme", directory.InviteMessage{Token: "legacy"}); err != nil || got != "legacy" {
		t.Errorf("legacy row: %q, %v", got, err)
	}
	if _, err := directory.NewInviteKey([]byte("short")); err == nil {
		t.Error("a 5-byte key accepted")
	}
}

// TestLookupInviteChangesNothing: looking a token up returns its card and
// writes nothing (no version, no audit line); it refuses what
// AcceptInvite refuses.
func TestLookupInviteChangesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, directory.DefaultPolicy())
		out, err := svc.Invite(ctx, actor("admin:ops"), directory.AdminInput{Tenant: "acme", Email: "bo@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		token := lastInviteToken(t, st, svc)
		audit, _ := st.ListAudit(ctx, "acme", out.Card.ID, 0, 100)
		for range 3 {
			card, err := svc.LookupInvite(ctx, "acme", token)
			if err != nil || card.ID != out.Card.ID {
				t.Fatalf("LookupInvite = %+v, %v", card, err)
			}
		}
		after, _ := svc.Get(ctx, "acme", out.Card.ID)
		audit2, _ := st.ListAudit(ctx, "acme", out.Card.ID, 0, 100)
		if after.Version != out.Card.Version || !after.FirstLoginAt.IsZero() || len(audit2) != len(audit) {
			t.Fatalf("lookups changed the card: version %d → %d, first login %v, audit %d → %d",
				out.Card.Version, after.Version, after.FirstLoginAt, len(audit), len(audit2))
		}
		for _, bad := range []string{"", "nope", token + "x"} {
			if _, err := svc.LookupInvite(ctx, "acme", bad); !errors.Is(err, directory.ErrInviteInvalid) {
				t.Errorf("LookupInvite(%q) = %v, want ErrInviteInvalid", bad, err)
			}
		}
		if _, err := svc.AcceptInvite(ctx, "acme", token); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.LookupInvite(ctx, "acme", token); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Errorf("a spent token: %v, want ErrInviteInvalid", err)
		}
		// Expired.
		out, _ = svc.Invite(ctx, actor("admin:ops"), directory.AdminInput{Tenant: "acme", Email: "cy@example.com"})
		token = lastInviteToken(t, st, svc)
		clk.Advance(7 * 24 * time.Hour)
		if _, err := svc.LookupInvite(ctx, "acme", token); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Errorf("an expired token: %v, want ErrInviteInvalid", err)
		}
	})
}
