package directory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// invites counts the invite mails queued for a card.
func invites(t *testing.T, st store.Store, cardID string) int {
	t.Helper()
	msgs, err := st.ListOutbox(ctx, "acme", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.CardID == cardID && m.Kind == directory.OutboxInvite {
			n++
		}
	}
	return n
}

func TestApprovalNewCards(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := directory.DefaultPolicy()
		p.Approval = directory.ApprovalNewCards
		svc, _ := newService(st, p)

		ann, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "ann@acme.example"))
		if err != nil {
			t.Fatal(err)
		}
		if ann.Card.Enabled || directory.StatusOf(ann.Card, svc.Now()) != directory.PendingApproval {
			t.Fatalf("new card: enabled %v, status %s; want pending_approval", ann.Card.Enabled, directory.StatusOf(ann.Card, svc.Now()))
		}
		if n := invites(t, st, ann.Card.ID); n != 0 {
			t.Fatalf("%d invites before approval, want 0", n)
		}
		// A login of a card waiting for approval is refused.
		if _, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "ann@acme.example"}); !errors.Is(err, directory.ErrPendingApproval) || !errors.Is(err, directory.ErrDisabled) {
			t.Fatalf("login of a pending card: %v, want ErrPendingApproval", err)
		}
		// An admin's invite of a new card waits too.
		bob, err := svc.Invite(ctx, actor("admin:ops"), directory.AdminInput{Tenant: "acme", Email: "bob@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		if directory.StatusOf(bob.Card, svc.Now()) != directory.PendingApproval || invites(t, st, bob.Card.ID) != 0 {
			t.Fatalf("invited card: status %s, %d invites; want pending_approval, 0", directory.StatusOf(bob.Card, svc.Now()), invites(t, st, bob.Card.ID))
		}

		page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Status: "pending_approval"})
		if err != nil || len(page.Cards) != 2 {
			t.Fatalf("status=pending_approval: %d cards, %v; want 2", len(page.Cards), err)
		}
		if page, _ := svc.List(ctx, directory.ListQuery{Tenant: "acme", Status: "disabled"}); len(page.Cards) != 0 {
			t.Fatalf("status=disabled lists %d pending cards", len(page.Cards))
		}
		stats, err := svc.Stats(ctx, "acme")
		if err != nil || stats[directory.PendingApproval] != 2 || stats[directory.Disabled] != 0 {
			t.Fatalf("stats %v, %v; want 2 pending_approval, 0 disabled", stats, err)
		}

		// Approve: enabled, exactly one invite, whatever follows.
		card, err := svc.Approve(ctx, actor("admin:ops"), "acme", ann.Card.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !card.Enabled || directory.StatusOf(card, svc.Now()) != directory.InvitePending {
			t.Fatalf("approved: enabled %v, status %s; want invite_pending", card.Enabled, directory.StatusOf(card, svc.Now()))
		}
		if _, err := svc.Approve(ctx, actor("admin:ops"), "acme", ann.Card.ID); !errors.Is(err, directory.ErrNotPending) {
			t.Fatalf("second approve: %v, want ErrNotPending", err)
		}
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), withTitle(present("file:hr", "ann@acme.example"), "Engineer")); err != nil {
			t.Fatal(err)
		}
		if n := invites(t, st, ann.Card.ID); n != 1 {
			t.Fatalf("%d invites after approval and a sync, want exactly 1", n)
		}
		// The approval survives the sources: a sync does not undo it.
		if got, _ := svc.Get(ctx, "acme", ann.Card.ID); !got.Enabled || got.Approval == nil || got.Approval.State != store.ApprovalApproved || got.Approval.Actor != "admin:ops" {
			t.Fatalf("after sync: enabled %v, approval %+v", got.Enabled, got.Approval)
		}

		// Reject: disabled with its reason, and it stays so.
		card, err = svc.Reject(ctx, actor("admin:ops"), "acme", bob.Card.ID, "not one of ours")
		if err != nil {
			t.Fatal(err)
		}
		if card.Enabled || directory.StatusOf(card, svc.Now()) != directory.Disabled || card.Reason != `disabled: rejected by admin admin:ops on 2026-11-20 ("not one of ours")` {
			t.Fatalf("rejected: enabled %v, status %s, reason %q", card.Enabled, directory.StatusOf(card, svc.Now()), card.Reason)
		}
		if _, err := svc.Reject(ctx, actor("admin:ops"), "acme", bob.Card.ID, "again"); !errors.Is(err, directory.ErrNotPending) {
			t.Fatalf("second reject: %v, want ErrNotPending", err)
		}
		if n := invites(t, st, bob.Card.ID); n != 0 {
			t.Fatalf("%d invites for a rejected card", n)
		}
		e, err := svc.Explain(ctx, "acme", bob.Card.ID)
		if err != nil || e.Rule != directory.RuleApproval || e.Approval == nil || e.Approval.State != store.ApprovalRejected {
			t.Fatalf("explain rejected: rule %d, approval %+v, %v", e.Rule, e.Approval, err)
		}
	})
}

