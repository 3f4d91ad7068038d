package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newService(st store.Store, policy directory.Policy) (*directory.Service, *testenv.Clock) {
	clk := testenv.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	return directory.NewService(st, map[string]directory.Policy{"acme": policy}, directory.WithClock(clk.Now)), clk
}

func ssoPolicy() directory.Policy {
	p := directory.DefaultPolicy()
	p.Invite = "none"
	return p
}

var ctx = context.Background()

func present(source, email string) directory.ClaimInput {
	return directory.ClaimInput{Tenant: "acme", Source: source, Email: email, State: store.Present, Authoritative: true}
}

func withState(in directory.ClaimInput, s store.ClaimState) directory.ClaimInput {
	in.State = s
	return in
}

func actor(name string) directory.Actor { return directory.Actor{Name: name} }

// TestConcurrentClaimsOneCard: 50 writers from different sources claim one
// email at once. Exactly one card comes out of it, holding all 50 claims.
func TestConcurrentClaimsOneCard(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		const writers = 50
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				source := fmt.Sprintf("scim:conn%02d", i)
				in := present(source, "Race.Person@Example.com")
				in.Attributes.Title = source
				_, err := svc.ApplyClaim(ctx, actor(source), in)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("ApplyClaim: %v", err)
			}
		}
		page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Cards) != 1 {
			t.Fatalf("%d cards for one email, want 1", len(page.Cards))
		}
		card := page.Cards[0]
		claims, err := svc.Claims(ctx, "acme", card.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(claims) != writers {
			t.Fatalf("%d claims kept, want %d", len(claims), writers)
		}
		if card.Version != writers {
			t.Fatalf("card version %d after %d changes", card.Version, writers)
		}
		// Precedence among one kind is by name: conn00 wins.
		if card.Attributes.Title != "scim:conn00" || !card.Enabled {
			t.Fatalf("card = %+v", card)
		}
		audit, _ := st.ListAudit(ctx, "acme", card.ID, 0, 1000)
		if len(audit) != writers {
			t.Fatalf("%d audit events, want one per claim (%d)", len(audit), writers)
		}
	})
}

// failingStore injects a fault into the write path of a real store: after
// the card and claim are written, the next write fails (or the context is
// cancelled) and the transaction must leave nothing behind.
type failingStore struct {
	store.Store
	failOn string // "audit" | "events" | "outbox" | "cancel"
	cancel context.CancelFunc
}

func (f *failingStore) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.InTx(ctx, func(tx store.Tx) error { return fn(&failingTx{Tx: tx, f: f}) })
}

type failingTx struct {
	store.Tx
	f *failingStore
}

var errInjected = errors.New("injected fault")

// Write writes the cards and claims first, then fails (or cancels the
// context before writing the rest), as a crash midway would.
func (t *failingTx) Write(ctx context.Context, ch store.Changes) error {
	if err := t.Tx.Write(ctx, store.Changes{Cards: ch.Cards, Claims: ch.Claims}); err != nil {
		return err
	}
	switch t.f.failOn {
	case "audit":
		return errInjected
	case "outbox":
		if len(ch.Outbox) > 0 {
			return errInjected
		}
	case "cancel":
		t.f.cancel()
	}
	return t.Tx.Write(ctx, store.Changes{Audit: ch.Audit, Events: ch.Events, Outbox: ch.Outbox})
}

