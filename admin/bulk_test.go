package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// seedMany adds n people to a tenant in one invite call, each with the
// department, and returns their card ids in order.
func (e *env) seedMany(tenant, prefix string, n int, dept string) []string {
	e.t.Helper()
	people := make([]map[string]any, n)
	for i := range people {
		people[i] = map[string]any{"email": fmt.Sprintf("%s%03d@example.com", prefix, i), "given_name": fmt.Sprintf("P%d", i), "department": dept}
	}
	r := e.must(200, "POST", "/api/v1/tenants/"+tenant+"/cards/invite", map[string]any{"people": people})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(result(e.t, r, i)["card"].(map[string]any)["id"])
	}
	return ids
}

// items is a bulk answer's results.
func items(t *testing.T, r response) []map[string]any {
	t.Helper()
	res, _ := r.Body["results"].([]any)
	out := make([]map[string]any, len(res))
	for i, x := range res {
		out[i] = x.(map[string]any)
	}
	return out
}

func count(r response, name string) float64 {
	c, _ := r.Body["counts"].(map[string]any)
	n, _ := c[name].(float64)
	return n
}

func TestBulkDisableFiftyByIDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ids := e.seedMany("acme", "p", 50, "Sales")
		e.must(200, "POST", acme+"/cards/"+ids[7]+"/disable", map[string]string{"reason": "earlier"})
		sel := append([]string{"00000000-0000-7000-8000-000000000000"}, ids...)

		dry := e.must(200, "POST", acme+"/cards/bulk", map[string]any{"action": "disable", "ids": sel, "reason": "contract ended", "dry_run": true})
		if dry.Body["status"] != "planned" || count(dry, "changed") != 49 || count(dry, "unchanged") != 1 || count(dry, "refused") != 1 || count(dry, "selected") != 51 {
			t.Fatalf("dry run: %.600s", dry.Raw)
		}
		if it := items(t, dry); len(it) != 51 || it[0]["error"].(map[string]any)["code"] != "not_found" || it[1]["card_id"] != ids[0] ||
			it[1]["changed"] != true || it[1]["status"] != "disabled" || it[8]["changed"] != false {
			t.Fatalf("dry run results: %.600s", dry.Raw)
		}
		if st := e.must(200, "GET", acme+"/cards/stats", nil); st.Body["enabled"] != float64(49) {
			t.Fatalf("a dry run changed cards: %s", st.Raw)
		}

		r := e.must(200, "POST", acme+"/cards/bulk", map[string]any{"action": "disable", "ids": sel, "reason": "contract ended"})
		if r.Body["status"] != "applied" || count(r, "changed") != 49 || count(r, "refused") != 1 || count(r, "done") != 51 {
			t.Fatalf("bulk disable: %.600s", r.Raw)
		}
		it := items(t, r)
		for i, id := range ids {
			if it[i+1]["card_id"] != id || it[i+1]["status"] != "disabled" {
				t.Fatalf("result %d: %v, want %s disabled", i+1, it[i+1], id)
			}
		}
		if st := e.must(200, "GET", acme+"/cards/stats", nil); st.Body["enabled"] != float64(0) {
			t.Fatalf("after the bulk disable: %s", st.Raw)
		}
		bulk := fmt.Sprint(r.Body["id"])
		// One bulk id ties the audit lines and the events together.
		au := e.must(200, "GET", acme+"/audit?run="+bulk+"&limit=1000", nil)
		if evs, _ := au.Body["events"].([]any); len(evs) != 49 || !strings.Contains(au.Raw, `"action":"card.pinned"`) {
			t.Fatalf("audit of the bulk job: %d lines", len(evs))
		}
		ev := e.must(200, "GET", acme+"/events?limit=1000", nil)
		tied := 0
		for _, x := range ev.Body["events"].([]any) {
			m := x.(map[string]any)
			data, _ := json.Marshal(m["data"])
			if strings.Contains(string(data), `"run_id":"`+bulk+`"`) {
				tied++
				if m["type"] != "card.disabled" {
					t.Errorf("event of the bulk job: %v", m["type"])
				}
			}
		}
		if tied != 49 {
			t.Fatalf("%d events carry the bulk id, want 49", tied)
		}
		// The job reads back.
		got := e.must(200, "GET", acme+"/bulk/"+bulk, nil)
		if got.Body["status"] != "applied" || got.Body["action"] != "disable" || len(items(t, got)) != 51 || got.Body["finished"] == nil {
			t.Fatalf("GET bulk: %.400s", got.Raw)
		}
		if r := e.do("GET", acme+"/bulk/"+ids[0], rwKey, nil); r.Status != 404 {
			t.Fatalf("a card id as a bulk id: %d", r.Status)
		}
		if r := e.do("GET", "/api/v1/tenants/globex/bulk/"+bulk, rwKey, nil); r.Status != 404 {
			t.Fatalf("another tenant's bulk job: %d", r.Status)
		}
	})
}