func withTitle(in directory.ClaimInput, title string) directory.ClaimInput {
	in.Attributes.Title = title
	return in
}

func TestApprovalJITOnly(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := directory.DefaultPolicy()
		p.Invite, p.JIT, p.Approval = "none", true, directory.ApprovalJIT
		svc, _ := newService(st, p)

		// A card a feed makes does not wait.
		hr, err := svc.ApplyClaim(ctx, actor("file:hr"), present("file:hr", "hr@acme.example"))
		if err != nil || !hr.Card.Enabled {
			t.Fatalf("feed card: enabled %v, %v", hr.Card.Enabled, err)
		}
		// A first SAML login makes a card that waits, and does not get in.
		card, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "jit@acme.example", NameID: "jit"})
		if !errors.Is(err, directory.ErrPendingApproval) {
			t.Fatalf("JIT login: %v, want ErrPendingApproval", err)
		}
		got, err := svc.GetByEmail(ctx, "acme", "jit@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != card.ID || directory.StatusOf(got, svc.Now()) != directory.PendingApproval || !got.FirstLoginAt.IsZero() {
			t.Fatalf("JIT card: status %s, first login %v", directory.StatusOf(got, svc.Now()), got.FirstLoginAt)
		}
		if _, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "jit@acme.example", NameID: "jit"}); !errors.Is(err, directory.ErrPendingApproval) {
			t.Fatalf("second login: %v, want ErrPendingApproval", err)
		}
		if _, err := svc.Approve(ctx, actor("admin:ops"), "acme", got.ID); err != nil {
			t.Fatal(err)
		}
		after, err := svc.RecordLogin(ctx, directory.Login{Tenant: "acme", Email: "jit@acme.example", NameID: "jit"})
		if err != nil || directory.StatusOf(after, svc.Now()) != directory.Active {
			t.Fatalf("login after approval: %s, %v", directory.StatusOf(after, svc.Now()), err)
		}
	})
}

