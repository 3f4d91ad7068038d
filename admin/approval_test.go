package admin

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// newPolicyEnv is an env whose tenant acme has the policy given (no SCIM,
// no feeds): the approval, role and relation endpoints.
func newPolicyEnv(t *testing.T, st store.Backend, policy directory.Policy) *env {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	svc := directory.NewService(st, map[string]directory.Policy{"acme": policy}, directory.WithClock(clk.Now))
	keys := credential.NewKeyring(st, []credential.Static{{Kind: store.AdminKey, Name: "ops", Secret: rwKey}})
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	api := New(keys, tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme"}), logger, reg)
	api.With(Services{Directory: svc, Store: st, Events: st})
	api.Mount(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, dir: svc, store: st, clock: clk}
}

func groupsPolicy() directory.Policy {
	p := directory.DefaultPolicy()
	p.Approval = directory.ApprovalNewCards
	p.Roles, p.DefaultRole = []string{"admin", "staff", "client"}, "client"
	p.RoleRules = []directory.RoleRule{{Group: "rosterd-admins", Role: "admin"}}
	p.Relations = []string{"parent"}
	return p
}

func TestAPIApproval(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newPolicyEnv(t, st, groupsPolicy())
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@acme.example", "bob@acme.example"}})
		// Accepted, not invited yet: the invite goes out on approval.
		if r.Body["accepted"] != float64(2) || r.Body["invited"] != float64(0) || !strings.Contains(r.Raw, `"reason":"pending_approval"`) {
			t.Fatalf("invite: %s", r.Raw)
		}
		ann, bob := e.cardID("ann@acme.example"), e.cardID("bob@acme.example")
		if s := e.status(ann); s != "pending_approval" {
			t.Fatalf("invited card is %s, want pending_approval", s)
		}
		list := e.must(200, "GET", acme+"/cards?status=pending_approval", nil)
		if n := len(list.Body["cards"].([]any)); n != 2 {
			t.Fatalf("status=pending_approval lists %d cards, want 2", n)
		}
		stats := e.must(200, "GET", acme+"/cards/stats", nil)
		if c := stats.Body["counts"].(map[string]any); c["pending_approval"] != float64(2) || c["disabled"] != float64(0) {
			t.Fatalf("stats %s", stats.Raw)
		}

		r = e.must(200, "POST", acme+"/cards/"+ann+"/approve", map[string]any{})
		if r.Body["status"] != "invite_pending" || r.Body["enabled"] != true {
			t.Fatalf("approved: %s", r.Raw)
		}
		if r := e.do("POST", acme+"/cards/"+ann+"/approve", rwKey, map[string]any{}); r.Status != 409 || r.errCode() != "not_pending" {
			t.Fatalf("second approve: %d %s, want 409 not_pending", r.Status, r.Raw)
		}
		if n := invites(t, st, ann); n != 1 {
			t.Fatalf("%d invites after approve, want exactly 1", n)
		}
		r = e.must(200, "POST", acme+"/cards/"+bob+"/reject", map[string]any{"reason": "unknown to us"})
		if r.Body["status"] != "disabled" || r.Body["approval"].(map[string]any)["reason"] != "unknown to us" {
			t.Fatalf("rejected: %s", r.Raw)
		}
		if n := invites(t, st, bob); n != 0 {
			t.Fatalf("%d invites for a rejected card", n)
		}
	})
}

// The Users page's "Approve + Notify" for many: bulk approve lets the
// waiting cards in, each with exactly one invite; bulk reject keeps them
// out with the reason; a card that does not wait is refused, the others
// still apply; the audit lines carry the bulk id.
func TestBulkApproveAndReject(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newPolicyEnv(t, st, groupsPolicy())
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"}})
		ann, bob, cy, dee := e.cardID("ann@acme.example"), e.cardID("bob@acme.example"), e.cardID("cy@acme.example"), e.cardID("dee@acme.example")
		e.must(200, "POST", acme+"/cards/"+dee+"/approve", map[string]any{})

		dry := e.must(200, "POST", acme+"/cards/bulk", map[string]any{"action": "approve", "ids": []string{ann, bob, dee}, "dry_run": true})
		if count(dry, "changed") != 2 || count(dry, "refused") != 1 || invites(t, st, ann) != 0 {
			t.Fatalf("dry run: %.400s", dry.Raw)
		}
		r := e.must(200, "POST", acme+"/cards/bulk", map[string]any{"action": "approve", "ids": []string{ann, bob, dee}})
		it := items(t, r)
		if count(r, "changed") != 2 || it[0]["status"] != "invite_pending" || it[1]["status"] != "invite_pending" ||
			it[2]["error"].(map[string]any)["code"] != "not_pending" {
			t.Fatalf("bulk approve: %.600s", r.Raw)
		}
		for _, id := range []string{ann, bob, dee} {
			if n := invites(t, st, id); n != 1 {
				t.Fatalf("card %s: %d invites after the bulk approve, want exactly 1", id, n)
			}
		}
		audit := e.must(200, "GET", acme+"/audit?run="+fmt.Sprint(r.Body["id"]), nil)
		if n := strings.Count(audit.Raw, `"action":"admin.approve"`); n != 2 {
			t.Fatalf("%d admin.approve audit lines with the bulk id, want 2: %.400s", n, audit.Raw)
		}

		r = e.must(200, "POST", acme+"/cards/bulk", map[string]any{"action": "reject", "ids": []string{cy}, "reason": "not one of ours"})
		if count(r, "changed") != 1 || items(t, r)[0]["status"] != "disabled" || invites(t, st, cy) != 0 {
			t.Fatalf("bulk reject: %.400s", r.Raw)
		}
		if c := e.must(200, "GET", acme+"/cards/"+cy, nil); c.Body["approval"].(map[string]any)["reason"] != "not one of ours" {
			t.Fatalf("rejected card: %s", c.Raw)
		}
		if r := e.do("POST", acme+"/cards/bulk", rwKey, map[string]any{"action": "approve", "ids": []string{cy}, "reason": "x"}); r.Status != 400 || !strings.Contains(r.Raw, `"field":"reason"`) {
			t.Fatalf("approve with a reason: %d %s, want 400 naming reason", r.Status, r.Raw)
		}
	})
}

