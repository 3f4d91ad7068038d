package admin

import (
	"net/http"
	"testing"
	"time"
)

// TestEventFeed: changes from the admin API and SCIM arrive in the feed in
// order; a reader resumes from its cursor; a pruned cursor is 410.
func TestEventFeed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.must(http.StatusOK, "POST", "/api/v1/tenants/acme/cards/invite", map[string]any{"emails": []string{"ann@acme.example"}})
		id := e.cardID("ann@acme.example")
		e.must(http.StatusOK, "POST", "/api/v1/tenants/acme/cards/"+id+"/disable", map[string]any{"reason": "left"})

		page := e.must(http.StatusOK, "GET", "/api/v1/tenants/acme/events?limit=1", nil)
		evs := page.Body["events"].([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["type"] != "card.created" {
			t.Fatalf("first page: %s", page.Raw)
		}
		next := page.Body["next"].(string)
		rest := e.must(http.StatusOK, "GET", "/api/v1/tenants/acme/events?after="+next, nil)
		evs = rest.Body["events"].([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["type"] != "card.disabled" || evs[0].(map[string]any)["card_id"] != id {
			t.Fatalf("second page: %s", rest.Raw)
		}
		end := e.must(http.StatusOK, "GET", "/api/v1/tenants/acme/events?after="+rest.Body["next"].(string), nil)
		if len(end.Body["events"].([]any)) != 0 || end.Body["next"] != rest.Body["next"] {
			t.Fatalf("end of the feed: %s", end.Raw)
		}
		if r := e.do("GET", "/api/v1/tenants/acme/events?after=nonsense", rwKey, nil); r.Status != http.StatusBadRequest || r.errField() != "after" {
			t.Fatalf("bad cursor: %d %s", r.Status, r.Raw)
		}
		if r := e.do("GET", "/api/v1/tenants/acme/events", "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("no key: %d", r.Status)
		}
		// Retention removes both events; the first cursor is gone now.
		if _, err := e.store.PruneEvents(t.Context(), time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if r := e.do("GET", "/api/v1/tenants/acme/events?after="+next, rwKey, nil); r.Status != http.StatusGone || r.errCode() != "cursor_expired" {
			t.Fatalf("pruned cursor: %d %s", r.Status, r.Raw)
		}
	})
}