func TestRelations(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := ssoPolicy()
		p.Relations = []string{"parent"}
		clk := testenv.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
		svc := directory.NewService(st, map[string]directory.Policy{"acme": p, "other": p}, directory.WithClock(clk.Now))

		// A card of another tenant with the parent's email never links.
		other := present("file:sis", "mum@acme.example")
		other.Tenant = "other"
		if _, err := svc.ApplyClaim(ctx, actor("file:sis"), other); err != nil {
			t.Fatal(err)
		}
		kid := present("file:sis", "kid@acme.example")
		kid.Attributes.Relations = map[string]string{"parent": "Mum@acme.example"}
		kid.Attributes.ManagerEmail = "teacher@acme.example"
		out, err := svc.ApplyClaim(ctx, actor("file:sis"), kid)
		if err != nil {
			t.Fatal(err)
		}
		links, err := svc.Links(ctx, out.Card)
		if err != nil {
			t.Fatal(err)
		}
		if l := links["parent"]; !l.Pending || l.CardID != "" || l.Email != "Mum@acme.example" {
			t.Fatalf("parent before the card exists: %+v, want pending", l)
		}
		if l := links[directory.RelationManager]; !l.Pending {
			t.Fatalf("manager before the card exists: %+v, want pending", l)
		}

		// The parent's card appears: the reference links by itself.
		mum, err := svc.ApplyClaim(ctx, actor("file:sis"), present("file:sis", "mum@acme.example"))
		if err != nil {
			t.Fatal(err)
		}
		kidCard, _ := svc.Get(ctx, "acme", out.Card.ID)
		links, err = svc.Links(ctx, kidCard)
		if err != nil {
			t.Fatal(err)
		}
		if l := links["parent"]; l.Pending || l.CardID != mum.Card.ID {
			t.Fatalf("parent after the card appeared: %+v, want linked to %s", l, mum.Card.ID)
		}

		// Self is refused, from a feed and from an admin.
		self := present("file:sis", "mum@acme.example")
		self.Attributes.Relations = map[string]string{"parent": "MUM@acme.example"}
		if _, err := svc.ApplyClaim(ctx, actor("file:sis"), self); !errors.Is(err, directory.ErrSelfRelation) {
			t.Fatalf("feed self relation: %v, want ErrSelfRelation", err)
		}
		if _, err := svc.Edit(ctx, actor("admin:ops"), "acme", mum.Card.ID, directory.Attributes{ManagerEmail: "mum@acme.example"}); !errors.Is(err, directory.ErrSelfRelation) {
			t.Fatalf("admin self manager: %v, want ErrSelfRelation", err)
		}
		if _, err := svc.Edit(ctx, actor("admin:ops"), "acme", mum.Card.ID, directory.Attributes{ManagerEmail: "not-an-email"}); !errors.Is(err, directory.ErrInvalidRelation) {
			t.Fatalf("admin manager not an email: %v, want ErrInvalidRelation", err)
		}
		if _, err := svc.Edit(ctx, actor("admin:ops"), "acme", mum.Card.ID, directory.Attributes{Relations: map[string]string{"uncle": "x@acme.example"}}); !errors.Is(err, directory.ErrUnknownRelation) {
			t.Fatalf("admin unknown relation: %v, want ErrUnknownRelation", err)
		}
		// A SCIM push with a bad manager still applies, without it.
		scim := present("scim:okta", "sam@acme.example")
		scim.Attributes.ManagerEmail = "not-an-email"
		sam, err := svc.ApplyClaim(ctx, actor("scim:okta"), scim)
		if err != nil || sam.Card.Attributes.ManagerEmail != "" {
			t.Fatalf("SCIM with a bad manager: %v, manager %q", err, sam.Card.Attributes.ManagerEmail)
		}

		// Filters: manager by email and by card id, assigned.
		teacher, err := svc.ApplyClaim(ctx, actor("file:sis"), present("file:sis", "teacher@acme.example"))
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []directory.ListQuery{
			{Tenant: "acme", Manager: "TEACHER@acme.example"},
			{Tenant: "acme", Manager: teacher.Card.ID},
			{Tenant: "acme", Assigned: ptr(true)},
			{Tenant: "acme", Relation: "parent", RelationTo: "MUM@acme.example"},
		} {
			page, err := svc.List(ctx, q)
			if err != nil || len(page.Cards) != 1 || page.Cards[0].ID != out.Card.ID {
				t.Fatalf("List(%+v) = %d cards, %v; want the kid", q, len(page.Cards), err)
			}
		}
		page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Assigned: ptr(false)})
		if err != nil || len(page.Cards) != 3 {
			t.Fatalf("assigned=false: %d cards, %v; want 3", len(page.Cards), err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestRolesFromSources(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := ssoPolicy()
		p.Roles, p.DefaultRole = []string{"admin", "staff", "client"}, "client"
		p.RoleRules = []directory.RoleRule{{Group: "rosterd-admins", Role: "admin"}, {Value: "Employee", Role: "staff", Source: "file"}}
		svc, _ := newService(st, p)

		in := present("file:hr", "ann@acme.example")
		in.Attributes.Role = "employee"
		ann, err := svc.ApplyClaim(ctx, actor("file:hr"), in)
		if err != nil || ann.Card.Attributes.Role != "staff" || ann.Card.RoleSource == "" {
			t.Fatalf("file value: role %q from %q, %v", ann.Card.Attributes.Role, ann.Card.RoleSource, err)
		}
		// An unknown value from a file is refused (the row is flagged) …
		bad := present("file:hr", "bad@acme.example")
		bad.Attributes.Role = "wizard"
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), bad); !errors.Is(err, directory.ErrUnknownRole) {
			t.Fatalf("file unknown role: %v, want ErrUnknownRole", err)
		}
		// … from SCIM it is ignored, the push applies.
		scim := present("scim:okta", "sam@acme.example")
		scim.Attributes.Role = "wizard"
		sam, err := svc.ApplyClaim(ctx, actor("scim:okta"), scim)
		if err != nil || sam.Card.Attributes.Role != "client" || sam.Card.RoleSource != directory.RoleFromDefault {
			t.Fatalf("SCIM unknown role: %v, role %q from %q", err, sam.Card.Attributes.Role, sam.Card.RoleSource)
		}
		// An admin's pin beats the rule; an unknown one is refused.
		if _, err := svc.Edit(ctx, actor("admin:ops"), "acme", ann.Card.ID, directory.Attributes{Role: "wizard"}); !errors.Is(err, directory.ErrUnknownRole) {
			t.Fatalf("admin unknown role: %v", err)
		}
		card, err := svc.Edit(ctx, actor("admin:ops"), "acme", ann.Card.ID, directory.Attributes{Role: "Admin"})
		if err != nil || card.Attributes.Role != "admin" || card.RoleSource != directory.RoleFromPin {
			t.Fatalf("admin pin: role %q from %q, %v", card.Attributes.Role, card.RoleSource, err)
		}
		page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Role: "ADMIN"})
		if err != nil || len(page.Cards) != 1 || page.Cards[0].ID != ann.Card.ID {
			t.Fatalf("role=admin: %d cards, %v", len(page.Cards), err)
		}
		e, err := svc.Explain(ctx, "acme", sam.Card.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range e.Attributes {
			if a.Name == "role" && a.Value == "client" && a.Source == directory.RoleFromDefault {
				found = true
			}
		}
		if !found {
			t.Fatalf("explain does not say the role is the default: %+v", e.Attributes)
		}
	})
}

