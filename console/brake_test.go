package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// TestBulkDisableMeetsTheBrake: a console bulk disable over the tenant's
// safety limits (the feeds' brake, the admin API's, here the defaults:
// 10 % of the enabled cards) shows the reasons and goes ahead only with
// the number it disables typed in; under them it needs nothing more.
func TestBulkDisableMeetsTheBrake(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newUsersEnv(t, st)
		api := admin.New(nil, tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme"}), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		api.With(admin.Services{Directory: e.svc, Store: st})
		e.console.deps.Brake = api
		var people []directory.AdminInput
		for _, name := range []string{"ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ida", "jo", "kim", "lu"} {
			people = append(people, person(name+"@acme.example", name, "X"))
		}
		ids := e.add("acme", people...)

		// One of twelve: under 10 %, no brake.
		r := e.bulk("acme", "disable", ids[:1], "Disable 1 person?", url.Values{"reason": {"left"}})
		if r.Status != http.StatusSeeOther || e.card("acme", ids[0]).Enabled {
			t.Fatalf("one disable under the limits: %d %s", r.Status, r.Body)
		}

		// Three of eleven: held. The confirmation says so and asks for 3.
		q := url.Values{"action": {"disable"}, "id": ids[1:4]}
		page := e.must(e.do("GET", "/console/t/acme/users/bulk?"+q.Encode(), nil), http.StatusOK, "the held confirmation")
		for _, want := range []string{`id="bulk-hold"`, "This would disable 3 people", "it would disable 3 of the 11 enabled people of the tenant (27.3%), more than max_disable_percent 10%", `<label for="confirm">Type 3 to confirm</label>`} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("the held confirmation has no %q:\n%s", want, page.Body)
			}
		}
		for _, confirm := range []string{"", "4"} {
			r = e.bulk("acme", "disable", ids[1:4], "Disable 3 people?", url.Values{"reason": {"office closed"}, "confirm": {confirm}})
			if r.Status != http.StatusConflict || !strings.Contains(r.Body, "Type 3 in the confirmation") {
				t.Fatalf("confirm %q: %d, want 409 asking for 3:\n%s", confirm, r.Status, r.Body)
			}
			if e.card("acme", ids[1]).Enabled == false {
				t.Fatalf("confirm %q disabled a card", confirm)
			}
		}
		r = e.bulk("acme", "disable", ids[1:4], "Disable 3 people?", url.Values{"reason": {"office closed"}, "confirm": {"3"}})
		if r.Status != http.StatusSeeOther || e.flash(r) != "Disabled 3 people." {
			t.Fatalf("confirmed: %d %q", r.Status, e.flash(r))
		}
		for _, id := range ids[1:4] {
			if e.card("acme", id).Enabled {
				t.Errorf("card %s still enabled after the confirmed disable", id)
			}
		}
	})
}