func TestFailedTransactionLeavesNothing(t *testing.T) {
	for _, failOn := range []string{"audit", "outbox", "cancel"} {
		t.Run(failOn, func(t *testing.T) {
			storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
				cctx, cancel := context.WithCancel(ctx)
				defer cancel()
				fs := &failingStore{Store: st, failOn: failOn, cancel: cancel}
				svc, _ := newService(fs, directory.DefaultPolicy()) // email invites: an outbox row is written
				_, err := svc.ApplyClaim(cctx, actor("file:hr"), present("file:hr", "ann@example.com"))
				if err == nil {
					t.Fatal("ApplyClaim succeeded through an injected fault")
				}
				if _, err := st.GetCardByEmail(ctx, "acme", "ann@example.com"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("card left behind: %v", err)
				}
				cards, _ := st.ListCards(ctx, store.CardFilter{Tenant: "acme"})
				events, _ := st.ListEvents(ctx, "acme", 0, 10)
				outbox, _ := st.ListOutbox(ctx, "acme", 0, 10)
				if len(cards)+len(events)+len(outbox) != 0 {
					t.Fatalf("left behind: %d cards, %d events, %d outbox rows", len(cards), len(events), len(outbox))
				}
			})
		})
	}
}

// TestReenabledCardKeepsIDAndHistory: a person leaves (withdrawn by HR) and
// comes back; the card is the same, its history whole.
func TestReenabledCardKeepsIDAndHistory(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, ssoPolicy())
		hr := directory.Actor{Name: "file:hr", RunID: "41"}
		first, err := svc.ApplyClaim(ctx, hr, present("file:hr", "ann@example.com"))
		if err != nil || !first.Created || !first.Card.Enabled || first.Event != "card.created" {
			t.Fatalf("create: %+v, %v", first, err)
		}
		clk.Advance(7 * 24 * time.Hour)
		hr.RunID = "42"
		gone, err := svc.ApplyClaim(ctx, hr, withState(present("file:hr", "ann@example.com"), store.Withdrawn))
		if err != nil || gone.Card.Enabled || gone.Event != "card.disabled" {
			t.Fatalf("withdraw: %+v, %v", gone, err)
		}
		if want := "disabled: no source lists this person any more (withdrawn by file:hr in run 42 on 2026-11-27)"; gone.Card.Reason != want {
			t.Fatalf("reason %q, want %q", gone.Card.Reason, want)
		}
		clk.Advance(30 * 24 * time.Hour)
		hr.RunID = "46"
		back, err := svc.ApplyClaim(ctx, hr, present("file:hr", "ANN@example.com"))
		if err != nil || back.Created || !back.Card.Enabled || back.Event != "card.enabled" {
			t.Fatalf("re-enable: %+v, %v", back, err)
		}
		if back.Card.ID != first.Card.ID || !back.Card.CreatedAt.Equal(first.Card.CreatedAt) {
			t.Fatalf("came back as card %s created %v, was %s created %v", back.Card.ID, back.Card.CreatedAt, first.Card.ID, first.Card.CreatedAt)
		}
		audit, err := st.ListAudit(ctx, "acme", first.Card.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, a := range audit {
			details = append(details, a.RunID+" "+a.Detail)
		}
		want := []string{
			"41 file:hr: new claim, present",
			"42 file:hr: present → withdrawn; changed: enabled",
			// The returning person's HR row spells the address in capitals:
			// the display form follows, the card stays the same.
			"46 file:hr: withdrawn → present; changed: email, enabled",
		}
		if !slices.Equal(details, want) {
			t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
		}
		events, _ := st.ListEvents(ctx, "acme", 0, 100)
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
		}
		if !slices.Equal(types, []string{"card.created", "card.disabled", "card.enabled"}) {
			t.Fatalf("events %v", types)
		}
		page, _ := svc.List(ctx, directory.ListQuery{Tenant: "acme"})
		if len(page.Cards) != 1 {
			t.Fatalf("%d cards, want the one card", len(page.Cards))
		}
	})
}