// invites counts the invite mails queued for a card.
func invites(t *testing.T, st store.Store, cardID string) int {
	t.Helper()
	msgs, err := st.ListOutbox(t.Context(), "acme", 0, 1000)
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

func TestAPIRolesAndRelations(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := groupsPolicy()
		p.Approval = ""
		e := newPolicyEnv(t, st, p)
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"kid@acme.example", "teacher@acme.example", "other@acme.example"}})
		kid, teacher := e.cardID("kid@acme.example"), e.cardID("teacher@acme.example")

		roles := e.must(200, "GET", acme+"/roles", nil)
		if fmt.Sprint(roles.Body["roles"]) != "[admin staff client]" || roles.Body["default_role"] != "client" ||
			fmt.Sprint(roles.Body["relations"]) != "[manager parent]" || len(roles.Body["rules"].([]any)) != 1 {
			t.Fatalf("roles: %s", roles.Raw)
		}

		// Refusals name the field.
		for _, tc := range []struct {
			body        map[string]any
			code, field string
		}{
			{map[string]any{"role": "wizard"}, "unknown_role", "role"},
			{map[string]any{"manager_email": "not-an-email"}, "invalid_relation", "manager_email"},
			{map[string]any{"manager_email": "KID@acme.example"}, "invalid_relation", "manager_email"},
			{map[string]any{"relations": map[string]any{"uncle": "x@acme.example"}}, "invalid_relation", "relations"},
			{map[string]any{"relations": map[string]any{"parent": "kid@acme.example"}}, "invalid_relation", "relations.parent"},
		} {
			r := e.do("PATCH", acme+"/cards/"+kid, rwKey, tc.body)
			if r.Status != 400 || r.errCode() != tc.code || r.errField() != tc.field {
				t.Errorf("PATCH %v: %d %s, want 400 %s on %s", tc.body, r.Status, r.Raw, tc.code, tc.field)
			}
		}

		r := e.must(200, "PATCH", acme+"/cards/"+kid, map[string]any{"role": "Staff", "manager_email": "Teacher@acme.example",
			"relations": map[string]any{"parent": "mum@acme.example"}})
		if a := r.Body["attributes"].(map[string]any); a["role"] != "staff" || r.Body["role_source"] != directory.RoleFromPin {
			t.Fatalf("PATCH: %s", r.Raw)
		}
		got := e.must(200, "GET", acme+"/cards/"+kid, nil)
		links := got.Body["links"].(map[string]any)
		if m := links["manager"].(map[string]any); m["card_id"] != teacher {
			t.Fatalf("manager link: %s", got.Raw)
		}
		if par := links["parent"].(map[string]any); par["pending"] != true {
			t.Fatalf("parent link before the card exists: %s", got.Raw)
		}
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"mum@acme.example"}})
		got = e.must(200, "GET", acme+"/cards/"+kid, nil)
		if par := got.Body["links"].(map[string]any)["parent"].(map[string]any); par["card_id"] != e.cardID("mum@acme.example") {
			t.Fatalf("parent link after the card appeared: %s", got.Raw)
		}

		ids := func(path string) []string {
			r := e.must(200, "GET", path, nil)
			var out []string
			for _, c := range r.Body["cards"].([]any) {
				out = append(out, fmt.Sprint(c.(map[string]any)["email"]))
			}
			sort.Strings(out)
			return out
		}
		for path, want := range map[string]string{
			acme + "/cards?role=staff":                            "[kid@acme.example]",
			acme + "/cards?role=client&assigned=false":            "[mum@acme.example other@acme.example teacher@acme.example]",
			acme + "/cards?manager=teacher@acme.example":          "[kid@acme.example]",
			acme + "/cards?manager=" + teacher + "&assigned=true": "[kid@acme.example]",
			acme + "/cards?relation.parent=mum@acme.example":      "[kid@acme.example]",
			acme + "/cards?relation.parent=dad@acme.example":      "[]",
		} {
			if got := fmt.Sprint(ids(path)); got != want {
				t.Errorf("GET %s = %s, want %s", path, got, want)
			}
		}
		stats := e.must(200, "GET", acme+"/cards/stats", nil)
		if roles := stats.Body["roles"].(map[string]any); roles["staff"] != float64(1) || roles["client"] != float64(3) {
			t.Fatalf("stats by role: %s", stats.Raw)
		}

		// The event feed and the export carry role, manager and relations.
		ev := e.must(200, "GET", acme+"/events", nil)
		found := false
		for _, x := range ev.Body["events"].([]any) {
			x := x.(map[string]any)
			card, _ := x["data"].(map[string]any)["card"].(map[string]any)
			if x["card_id"] != kid || card == nil {
				continue
			}
			a := card["attributes"].(map[string]any)
			rel, _ := a["relations"].(map[string]any)
			if a["role"] == "staff" && a["manager_email"] == "Teacher@acme.example" && rel["parent"] == "mum@acme.example" && card["role_source"] == directory.RoleFromPin {
				found = true
			}
		}
		if !found {
			t.Fatalf("no event of the kid's card with role, manager and parent: %s", ev.Raw)
		}
		export := e.do("GET", acme+"/cards/export.csv?role=staff", rwKey, nil)
		if export.Status != 200 || !strings.Contains(export.Raw, ",staff,") || !strings.Contains(export.Raw, "Teacher@acme.example") ||
			!strings.Contains(export.Raw, "parent=mum@acme.example") || !strings.Contains(export.Raw, ",role_source,relations") {
			t.Fatalf("export: %d %s", export.Status, export.Raw)
		}

		for _, path := range []string{acme + "/cards?assigned=maybe", acme + "/cards?manager=no-such-card", acme + "/cards?relation.parent=nobody"} {
			if r := e.do("GET", path, rwKey, nil); r.Status != 400 || r.errCode() != "invalid_value" {
				t.Errorf("GET %s: %d %s, want 400 invalid_value", path, r.Status, r.Raw)
			}
		}
	})
}

