package directory_test

import (
	"errors"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// A bulk job applies what it held from its dry run only to the cards
// that did not change since: a card changed in between (another source's
// update, another admin's disable) is read again and changed as it now
// is, never written back as the dry run saw it.
func TestBulkWithHeldRereadsCardsChangedSinceTheDryRun(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		var ids []string
		for _, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
			in := present("file:hr", email)
			in.Attributes.Department = "Closing"
			out, err := svc.ApplyClaim(ctx, actor("file:hr"), in)
			if err != nil || out.Err != nil {
				t.Fatal(err, out.Err)
			}
			ids = append(ids, out.Card.ID)
		}
		in := directory.BulkInput{Action: directory.BulkDisable, Reason: "bulk"}
		held := directory.NewBulkHeld()
		// As a bulk by filter does: the cards its selection listed.
		page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Limit: 10})
		if err != nil || len(page.Cards) != 3 {
			t.Fatalf("list: %v %d", err, len(page.Cards))
		}
		held.Offer(page.Cards)
		dry, err := svc.BulkWithHeld(ctx, actor("admin:ops"), "acme", in, ids, true, held)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range dry {
			if !r.Changed || !r.Disables || r.Err != nil {
				t.Fatalf("dry run %d: %+v", i, r)
			}
		}
		// In between: HR changes bob's title, another admin disables cy.
		upd := present("file:hr", "bob@example.com")
		upd.Attributes.Title, upd.Attributes.Department = "Lead", "Closing"
		if out, err := svc.ApplyClaim(ctx, actor("file:hr"), upd); err != nil || !out.Changed {
			t.Fatalf("title: %v %+v", err, out)
		}
		if _, err := svc.Disable(ctx, actor("admin:other"), "acme", ids[2], "in between"); err != nil {
			t.Fatal(err)
		}
		res, err := svc.BulkWithHeld(ctx, actor("admin:ops"), "acme", in, ids, false, held)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if !res[0].Changed || !res[1].Changed || res[2].Changed || res[2].Err != nil {
			t.Fatalf("apply: %+v", res)
		}
		bob, err := svc.Get(ctx, "acme", ids[1])
		if err != nil || bob.Enabled || bob.Attributes.Title != "Lead" || bob.Attributes.Department != "Closing" || bob.Pin == nil || bob.Pin.Reason != "bulk" {
			t.Fatalf("bob after the bulk: %v %+v", err, bob)
		}
		ann, err := svc.Get(ctx, "acme", ids[0])
		if err != nil || ann.Enabled || ann.Attributes.Department != "Closing" || ann.Pin == nil || ann.Pin.Reason != "bulk" {
			t.Fatalf("ann after the bulk: %v %+v", err, ann)
		}
		cy, err := svc.Get(ctx, "acme", ids[2])
		if err != nil || cy.Enabled || cy.Pin == nil || cy.Pin.Reason != "in between" {
			t.Fatalf("cy after the bulk: %v %+v", err, cy)
		}
	})
}

// A resolve under a new policy never disables anyone: a card whose claims
// now resolve to disabled (here written under the directory's feet, as a
// rule change in an upgrade might leave it) is refused ErrWouldDisable and
// stays as it was; the others resolve as usual.
func TestBulkResolveNeverDisables(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc, _ := newService(st, ssoPolicy())
		var ids []string
		for _, email := range []string{"ann@example.com", "bob@example.com"} {
			out, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", email))
			if err != nil || out.Err != nil || !out.Card.Enabled {
				t.Fatal(err, out.Err)
			}
			ids = append(ids, out.Card.ID)
		}
		claims, err := st.ListClaims(ctx, "acme", ids[0])
		if err != nil || len(claims) != 1 {
			t.Fatalf("ann's claims: %v %v", claims, err)
		}
		claims[0].State = store.Deactivated
		if err := st.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Claims: claims}) }); err != nil {
			t.Fatal(err)
		}
		in := directory.BulkInput{Action: directory.BulkResolve}
		for _, dry := range []bool{true, false} {
			res, err := svc.BulkWithHeld(ctx, actor("admin:ops"), "acme", in, ids, dry, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[0].Err, directory.ErrWouldDisable) || res[0].Changed || res[0].Disables || !res[0].Card.Enabled {
				t.Fatalf("dry run %v: ann %+v, want refused ErrWouldDisable and left enabled", dry, res[0])
			}
			if res[1].Err != nil || res[1].Changed {
				t.Fatalf("dry run %v: bob %+v, want unchanged", dry, res[1])
			}
		}
		if c, err := svc.Get(ctx, "acme", ids[0]); err != nil || !c.Enabled {
			t.Fatalf("ann after the resolve: %+v %v", c, err)
		}
	})
}
