package admin

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
)

// result is results[i] of an invite answer.
func result(t *testing.T, r response, i int) map[string]any {
	t.Helper()
	res, _ := r.Body["results"].([]any)
	if i >= len(res) {
		t.Fatalf("no result %d in %s", i, r.Raw)
	}
	return res[i].(map[string]any)
}

// attrs is a result's card's attributes.
func attrs(m map[string]any) map[string]any {
	card, _ := m["card"].(map[string]any)
	a, _ := card["attributes"].(map[string]any)
	if a == nil {
		return map[string]any{}
	}
	return a
}

func notInvited(m map[string]any) string {
	if n, ok := m["not_invited"].(map[string]any); ok {
		return fmt.Sprint(n["reason"])
	}
	return ""
}

func TestInviteOnePersonWithANameInOneCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"email": "Ann.Smith@Example.com", "given_name": "Ann", "family_name": "Smith",
			"role": "admin", "groups": []string{"eng"}, "manager_email": "boss@example.com", "title": "CTO", "department": "R&D", "location": "Berlin"})
		got := result(t, r, 0)
		if got["action"] != "created" || got["created"] != true || got["invited"] != true || got["field"] != "email" || r.Body["invited"] != float64(1) {
			t.Fatalf("invite: %s", r.Raw)
		}
		card := got["card"].(map[string]any)
		if card["status"] != "invite_pending" {
			t.Errorf("status: %v", card["status"])
		}
		for k, want := range map[string]any{"given_name": "Ann", "family_name": "Smith", "role": "admin", "manager_email": "boss@example.com",
			"title": "CTO", "department": "R&D", "location": "Berlin"} {
			if v := attrs(got)[k]; v != want {
				t.Errorf("%s: %v, want %v", k, v, want)
			}
		}
		id := fmt.Sprint(card["id"])
		if msgs := e.outbox(id); len(msgs) != 1 || msgs[0].Kind != directory.OutboxInvite {
			t.Fatalf("outbox: %+v", msgs)
		}

		// Again with a new title: the other fields stay; the invite sent a
		// moment ago is live, so none goes out (as GitLab and WorkOS
		// answer an invite of someone invited already): the outbox
		// holds one invite, the token is the first one.
		annID := fmt.Sprint(got["card"].(map[string]any)["id"])
		token := e.inviteToken(annID)
		r = e.must(200, "POST", acme+"/cards/invite", map[string]any{"email": "ann.smith@example.com", "title": "CEO"})
		got = result(t, r, 0)
		if a := attrs(got); got["action"] != "updated" || got["invited"] != false || notInvited(got) != "invite_pending" ||
			a["title"] != "CEO" || a["department"] != "R&D" || a["given_name"] != "Ann" {
			t.Fatalf("second invite: %s", r.Raw)
		}
		if msgs := e.outbox(annID); len(msgs) != 1 || e.inviteToken(annID) != token {
			t.Fatalf("a live invite was sent again: %d outbox messages", len(msgs))
		}
		// Once it has expired, inviting again sends a new one.
		e.clock.Advance(8 * 24 * time.Hour)
		r = e.must(200, "POST", acme+"/cards/invite", map[string]any{"email": "ann.smith@example.com"})
		if got := result(t, r, 0); got["invited"] != true {
			t.Fatalf("invite after expiry: %s", r.Raw)
		}
		if msgs := e.outbox(annID); len(msgs) != 2 {
			t.Fatalf("after expiry: %d outbox messages, want 2", len(msgs))
		}

		// Added without an invite.
		r = e.must(200, "POST", acme+"/cards/invite", map[string]any{"email": "bob@example.com", "given_name": "Bob", "send_invite": false})
		got = result(t, r, 0)
		if got["action"] != "created" || got["invited"] != false || notInvited(got) != "not_requested" || r.Body["not_invited"] != float64(1) {
			t.Fatalf("send_invite false: %s", r.Raw)
		}
		bob := fmt.Sprint(got["card"].(map[string]any)["id"])
		if msgs := e.outbox(bob); len(msgs) != 0 {
			t.Fatalf("outbox of a person added without an invite: %+v", msgs)
		}
		if s := e.status(bob); s != "provisioned" {
			t.Fatalf("bob: %s", s)
		}
	})
}

func TestInviteSaysWhyNoInviteWentOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com", "cy@example.com")
		e.runFeed("hr")
		ann, bob := e.cardID("ann@example.com"), e.cardID("bob@example.com")
		e.must(200, "POST", acme+"/cards/"+ann+"/disable", map[string]string{"reason": "left"})
		if _, err := e.dir.AcceptInvite(t.Context(), "acme", e.inviteToken(e.cardID("cy@example.com"))); err != nil {
			t.Fatal(err)
		}
		// Bob leaves the file: disabled, no source lists him.
		e.setSnapshot("hr", "ann@example.com", "cy@example.com")
		e.runFeed("hr")
		if s := e.status(bob); s != "disabled" {
			t.Fatalf("bob after leaving the file: %s", s)
		}

		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@example.com", "bob@example.com", "cy@example.com"}})
		for i, want := range []struct{ action, notInvited string }{
			{"updated", "pinned_disabled"}, // the admin's claim is added, the pin holds
			{"re-enabled", ""},
			{"updated", "already_active"},
		} {
			got := result(t, r, i)
			if got["action"] != want.action || notInvited(got) != want.notInvited || got["invited"] != (want.notInvited == "") {
				t.Errorf("%s: action %v, not invited %q, want %s, %q", got["email"], got["action"], notInvited(got), want.action, want.notInvited)
			}
		}
		if r.Body["invited"] != float64(1) || r.Body["not_invited"] != float64(2) || r.Body["re_enabled"] != float64(1) || r.Body["updated"] != float64(2) {
			t.Fatalf("summary: %s", r.Raw)
		}
		// Once more: nothing changes for ann, whose pin holds.
		r = e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@example.com"}})
		if got := result(t, r, 0); got["action"] != "unchanged" || notInvited(got) != "pinned_disabled" {
			t.Fatalf("again: %s", r.Raw)
		}
	})
}

func TestInvitePastedNamesAndPeople(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		text := "Ann Smith <ann@example.com>\n\"Doe, Jane\" <jane@example.com>; bo@example.com\nnot-an-email, Cy <cy@>\n"
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"text": text, "role": "viewer"})
		type want struct {
			email, given, family, field string
			line                        float64
			err                         string
		}
		for i, w := range []want{
			{"ann@example.com", "Ann", "Smith", "emails[0]", 1, ""},
			{"jane@example.com", "Jane", "Doe", "emails[1]", 2, ""},
			{"bo@example.com", "", "", "emails[2]", 2, ""},
			{"not-an-email", "", "", "emails[3]", 3, "invalid_email"},
			{"cy@", "Cy", "", "emails[4]", 3, "invalid_email"},
		} {
			got := result(t, r, i)
			if got["field"] != w.field || got["line"] != w.line {
				t.Errorf("entry %d: %v", i, got)
			}
			if w.err != "" {
				if e, _ := got["error"].(map[string]any); e == nil || e["code"] != w.err || e["field"] != w.field {
					t.Errorf("entry %d: %v, want error %s", i, got, w.err)
				}
				continue
			}
			a := attrs(got)
			if got["email"] != w.email || a["role"] != "viewer" || fmt.Sprint(a["given_name"]) != w.given && w.given != "" || (w.family != "" && a["family_name"] != w.family) {
				t.Errorf("entry %d: %v, want %+v", i, got, w)
			}
		}
		if r.Body["accepted"] != float64(3) || r.Body["refused"] != float64(2) || r.Body["invited"] != float64(3) {
			t.Fatalf("summary: %s", r.Raw)
		}

		// people: each with its own fields; the top-level role is the default.
		r = e.must(200, "POST", acme+"/cards/invite", map[string]any{"role": "member", "people": []map[string]any{
			{"email": "dee@example.com", "given_name": "Dee", "family_name": "Lee", "department": "Ops"},
			{"email": "eve@example.com", "role": "admin", "send_invite": false},
		}})
		dee, eve := result(t, r, 0), result(t, r, 1)
		if dee["field"] != "people[0]" || attrs(dee)["role"] != "member" || attrs(dee)["department"] != "Ops" || attrs(dee)["family_name"] != "Lee" || dee["invited"] != true {
			t.Errorf("dee: %v", dee)
		}
		if attrs(eve)["role"] != "admin" || notInvited(eve) != "not_requested" {
			t.Errorf("eve: %v", eve)
		}
	})
}

func TestInviteRefusesBadRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		many := make([]map[string]string, 1001)
		for i := range many {
			many[i] = map[string]string{"email": fmt.Sprintf("p%d@example.com", i)}
		}
		for _, tc := range []struct {
			body        any
			code, field string
		}{
			{map[string]any{"given_name": "Ann"}, "invalid_value", "email"},
			{map[string]any{"emial": "ann@example.com"}, "unknown_field", "emial"},
			{map[string]any{"people": []map[string]any{{"email": "a@example.com", "nmae": "x"}}}, "unknown_field", "nmae"},
			{map[string]any{"people": []map[string]any{{"given_name": "x"}}}, "invalid_value", "people[0].email"},
			{map[string]any{"people": many}, "invalid_value", "people"},
			{map[string]any{"email": "a@example.com", "title": strings.Repeat("x", 1001)}, "invalid_value", "email"},
			{map[string]any{}, "invalid_value", "emails"},
		} {
			r := e.do("POST", acme+"/cards/invite", rwKey, tc.body)
			if r.Status != 400 || r.errCode() != tc.code || r.errField() != tc.field {
				b, _ := json.Marshal(tc.body)
				t.Errorf("%.100s: %d %.300s, want 400 %s field %s", b, r.Status, r.Raw, tc.code, tc.field)
			}
		}
		if r := e.must(200, "GET", acme+"/cards/stats", nil); r.Body["total"] != float64(0) {
			t.Fatalf("a refused request wrote cards: %s", r.Raw)
		}
	})
}
