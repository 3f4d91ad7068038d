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

// lastInviteToken returns the token of the tenant's newest outbox message,
// derived as the mail worker derives it.
func lastInviteToken(t *testing.T, st store.Store, svc *directory.Service) string {
	t.Helper()
	msgs, err := st.ListOutbox(ctx, "acme", 0, 100)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("outbox: %v, %v", msgs, err)
	}
	var m directory.InviteMessage
	json.Unmarshal(msgs[len(msgs)-1].Payload, &m)
	token, err := svc.InviteKey().Token("acme", m)
	if err != nil {
		t.Fatalf("no token in %s: %v", msgs[len(msgs)-1].Payload, err)
	}
	return token
}

func TestInviteLifecycle(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, directory.DefaultPolicy())
		admin := actor("admin:ops")
		out, err := svc.Invite(ctx, admin, directory.AdminInput{Tenant: "acme", Email: "Contractor@Example.com", Attributes: directory.Attributes{Role: "contractor"}})
		if err != nil || !out.Created || directory.StatusOf(out.Card, clk.Now()) != directory.InvitePending {
			t.Fatalf("invite: %+v, %v", out, err)
		}
		first := lastInviteToken(t, st, svc)
		// Seven days later the invite has expired, without any sweep.
		clk.Advance(7 * 24 * time.Hour)
		card, _ := svc.Get(ctx, "acme", out.Card.ID)
		if directory.StatusOf(card, clk.Now()) != directory.InviteExpired {
			t.Fatalf("after 7 days: %s", directory.StatusOf(card, clk.Now()))
		}
		if _, err := svc.AcceptInvite(ctx, "acme", first); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Fatalf("expired token accepted: %v", err)
		}
		// Re-invite: pending again, a new token; the old one is refused.
		card, err = svc.Reinvite(ctx, admin, "acme", out.Card.ID)
		if err != nil || directory.StatusOf(card, clk.Now()) != directory.InvitePending {
			t.Fatalf("reinvite: %+v, %v", card, err)
		}
		second := lastInviteToken(t, st, svc)
		if second == first {
			t.Fatal("re-invite kept the token")
		}
		// Remind: too soon after the invite, then fine a day later, then too soon again.
		var tooSoon *directory.TooSoonError
		if _, err := svc.Remind(ctx, admin, "acme", out.Card.ID); !errors.As(err, &tooSoon) || tooSoon.RetryAfter != 24*time.Hour {
			t.Fatalf("remind right after the invite: %v", err)
		}
		clk.Advance(25 * time.Hour)
		if _, err := svc.Remind(ctx, admin, "acme", out.Card.ID); err != nil {
			t.Fatalf("remind a day later: %v", err)
		}
		third := lastInviteToken(t, st, svc)
		clk.Advance(time.Hour)
		if _, err := svc.Remind(ctx, admin, "acme", out.Card.ID); !errors.As(err, &tooSoon) || tooSoon.RetryAfter != 23*time.Hour {
			t.Fatalf("second remind within 24h: %v", err)
		}
		if _, err := svc.AcceptInvite(ctx, "acme", second); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Fatalf("a replaced token accepted: %v", err)
		}
		card, err = svc.AcceptInvite(ctx, "acme", third)
		if err != nil || directory.StatusOf(card, clk.Now()) != directory.Active {
			t.Fatalf("accept: %+v, %v", card, err)
		}
		if _, err := svc.AcceptInvite(ctx, "acme", third); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Fatalf("a used token accepted again: %v", err)
		}
		if _, err := svc.Reinvite(ctx, admin, "acme", out.Card.ID); !errors.Is(err, directory.ErrNotInvitable) {
			t.Fatalf("re-inviting an active card: %v", err)
		}
	})
}

func TestAdminOverrides(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		admin := actor("admin:ops")
		hr, _ := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@example.com"))
		id := hr.Card.ID
		// Disable survives the feed and SCIM saying present.
		if _, err := svc.Disable(ctx, admin, "acme", id, "left in a hurry"); err != nil {
			t.Fatal(err)
		}
		svc.ApplyClaim(ctx, actor("scim:okta"), present("scim:okta", "ann@example.com"))
		card, _ := svc.Get(ctx, "acme", id)
		if card.Enabled {
			t.Fatal("a source re-enabled a pinned card")
		}
		// Enable: the admin holds the card even when the feed drops the person.
		if card, _ = svc.Enable(ctx, admin, "acme", id); !card.Enabled {
			t.Fatal("enable")
		}
		svc.ApplyClaim(ctx, actor("file:hr"), withState(present("file:hr", "ann@example.com"), store.Withdrawn))
		svc.ApplyClaim(ctx, actor("scim:okta"), withState(present("scim:okta", "ann@example.com"), store.Withdrawn))
		if card, _ = svc.Get(ctx, "acme", id); !card.Enabled || card.Reason != "enabled: listed by admin" {
			t.Fatalf("admin-held card after the sources left: %+v", card)
		}
		// Release: the sources decide again — nobody lists Ann.
		if card, _ = svc.Release(ctx, admin, "acme", id); card.Enabled {
			t.Fatalf("released card: %+v", card)
		}
		// An admin edit on a card the admin does not hold is attributes-only.
		bob, _ := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "bob@example.com"))
		if card, _ = svc.Edit(ctx, admin, "acme", bob.Card.ID, directory.Attributes{Title: "Head of Fun"}); card.Attributes.Title != "Head of Fun" {
			t.Fatalf("edit: %+v", card)
		}
		svc.ApplyClaim(ctx, actor("file:hr"), withState(present("file:hr", "bob@example.com"), store.Withdrawn))
		if card, _ = svc.Get(ctx, "acme", bob.Card.ID); card.Enabled {
			t.Fatal("an admin's edit kept a leaver enabled")
		}
	})
}