func TestPinSurvivesSources(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		out, err := svc.ApplyClaim(ctx, actor("scim:okta"), present("scim:okta", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		id := out.Card.ID
		pinned, err := svc.Pin(ctx, actor("admin:ops"), "acme", id, "security incident")
		if err != nil || pinned.Enabled || pinned.Pin == nil {
			t.Fatalf("pin: %+v, %v", pinned, err)
		}
		// SCIM says active again, HR lists the person: still disabled.
		in := present("scim:okta", "ann@example.com")
		in.Attributes.Title = "Engineer"
		again, err := svc.ApplyClaim(ctx, actor("scim:okta"), in)
		if err != nil || again.Card.Enabled || again.Card.Attributes.Title != "Engineer" {
			t.Fatalf("claim on a pinned card: %+v, %v", again.Card, err)
		}
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@example.com")); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "ann@example.com"}); !errors.Is(err, directory.ErrDisabled) {
			t.Fatalf("login on a pinned card: %v, want ErrDisabled", err)
		}
		card, _ := svc.Get(ctx, "acme", id)
		if card.Enabled || !strings.HasPrefix(card.Reason, "disabled: pinned by admin admin:ops") {
			t.Fatalf("after sources and a login: %+v", card)
		}
		unpinned, err := svc.Unpin(ctx, actor("admin:ops"), "acme", id)
		if err != nil || !unpinned.Enabled || unpinned.Reason != "enabled: listed by scim:okta, file:hr" {
			t.Fatalf("unpin: %+v, %v", unpinned, err)
		}
	})
}

func TestExternalIDFollowsEmailChange(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		in := present("ldap:corp", "ann.lee@example.com")
		in.ExternalID = "6f1c0a52-uuid"
		first, err := svc.ApplyClaim(ctx, actor("ldap:corp"), in)
		if err != nil {
			t.Fatal(err)
		}
		in.Email = "ann.smith@example.com"
		renamed, err := svc.ApplyClaim(ctx, actor("ldap:corp"), in)
		if err != nil {
			t.Fatal(err)
		}
		if renamed.Card.ID != first.Card.ID || renamed.Card.Email != "ann.smith@example.com" || renamed.Event != "card.updated" {
			t.Fatalf("renamed: %+v", renamed)
		}
		if _, err := svc.GetByEmail(ctx, "acme", "ann.lee@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old email still finds a card: %v", err)
		}
		// Another person takes the old address; then the first tries to take
		// the second's address: refused, nothing changes.
		other, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "bob@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		in.Email = "bob@example.com"
		out, err := svc.ApplyClaim(ctx, actor("ldap:corp"), in)
		if !errors.Is(err, directory.ErrEmailTaken) || !strings.Contains(err.Error(), other.Card.ID) {
			t.Fatalf("taking another card's email: %v", err)
		}
		if out.Changed {
			t.Fatal("a refused change reports Changed")
		}
		card, _ := svc.Get(ctx, "acme", first.Card.ID)
		if card.Email != "ann.smith@example.com" || card.Version != renamed.Card.Version {
			t.Fatalf("refused change altered the card: %+v", card)
		}
	})
}

func TestUnchangedClaimWritesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		in := present("file:hr", "ann@example.com")
		in.Attributes = directory.Attributes{GivenName: "Ann", Groups: []string{"eng"}}
		first, _ := svc.ApplyClaim(ctx, actor("file:hr"), in)
		again, err := svc.ApplyClaim(ctx, actor("file:hr"), in)
		if err != nil || again.Changed || again.Event != "" || again.Card.Version != first.Card.Version {
			t.Fatalf("same claim twice: %+v, %v", again, err)
		}
		audit, _ := st.ListAudit(ctx, "acme", first.Card.ID, 0, 10)
		if len(audit) != 1 {
			t.Fatalf("%d audit events, want 1", len(audit))
		}
	})
}

