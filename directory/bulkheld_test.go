package directory_test

import (
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