func TestAPIGroups(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		p := groupsPolicy()
		p.Approval = ""
		e := newPolicyEnv(t, st, p)
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@acme.example", "bob@acme.example"}})
		ann, bob := e.cardID("ann@acme.example"), e.cardID("bob@acme.example")

		r := e.must(201, "POST", acme+"/groups", map[string]any{"name": "Mentors"})
		id := fmt.Sprint(r.Body["id"])
		if r.Body["source"] != "admin" || r.Body["read_only"] != false {
			t.Fatalf("created: %s", r.Raw)
		}
		if r := e.do("POST", acme+"/groups", rwKey, map[string]any{"name": "mentors"}); r.Status != 409 || r.errCode() != "name_taken" {
			t.Fatalf("duplicate name: %d %s", r.Status, r.Raw)
		}
		r = e.must(200, "POST", acme+"/groups/"+id+"/members", map[string]any{"ids": []string{ann, bob, "no-such-card"}})
		if fmt.Sprint(r.Body["ignored"]) != "[no-such-card]" {
			t.Fatalf("add members: %s", r.Raw)
		}
		e.must(200, "PATCH", acme+"/groups/"+id, map[string]any{"name": "Buddies"})
		list := e.must(200, "GET", acme+"/groups", nil)
		g := list.Body["groups"].([]any)[0].(map[string]any)
		if g["name"] != "Buddies" || g["members"] != float64(2) {
			t.Fatalf("list: %s", list.Raw)
		}
		if n := len(e.must(200, "GET", acme+"/cards?group=Buddies", nil).Body["cards"].([]any)); n != 2 {
			t.Fatalf("group=Buddies lists %d cards", n)
		}
		e.must(200, "DELETE", acme+"/groups/"+id+"/members", map[string]any{"ids": []string{bob}})
		members := e.must(200, "GET", acme+"/groups/"+id+"/members", nil)
		if fmt.Sprint(members.Body["ids"]) != "["+ann+"]" {
			t.Fatalf("members: %s", members.Raw)
		}
		e.must(204, "DELETE", acme+"/groups/"+id, nil)
		card := e.must(200, "GET", acme+"/cards/"+ann, nil)
		if _, has := card.Body["attributes"].(map[string]any)["groups"]; has || card.Body["enabled"] != true {
			t.Fatalf("card after the group's delete: %s", card.Raw)
		}
		if r := e.do("GET", acme+"/groups/"+id, rwKey, nil); r.Status != 404 {
			t.Fatalf("deleted group: %d", r.Status)
		}
	})
}