func TestBatchRefusesBadInputsAndAppliesTheRest(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		outs, err := svc.ApplyClaims(ctx, directory.Actor{Name: "file:hr", RunID: "1"}, []directory.ClaimInput{
			present("file:hr", "ann@example.com"),
			present("file:hr", "not an email"),
			present("file:hr", "bob@example.com"),
			withState(present("file:hr", "nobody@example.com"), store.Withdrawn), // nothing to withdraw
			{Tenant: "acme", Source: "file:hr", Email: "cy@example.com", State: "gone"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !outs[0].Created || !outs[2].Created || outs[3].Changed || outs[3].Err != nil {
			t.Fatalf("outcomes %+v", outs)
		}
		var ie *directory.InvalidEmailError
		if !errors.As(outs[1].Err, &ie) || outs[4].Err == nil || !strings.Contains(outs[4].Err.Error(), `invalid claim state "gone"`) {
			t.Fatalf("refusals: %v, %v", outs[1].Err, outs[4].Err)
		}
		page, _ := svc.List(ctx, directory.ListQuery{Tenant: "acme"})
		if len(page.Cards) != 2 {
			t.Fatalf("%d cards, want 2", len(page.Cards))
		}
		if _, err := svc.ApplyClaim(ctx, actor("x"), directory.ClaimInput{Tenant: "globex", Source: "file:hr", Email: "a@example.com", State: store.Present}); !errors.Is(err, directory.ErrUnknownTenant) {
			t.Fatalf("unknown tenant: %v", err)
		}
	})
}

func TestInvites(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, directory.DefaultPolicy())
		out, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if got := directory.StatusOf(out.Card, clk.Now()); got != directory.InvitePending {
			t.Fatalf("new card status %s, want invite_pending", got)
		}
		outbox, _ := st.ListOutbox(ctx, "acme", 0, 10)
		if len(outbox) != 1 || outbox[0].Kind != "email.invite" || outbox[0].CardID != out.Card.ID {
			t.Fatalf("outbox %+v", outbox)
		}
		// An update of the card sends no second invite.
		in := present("file:hr", "ann@example.com")
		in.Attributes.Title = "Lead"
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), in); err != nil {
			t.Fatal(err)
		}
		// An import that says not to invite creates a card with no invite.
		no := false
		quiet := present("admin", "bob@example.com")
		quiet.Invite = &no
		bob, err := svc.ApplyClaim(ctx, actor("admin:ops"), quiet)
		if err != nil || bob.Card.Invite != nil {
			t.Fatalf("invite:false: %+v, %v", bob.Card, err)
		}
		if outbox, _ = st.ListOutbox(ctx, "acme", 0, 10); len(outbox) != 1 {
			t.Fatalf("%d outbox rows, want still 1", len(outbox))
		}
		// Expiry is derived: seven days later the card shows invite_expired.
		clk.Advance(7 * 24 * time.Hour)
		expired, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Status: "invite_expired"})
		if err != nil || len(expired.Cards) != 1 || expired.Cards[0].ID != out.Card.ID {
			t.Fatalf("invite_expired list: %+v, %v", expired, err)
		}
		provisioned, _ := svc.List(ctx, directory.ListQuery{Tenant: "acme", Status: "provisioned"})
		if len(provisioned.Cards) != 1 || provisioned.Cards[0].ID != bob.Card.ID {
			t.Fatalf("provisioned list: %+v", provisioned)
		}
	})
}

func TestLogin(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, ssoPolicy())
		if _, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "stranger@example.com"}); !errors.Is(err, directory.ErrUnknownPerson) {
			t.Fatalf("unknown person: %v", err)
		}
		out, _ := svc.ApplyClaim(ctx, actor("scim:okta"), present("scim:okta", "ann@example.com"))
		clk.Advance(time.Hour)
		card, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "Ann@Example.com", NameID: "ann@example.com",
			Attributes: directory.Attributes{Department: "from-saml"}})
		if err != nil || card.ID != out.Card.ID || directory.StatusOf(card, clk.Now()) != directory.Active || !card.FirstLoginAt.Equal(clk.Now()) {
			t.Fatalf("first login: %+v, %v", card, err)
		}
		if card.Attributes.Department != "from-saml" {
			t.Fatalf("saml attributes not applied: %+v", card.Attributes)
		}
		// SCIM withdraws; the saml claim (attributes-only on a card another
		// source brought in) does not keep the card enabled.
		if _, err := svc.ApplyClaim(ctx, actor("scim:okta"), withState(present("scim:okta", "ann@example.com"), store.Withdrawn)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "ann@example.com"}); !errors.Is(err, directory.ErrDisabled) {
			t.Fatalf("login after withdrawal: %v", err)
		}
		audit, _ := st.ListAudit(ctx, "acme", out.Card.ID, 0, 100)
		if last := audit[len(audit)-1]; last.Action != "login.refused" {
			t.Fatalf("last audit %+v, want login.refused", last)
		}
		events, _ := st.ListEvents(ctx, "acme", 0, 100)
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
		}
		if !slices.Equal(types, []string{"card.created", "card.login", "card.disabled"}) {
			t.Fatalf("events %v", types)
		}
	})
}