// globex has no safety allowance (limits 0): every bulk disable needs
// the dry run's count confirmed.
func TestBulkDisableByFilterNeedsConfirm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const globex = "/api/v1/tenants/globex"
		e.seedMany("globex", "s", 50, "Sales")
		e.seedMany("globex", "o", 5, "Ops")
		req := map[string]any{"action": "disable", "filter": map[string]string{"department": "sales", "status": "enabled"}}

		r := e.do("POST", globex+"/cards/bulk", rwKey, req)
		if r.Status != http.StatusConflict || r.errCode() != "confirm_required" || count(r, "changed") != 50 || count(r, "disables") != 50 {
			t.Fatalf("unconfirmed: %d %.500s", r.Status, r.Raw)
		}
		req["dry_run"] = true
		dry := e.must(200, "POST", globex+"/cards/bulk", req)
		if count(dry, "changed") != 50 || len(dry.Body["hold_reasons"].([]any)) == 0 {
			t.Fatalf("dry run: %.500s", dry.Raw)
		}
		delete(req, "dry_run")
		req["confirm"] = 49
		if r := e.do("POST", globex+"/cards/bulk", rwKey, req); r.Status != http.StatusConflict || r.errCode() != "confirm_required" {
			t.Fatalf("wrong confirm: %d %.300s", r.Status, r.Raw)
		}
		if st := e.must(200, "GET", globex+"/cards/stats", nil); st.Body["enabled"] != float64(55) {
			t.Fatalf("refused bulk changed cards: %s", st.Raw)
		}
		req["confirm"] = 50
		r = e.must(200, "POST", globex+"/cards/bulk", req)
		if r.Body["status"] != "applied" || count(r, "changed") != 50 {
			t.Fatalf("confirmed: %.500s", r.Raw)
		}
		st := e.must(200, "GET", globex+"/cards/stats", nil)
		if c := st.Body["counts"].(map[string]any); c["disabled"] != float64(50) || st.Body["enabled"] != float64(5) {
			t.Fatalf("after: %s", st.Raw)
		}
		// Nothing left to disable: no brake.
		delete(req, "confirm")
		req["filter"] = map[string]string{"department": "sales"}
		if r := e.must(200, "POST", globex+"/cards/bulk", req); count(r, "changed") != 0 || count(r, "unchanged") != 50 {
			t.Fatalf("again: %.300s", r.Raw)
		}
		// A typo in the filter is an error, never everyone.
		if r := e.do("POST", globex+"/cards/bulk", rwKey, map[string]any{"action": "disable", "filter": map[string]string{"stauts": "enabled"}}); r.Status != 400 || r.errField() != "filter.stauts" {
			t.Fatalf("unknown filter: %d %s", r.Status, r.Raw)
		}
	})
}