// TestSCIMGroupMapsRole: a member of the SCIM group rosterd-admins is an
// admin by the tenant's rule; renaming the group away ends it.
func TestSCIMGroupMapsRole(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := ssoPolicy()
		p.Roles, p.DefaultRole = []string{"admin", "staff"}, "staff"
		p.RoleRules = []directory.RoleRule{{Group: "rosterd-admins", Source: "scim", Role: "admin"}}
		svc, _ := newService(st, p)
		in := present("scim:okta", "ann@acme.example")
		in.KeepGroups = true
		ann, err := svc.ApplyClaim(ctx, actor("scim:okta"), in)
		if err != nil || ann.Card.Attributes.Role != "staff" {
			t.Fatalf("before the group: role %q, %v", ann.Card.Attributes.Role, err)
		}
		g, err := svc.CreateGroup(ctx, actor("scim:okta"), directory.GroupInput{Tenant: "acme", Source: "scim:okta", DisplayName: "Rosterd-Admins"}, []string{ann.Card.ID})
		if err != nil {
			t.Fatal(err)
		}
		card, _ := svc.Get(ctx, "acme", ann.Card.ID)
		if card.Attributes.Role != "admin" || card.RoleSource != `rule 1 (group "rosterd-admins" of scim → admin) on scim:okta` {
			t.Fatalf("in the group: role %q from %q", card.Attributes.Role, card.RoleSource)
		}
		name := "Everyone"
		if _, err := svc.UpdateGroup(ctx, actor("scim:okta"), "acme", "scim:okta", g.Group.ID, directory.GroupChange{DisplayName: &name}); err != nil {
			t.Fatal(err)
		}
		card, _ = svc.Get(ctx, "acme", ann.Card.ID)
		if card.Attributes.Role != "staff" || card.RoleSource != directory.RoleFromDefault {
			t.Fatalf("after the rename: role %q from %q", card.Attributes.Role, card.RoleSource)
		}
	})
}