func TestJITLogin(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := ssoPolicy()
		p.JIT = true
		svc, clk := newService(st, p)
		card, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "new@example.com", Attributes: directory.Attributes{GivenName: "New"}})
		if err != nil || !card.Enabled || directory.StatusOf(card, clk.Now()) != directory.Active || card.Attributes.GivenName != "New" {
			t.Fatalf("JIT login: %+v, %v", card, err)
		}
	})
}

func TestExplain(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		hr := present("file:hr", "ann@example.com")
		hr.Attributes = directory.Attributes{GivenName: "Ann", Department: "Finance"}
		out, _ := svc.ApplyClaim(ctx, directory.Actor{Name: "file:hr", RunID: "42"}, hr)
		scim := present("scim:okta", "ann@example.com")
		scim.Attributes = directory.Attributes{Department: "R&D"}
		svc.ApplyClaim(ctx, actor("scim:okta"), scim)
		e, err := svc.Explain(ctx, "acme", out.Card.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Reason != "enabled: listed by scim:okta, file:hr" || e.Rule != directory.RulePresent || e.Status != directory.Provisioned || len(e.Claims) != 2 {
			t.Fatalf("explanation %+v", e)
		}
		got := fmt.Sprint(e.Attributes)
		if want := "[{email ann@example.com scim:okta} {given_name Ann file:hr} {department R&D scim:okta}]"; got != want {
			t.Fatalf("attributes %s, want %s", got, want)
		}
		if _, err := svc.Explain(ctx, "acme", "no-such-card"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("unknown card: %v", err)
		}
	})
}

func TestListPaging(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		var ins []directory.ClaimInput
		for i := range 23 {
			ins = append(ins, present("file:hr", fmt.Sprintf("p%02d@example.com", i)))
		}
		if _, err := svc.ApplyClaims(ctx, actor("file:hr"), ins); err != nil {
			t.Fatal(err)
		}
		var seen []string
		q := directory.ListQuery{Tenant: "acme", Limit: 10}
		for pages := 1; ; pages++ {
			page, err := svc.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Cards {
				seen = append(seen, c.Email)
			}
			if page.Next == "" {
				if pages != 3 {
					t.Fatalf("%d pages, want 3", pages)
				}
				break
			}
			q.Cursor = page.Next
		}
		if len(seen) != 23 || seen[0] != "p00@example.com" || seen[22] != "p22@example.com" {
			t.Fatalf("paged through %v", seen)
		}
		if _, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Status: "gone"}); err == nil || !strings.Contains(err.Error(), `unknown status "gone"`) {
			t.Fatalf("bad status: %v", err)
		}
	})
}