func TestBulkActionsChangeEachCardAsTheOneCardActions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com")
		e.runFeed("hr")
		ann, bob := e.cardID("ann@example.com"), e.cardID("bob@example.com")
		cy := e.seedMany("acme", "cy", 1, "")[0]
		all := []string{ann, bob, cy}
		bulk := func(body map[string]any) response {
			t.Helper()
			body["ids"] = all
			return e.must(200, "POST", acme+"/cards/bulk", body)
		}
		attr := func(id, name string) any {
			a, _ := e.must(200, "GET", acme+"/cards/"+id, nil).Body["attributes"].(map[string]any)
			return a[name]
		}
		if r := bulk(map[string]any{"action": "set_role", "role": "viewer"}); count(r, "changed") != 3 || attr(bob, "role") != "viewer" {
			t.Fatalf("set_role: %.300s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "add_groups", "groups": []string{"eng", "ops"}}); count(r, "changed") != 3 {
			t.Fatalf("add_groups: %.300s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "remove_groups", "groups": []string{"ENG"}}); count(r, "changed") != 3 || fmt.Sprint(attr(ann, "groups")) != "[ops]" {
			t.Fatalf("remove_groups: %.300s / %v", r.Raw, attr(ann, "groups"))
		}
		if r := bulk(map[string]any{"action": "assign_manager", "manager_email": "boss@example.com"}); count(r, "changed") != 3 || attr(cy, "manager_email") != "boss@example.com" {
			t.Fatalf("assign_manager: %.300s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "edit", "attributes": map[string]any{"location": "Berlin"}}); count(r, "changed") != 3 || attr(ann, "location") != "Berlin" || attr(ann, "role") != "viewer" {
			t.Fatalf("edit: %.300s", r.Raw)
		}
		// remind: too soon for all three (invited just now); one failure
		// does not stop the others.
		r := bulk(map[string]any{"action": "remind"})
		if count(r, "refused") != 3 || items(t, r)[0]["error"].(map[string]any)["code"] != "too_soon" {
			t.Fatalf("remind: %.400s", r.Raw)
		}
		e.clock.Advance(25 * time.Hour)
		if r := bulk(map[string]any{"action": "remind"}); count(r, "changed") != 3 {
			t.Fatalf("remind a day later: %.400s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "reinvite"}); count(r, "changed") != 3 {
			t.Fatalf("reinvite: %.400s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "disable"}); count(r, "changed") != 3 {
			t.Fatalf("disable: %.400s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "reinvite"}); count(r, "refused") != 3 || items(t, r)[2]["error"].(map[string]any)["code"] != "not_invitable" {
			t.Fatalf("reinvite of disabled cards: %.400s", r.Raw)
		}
		if r := bulk(map[string]any{"action": "enable"}); count(r, "changed") != 3 || e.status(ann) == "disabled" {
			t.Fatalf("enable: %.400s", r.Raw)
		}
		// release: the file holds ann and bob; cy was only the admin's.
		r = bulk(map[string]any{"action": "release"})
		if it := items(t, r); count(r, "changed") != 3 || it[0]["status"] == "disabled" || it[2]["status"] != "disabled" {
			t.Fatalf("release: %.400s", r.Raw)
		}
	})
}

func TestBulkOfManyCardsAppliesInBatchesWithProgress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ids := append(e.seedMany("acme", "a", 800, "Field"), e.seedMany("acme", "b", 700, "Field")...)
		r := e.must(http.StatusAccepted, "POST", acme+"/cards/bulk", map[string]any{"action": "set_role", "role": "field", "filter": map[string]string{"department": "field"}})
		id := fmt.Sprint(r.Body["id"])
		if loc := r.Header.Get("Location"); loc != acme+"/bulk/"+id || r.Body["status"] != "applying" || count(r, "selected") != 1500 {
			t.Fatalf("accepted: %s %.300s", loc, r.Raw)
		}
		var got response
		for range 2000 {
			got = e.must(200, "GET", acme+"/bulk/"+id, nil)
			if got.Body["status"] != "applying" {
				break
			}
			if int(count(got, "done"))%bulkBatch != 0 {
				t.Fatalf("progress between batches: %.300s", got.Raw)
			}
			time.Sleep(10 * time.Millisecond) // waiting for the job, not timing it
		}
		if got.Body["status"] != "applied" || count(got, "done") != 1500 || count(got, "changed") != 1500 || len(items(t, got)) != 1500 {
			t.Fatalf("job: %.300s", got.Raw)
		}
		if r := e.must(200, "GET", acme+"/cards?role=field&limit=1", nil); r.Body["next"] == nil {
			t.Fatalf("roles not set: %s", r.Raw)
		}
		st := e.must(200, "GET", acme+"/cards/stats?role=field", nil)
		if st.Body["total"] != float64(1500) {
			t.Fatalf("stats of role field: %s", st.Raw)
		}

		// By ids, in an order of the caller's: two batches apply at once,
		// and the results keep the ids' order.
		slices.Reverse(ids)
		r = e.must(http.StatusAccepted, "POST", acme+"/cards/bulk", map[string]any{"action": "set_role", "role": "viewer", "ids": ids})
		id = fmt.Sprint(r.Body["id"])
		for range 2000 {
			got = e.must(200, "GET", acme+"/bulk/"+id, nil)
			if got.Body["status"] != "applying" {
				break
			}
			time.Sleep(10 * time.Millisecond) // waiting for the job, not timing it
		}
		it := items(t, got)
		if got.Body["status"] != "applied" || count(got, "changed") != 1500 || len(it) != 1500 {
			t.Fatalf("job by ids: %.300s", got.Raw)
		}
		for i, item := range it {
			if item["card_id"] != ids[i] {
				t.Fatalf("item %d is card %v, want %s (the ids' order)", i, item["card_id"], ids[i])
			}
		}
	})
}

func TestBulkRefusesBadRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		id := e.seedMany("acme", "x", 1, "")[0]
		for _, tc := range []struct {
			body  any
			code  string
			field string
		}{
			{map[string]any{"action": "explode", "ids": []string{id}}, "invalid_value", "action"},
			{map[string]any{"action": "promote", "ids": []string{id}}, "invalid_value", "action"},
			{map[string]any{"action": "disable", "ids": []string{id}, "role": "x"}, "invalid_value", "role"},
			{map[string]any{"action": "set_role", "ids": []string{id}}, "invalid_value", "role"},
			{map[string]any{"action": "add_groups", "ids": []string{id}, "groups": []string{}}, "invalid_value", "groups"},
			{map[string]any{"action": "assign_manager", "ids": []string{id}, "manager_email": "nope"}, "invalid_value", "manager_email"},
			{map[string]any{"action": "enable", "ids": []string{id}, "filter": map[string]string{}}, "invalid_value", "filter"},
			{map[string]any{"action": "enable", "ids": []string{}}, "invalid_value", "ids"},
			{map[string]any{"action": "enable"}, "invalid_value", "ids"},
			{map[string]any{"action": "enable", "filter": map[string]string{"sort": "name"}}, "unknown_parameter", "filter.sort"},
			{map[string]any{"action": "enable", "filter": map[string]string{"status": "gone"}}, "invalid_value", "filter.status"},
			{map[string]any{"action": "enable", "ids": []string{id}, "confrim": 3}, "unknown_field", "confrim"},
		} {
			r := e.do("POST", acme+"/cards/bulk", rwKey, tc.body)
			if r.Status != 400 || r.errCode() != tc.code || r.errField() != tc.field {
				b, _ := json.Marshal(tc.body)
				t.Errorf("%s: %d %.300s, want 400 %s %s", b, r.Status, r.Raw, tc.code, tc.field)
			}
		}
		if r := e.do("POST", acme+"/cards/bulk", roKey, map[string]any{"action": "enable", "ids": []string{id}}); r.Status != 403 {
			t.Fatalf("read-only key: %d", r.Status)
		}
	})
}