// TestTenantGroups: an admin's group takes any card of the tenant, is
// renamed and deleted with its members' cards following; a SCIM group is
// read-only to admins; a card's groups are the union of its sources'.
func TestTenantGroups(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		clk := testenv.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
		svc := directory.NewService(st, map[string]directory.Policy{"acme": ssoPolicy(), "other": ssoPolicy()}, directory.WithClock(clk.Now))
		scimIn := present("scim:okta", "ann@acme.example")
		scimIn.KeepGroups = true
		ann, err := svc.ApplyClaim(ctx, actor("scim:okta"), scimIn)
		if err != nil {
			t.Fatal(err)
		}
		file := present("file:hr", "ann@acme.example")
		file.Attributes.Groups = []string{"Berlin"}
		if _, err := svc.ApplyClaim(ctx, actor("file:hr"), file); err != nil {
			t.Fatal(err)
		}
		otherIn := present("file:hr", "x@other.example")
		otherIn.Tenant = "other"
		stranger, err := svc.ApplyClaim(ctx, actor("file:hr"), otherIn)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := svc.CreateGroup(ctx, actor("scim:okta"), directory.GroupInput{Tenant: "acme", Source: "scim:okta", DisplayName: "Engineering"}, []string{ann.Card.ID})
		if err != nil {
			t.Fatal(err)
		}
		ag, err := svc.CreateAdminGroup(ctx, actor("admin:ops"), "acme", "Mentors")
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.ChangeAdminGroupMembers(ctx, actor("admin:ops"), "acme", ag.ID, []string{ann.Card.ID, stranger.Card.ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Ignored) != 1 || res.Ignored[0] != stranger.Card.ID {
			t.Fatalf("ignored %v, want the other tenant's card", res.Ignored)
		}
		card, _ := svc.Get(ctx, "acme", ann.Card.ID)
		if fmt.Sprint(card.Attributes.Groups) != "[Mentors Engineering Berlin]" || !card.Enabled {
			t.Fatalf("groups from three sources: %v (enabled %v)", card.Attributes.Groups, card.Enabled)
		}
		if _, err := svc.RenameAdminGroup(ctx, actor("admin:ops"), "acme", sg.Group.ID, "Eng"); !errors.Is(err, directory.ErrGroupReadOnly) {
			t.Fatalf("renaming a SCIM group: %v, want ErrGroupReadOnly", err)
		}
		if err := svc.DeleteAdminGroup(ctx, actor("admin:ops"), "acme", sg.Group.ID); !errors.Is(err, directory.ErrGroupReadOnly) {
			t.Fatalf("deleting a SCIM group: %v, want ErrGroupReadOnly", err)
		}
		if _, err := svc.RenameAdminGroup(ctx, actor("admin:ops"), "acme", ag.ID, "Buddies"); err != nil {
			t.Fatal(err)
		}
		if page, err := svc.List(ctx, directory.ListQuery{Tenant: "acme", Group: "Buddies"}); err != nil || len(page.Cards) != 1 {
			t.Fatalf("group=Buddies: %d cards, %v", len(page.Cards), err)
		}
		groups, err := svc.ListTenantGroups(ctx, "acme", "", 100)
		if err != nil || len(groups) != 2 {
			t.Fatalf("ListTenantGroups: %v, %v", groups, err)
		}
		for _, g := range groups {
			if g.Members != 1 {
				t.Fatalf("group %s has %d members, want 1", g.DisplayName, g.Members)
			}
		}
		if err := svc.DeleteAdminGroup(ctx, actor("admin:ops"), "acme", ag.ID); err != nil {
			t.Fatal(err)
		}
		card, _ = svc.Get(ctx, "acme", ann.Card.ID)
		if fmt.Sprint(card.Attributes.Groups) != "[Engineering Berlin]" || !card.Enabled {
			t.Fatalf("after delete: groups %v, enabled %v", card.Attributes.Groups, card.Enabled)
		}
	})
}