func TestApplyAll(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		var ins []directory.ClaimInput
		for i := range 2500 {
			ins = append(ins, present("file:hr", fmt.Sprintf("p%04d@example.com", i)))
		}
		ins[1234].Email = "broken"
		ticks := 0
		var mu sync.Mutex
		outs, err := svc.ApplyAll(ctx, actor("file:hr"), ins, directory.BatchOptions{Size: 300, Workers: 3, Done: func(n int) {
			mu.Lock()
			ticks += n
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		if ticks != 2500 {
			t.Fatalf("progress counted %d, want 2500", ticks)
		}
		for i, o := range outs {
			if i == 1234 {
				if o.Err == nil {
					t.Fatal("the broken email was applied")
				}
				continue
			}
			if o.Err != nil || !o.Created || o.Card.Email != ins[i].Email {
				t.Fatalf("outcome %d = %+v, want the card of %s", i, o, ins[i].Email)
			}
		}
		// Applying the same inputs again changes nothing.
		again, err := svc.ApplyAll(ctx, actor("file:hr"), ins, directory.BatchOptions{Size: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range again {
			if o.Changed {
				t.Fatalf("second apply changed input %d", i)
			}
		}
		// A failing store stops the work with its error.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := svc.ApplyAll(cctx, actor("file:hr"), ins, directory.BatchOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled ApplyAll: %v", err)
		}
	})
}

func TestPreviewWritesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, directory.DefaultPolicy())
		kept, _ := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "kept@example.com"))
		outs, err := svc.Preview(ctx, actor("file:hr"), []directory.ClaimInput{
			present("file:hr", "new@example.com"),
			withState(present("file:hr", "kept@example.com"), store.Withdrawn),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !outs[0].Created || !outs[0].Card.Enabled || outs[1].Event != "card.disabled" || outs[1].Card.Enabled {
			t.Fatalf("preview outcomes %+v", outs)
		}
		page, _ := svc.List(ctx, directory.ListQuery{Tenant: "acme"})
		card, _ := svc.Get(ctx, "acme", kept.Card.ID)
		events, _ := st.ListEvents(ctx, "acme", 0, 10)
		outbox, _ := st.ListOutbox(ctx, "acme", 0, 10)
		if len(page.Cards) != 1 || !card.Enabled || card.Version != kept.Card.Version || len(events) != 1 || len(outbox) != 1 {
			t.Fatalf("preview wrote: %d cards, kept card %+v, %d events, %d outbox rows", len(page.Cards), card, len(events), len(outbox))
		}
	})
}

// TestWithdrawnCardKeepsLastKnownAttributes: HR stops listing a person and
// no other source lists them: the card is disabled but still shows the
// name, department and role it last had, marked as last known by file:hr
// at the withdrawal — in the store, and in the card.disabled event. When
// the person comes back, the mark goes.
func TestWithdrawnCardKeepsLastKnownAttributes(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, clk := newService(st, ssoPolicy())
		hr := directory.Actor{Name: "file:hr", RunID: "41"}
		in := present("file:hr", "ann@example.com")
		in.Attributes = directory.Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor"}
		first, err := svc.ApplyClaim(ctx, hr, in)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(7 * 24 * time.Hour)
		gone, err := svc.ApplyClaim(ctx, hr, withState(present("file:hr", "ann@example.com"), store.Withdrawn))
		if err != nil || gone.Card.Enabled {
			t.Fatalf("withdraw: %+v, %v", gone, err)
		}
		want := &store.LastKnown{Source: "file:hr", At: clk.Now().UTC()}
		card, err := svc.Get(ctx, "acme", first.Card.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(card.Attributes, in.Attributes) || card.LastKnown == nil || *card.LastKnown != *want {
			t.Fatalf("stored card after the withdrawal: %+v, last known %+v; want %+v, %+v", card.Attributes, card.LastKnown, in.Attributes, want)
		}
		events, err := st.ListEvents(ctx, "acme", 0, 100)
		if err != nil || len(events) != 2 || events[1].Type != "card.disabled" {
			t.Fatalf("events: %+v, %v", events, err)
		}
		var data struct {
			Card struct {
				Attributes directory.Attributes `json:"attributes"`
				LastKnown  *store.LastKnown     `json:"last_known"`
			} `json:"card"`
			Changes []string `json:"changes"`
		}
		if err := json.Unmarshal(events[1].Data, &data); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(data.Card.Attributes, in.Attributes) || data.Card.LastKnown == nil || *data.Card.LastKnown != *want {
			t.Fatalf("card.disabled event: %s", events[1].Data)
		}
		if !slices.Equal(data.Changes, []string{"enabled", "last_known"}) {
			t.Fatalf("changes %v: the attributes did not change", data.Changes)
		}
		if ex, err := svc.Explain(ctx, "acme", first.Card.ID); err != nil || ex.LastKnown == nil || *ex.LastKnown != *want || len(ex.Attributes) != 4 {
			t.Fatalf("explain: %+v, %v", ex, err)
		}
		back, err := svc.ApplyClaim(ctx, hr, in)
		if err != nil || !back.Card.Enabled || back.Card.LastKnown != nil || !reflect.DeepEqual(back.Card.Attributes, in.Attributes) {
			t.Fatalf("back: %+v, %v", back.Card, err)
		}
	})
}