// A login code redeemed after the card was disabled hands over nothing:
// LoginCard is the rule both redeemers (saml, notify) apply.
func TestLoginCardRefusesADisabledCard(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		hr, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		id := hr.Card.ID
		if card, err := svc.LoginCard(ctx, "acme", id); err != nil || card.ID != id || !card.Enabled {
			t.Fatalf("LoginCard of an enabled card = %+v, %v", card, err)
		}
		if _, err := svc.Disable(ctx, actor("admin:ops"), "acme", id, "left"); err != nil {
			t.Fatal(err)
		}
		if card, err := svc.LoginCard(ctx, "acme", id); !errors.Is(err, directory.ErrDisabled) || card.ID != id {
			t.Fatalf("LoginCard of a disabled card = %+v, %v; want it with ErrDisabled", card, err)
		}
		if _, err := svc.LoginCard(ctx, "acme", "no-such-card"); err == nil {
			t.Fatal("LoginCard of an unknown id succeeded")
		}
	})
}

// A login code is spent once, within its lifetime, for its own tenant, and
// never hands over a card disabled since the login.
func TestLoginCodes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, ssoPolicy())
		hr, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		id := hr.Card.ID
		mint := func() string {
			t.Helper()
			code, err := svc.MintLoginCode(ctx, "acme", id, time.Minute)
			if err != nil || !strings.HasPrefix(code, directory.LoginCodePrefix) || len(code) < 40 {
				t.Fatalf("minted %q, %v", code, err)
			}
			return code
		}
		code := mint()
		if card, err := svc.RedeemLoginCode(ctx, code, "acme"); err != nil || card.ID != id {
			t.Fatalf("redeem: %+v, %v", card, err)
		}
		if _, err := svc.RedeemLoginCode(ctx, code, "acme"); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("redeemed twice: %v", err)
		}
		if _, err := svc.RedeemLoginCode(ctx, mint(), "globex"); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("redeemed for another tenant: %v", err)
		}
		late := mint()
		clk.Advance(61 * time.Second)
		if _, err := svc.RedeemLoginCode(ctx, late, ""); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("redeemed after its minute: %v", err)
		}
		for _, bad := range []string{"", directory.LoginCodePrefix, "nope", strings.Repeat("rlc_x", 50)} {
			if _, err := svc.RedeemLoginCode(ctx, bad, ""); !errors.Is(err, directory.ErrInvalidCode) {
				t.Fatalf("redeemed %q: %v", bad, err)
			}
		}
		code = mint()
		if _, err := svc.Disable(ctx, actor("admin:ops"), "acme", id, "left"); err != nil {
			t.Fatal(err)
		}
		if card, err := svc.RedeemLoginCode(ctx, code, "acme"); !errors.Is(err, directory.ErrDisabled) || card.ID != id {
			t.Fatalf("a disabled card's code: %+v, %v", card, err)
		}
		if _, err := svc.RedeemLoginCode(ctx, code, "acme"); !errors.Is(err, directory.ErrInvalidCode) {
			t.Fatalf("a refused code is still spent: %v", err)
		}
	})
}

// A login refused before it reached a card is audited by the directory,
// for the tenant only.
func TestAuditLoginRefusal(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		if err := svc.AuditLoginRefusal(ctx, "acme", "replay", "assertion _a1 seen before"); err != nil {
			t.Fatal(err)
		}
		if err := svc.AuditLoginRefusal(ctx, "nosuch", "replay", "x"); err == nil {
			t.Fatal("audited for an unknown tenant")
		}
		lines, err := st.ListAudit(ctx, "acme", "", 0, 10) // lines of no card
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 1 || lines[0].Action != "login.refused" || lines[0].CardID != "" || lines[0].Source != "saml" ||
			lines[0].Detail != "replay: assertion _a1 seen before" {
			t.Fatalf("audit = %+v", lines)
		}
	})
}