// TestPartialClaimKeepsWhatItDoesNotSay: an import of a file with only
// Email and Department changes the admin's department and nothing else;
// an empty department cell leaves it, unless the import clears empties.
func TestPartialClaimKeepsWhatItDoesNotSay(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		admin := actor("admin:ops")
		full := present("admin", "ann@example.com")
		full.Attributes = directory.Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor"}
		if _, err := svc.ApplyClaim(ctx, admin, full); err != nil {
			t.Fatal(err)
		}
		partial := present("admin", "ann@example.com")
		partial.Attributes = directory.Attributes{Department: "Sales"}
		partial.Partial = &directory.Partial{Attributes: []string{"department"}}
		out, err := svc.ApplyClaim(ctx, admin, partial)
		if err != nil {
			t.Fatal(err)
		}
		want := directory.Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Sales", Role: "editor"}
		if !reflect.DeepEqual(out.Card.Attributes, want) {
			t.Fatalf("after a partial import: %+v, want %+v", out.Card.Attributes, want)
		}
		claims, err := svc.Claims(ctx, "acme", out.Card.ID)
		if err != nil || len(claims) != 1 || !reflect.DeepEqual(claims[0].Attributes, want) {
			t.Fatalf("stored claim: %+v, %v", claims, err)
		}
		// The department cell empty: nothing changes, nothing is written.
		partial.Attributes = directory.Attributes{}
		same, err := svc.ApplyClaim(ctx, admin, partial)
		if err != nil || same.Changed || !reflect.DeepEqual(same.Card.Attributes, want) {
			t.Fatalf("an empty cell: changed %v, %+v, %v", same.Changed, same.Card.Attributes, err)
		}
		// Asked to clear empties, it clears the department only.
		partial.Partial.ClearEmpty = true
		cleared, err := svc.ApplyClaim(ctx, admin, partial)
		want.Department = ""
		if err != nil || !reflect.DeepEqual(cleared.Card.Attributes, want) {
			t.Fatalf("clear empty: %+v, %v; want %+v", cleared.Card.Attributes, err, want)
		}
	})
}

// TestImportDeactivationOfADisabledCardWritesNothing: an import row that
// says "disabled" (a re-imported export) for a person the admin does not
// hold, whose card is disabled already, changes nothing: no admin claim
// that would hold the card disabled for good, the last known attributes
// stay. Of an enabled card, or from a source that goes on listing people
// (SCIM, a partial feed), it is written.
func TestImportDeactivationOfADisabledCardWritesNothing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		hr := present("file:hr", "cy@example.com")
		hr.Attributes = directory.Attributes{GivenName: "Cy", Department: "Finance"}
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), hr); err != nil {
			t.Fatal(err)
		}
		gone, err := svc.ApplyClaim(ctx, actor("file:hr"), withState(hr, store.Withdrawn))
		if err != nil || gone.Card.Enabled || gone.Card.LastKnown == nil {
			t.Fatalf("withdraw: %+v, %v", gone.Card, err)
		}
		row := withState(present("admin", "cy@example.com"), store.Deactivated)
		row.Attributes = hr.Attributes
		row.Partial = &directory.Partial{Attributes: []string{"given_name", "department"}}
		row.Import = true
		out, err := svc.ApplyClaim(ctx, actor("admin:ops"), row)
		if err != nil || out.Changed || out.Card.LastKnown == nil || out.Card.Version != gone.Card.Version {
			t.Fatalf("a partial deactivation of a disabled card: changed %v, %+v, %v", out.Changed, out.Card, err)
		}
		if claims, _ := svc.Claims(ctx, "acme", out.Card.ID); len(claims) != 1 {
			t.Fatalf("claims %+v, want file:hr's only", claims)
		}
		// Of an enabled card it is the admin's word, and it disables.
		ann := present("file:hr", "ann@example.com")
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), ann); err != nil {
			t.Fatal(err)
		}
		row.Email = "ann@example.com"
		if out, err := svc.ApplyClaim(ctx, actor("admin:ops"), row); err != nil || !out.Changed || out.Card.Enabled {
			t.Fatalf("a partial deactivation of an enabled card: %+v, %v", out, err)
		}
		// A source that goes on listing people writes it whatever the card.
		scim := withState(present("scim:okta", "cy@example.com"), store.Deactivated)
		if out, err := svc.ApplyClaim(ctx, actor("scim:okta"), scim); err != nil || !out.Changed {
			t.Fatalf("a whole deactivation of a disabled card: %+v, %v", out, err)
		}
		feed := withState(present("file:hr", "cy@example.com"), store.Deactivated)
		feed.Partial = row.Partial
		if out, err := svc.ApplyClaim(ctx, actor("file:hr"), feed); err != nil || !out.Changed {
			t.Fatalf("a partial feed's deactivation of a disabled card: %+v, %v", out, err)
		}
	})
}

// TestImportDoesNotTakeOverAccess: an import row for a person
// HR already enables gives the admin's attributes, not the admin's hold
// on access: when HR withdraws, the card is disabled. A row for a card
// nobody enables does enable it (an import brings people in), and a claim
// that is authoritative already stays so.
func TestImportDoesNotTakeOverAccess(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		hr := present("file:hr", "ann@example.com")
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), hr); err != nil {
			t.Fatal(err)
		}
		row := present("admin", "ann@example.com")
		row.Attributes = directory.Attributes{Title: "Chemist"}
		row.Partial = &directory.Partial{Attributes: []string{"title"}}
		row.Import = true
		out, err := svc.ApplyClaim(ctx, actor("admin:ops"), row)
		if err != nil || !out.Card.Enabled || out.Card.Attributes.Title != "Chemist" {
			t.Fatalf("import row: %+v, %v", out.Card, err)
		}
		gone, err := svc.ApplyClaim(ctx, actor("file:hr"), withState(hr, store.Withdrawn))
		if err != nil || gone.Card.Enabled || gone.Card.Attributes.Title != "Chemist" {
			t.Fatalf("HR withdrew after the import: %+v, %v", gone.Card, err)
		}
		// Now nobody enables the card: the import's row brings her back,
		// and from then on the admin holds her.
		back, err := svc.ApplyClaim(ctx, actor("admin:ops"), row)
		if err != nil || !back.Card.Enabled {
			t.Fatalf("import row of a disabled card: %+v, %v", back.Card, err)
		}
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), hr); err != nil {
			t.Fatal(err)
		}
		again, err := svc.ApplyClaim(ctx, actor("admin:ops"), row)
		if err != nil || again.Changed {
			t.Fatalf("the same row again: %+v, %v", again, err)
		}
		still, err := svc.ApplyClaim(ctx, actor("file:hr"), withState(hr, store.Withdrawn))
		if err != nil || !still.Card.Enabled {
			t.Fatalf("HR withdrew; the admin holds her: %+v, %v", still.Card, err)
		}
	})
}
