package admin

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rosterd/rosterd/store"
)

// TestApproveChangedPlanIs409: a held plan that would do something else
// now is not applied; the answer says what changed, and the fresh plan is
// held, to be approved as it now is.
func TestApproveChangedPlanIs409(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("payroll", "ann@example.com", "bob@example.com", "cy@example.com")
		e.runFeed("payroll")
		e.setSnapshot("payroll", "ann@example.com")
		e.clock.Advance(time.Hour)
		held := e.must(201, "POST", acme+"/feeds/payroll/runs", nil)
		if held.Body["status"] != store.RunHeld {
			t.Fatalf("run disabling 2 with max_disable_count 0: %s", held.Raw)
		}
		id := fmt.Sprint(held.Body["id"])
		// Dee arrives in a newer file, applied before the admin decides.
		e.setSnapshot("payroll", "ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com")
		newer := e.runFeed("payroll")
		e.setSnapshot("payroll", "ann@example.com")

		r := e.do("POST", acme+"/runs/"+id+"/approve", rwKey, nil)
		if r.Status != 409 || r.errCode() != "plan_changed" {
			t.Fatalf("approve of a plan that changed: %d %s", r.Status, r.Raw)
		}
		for _, want := range []string{`run ` + fmt.Sprint(newer.Body["id"]) + ` was applied since`, `withdraw 2 → 3`, `"run":{"id":"` + id + `"`, `"status":"held"`} {
			if !strings.Contains(r.Raw, want) {
				t.Errorf("409 body: no %q in %s", want, r.Raw)
			}
		}
		if s := e.status(e.cardID("dee@example.com")); s == "disabled" {
			t.Fatalf("dee disabled by a refused approval")
		}
		if run := e.must(200, "GET", acme+"/runs/"+id, nil); run.Body["status"] != store.RunHeld || !strings.Contains(run.Raw, `"withdraw":3`) {
			t.Fatalf("run after the refused approval: %s", run.Raw)
		}
		if r := e.must(200, "POST", acme+"/runs/"+id+"/approve", nil); r.Body["status"] != store.RunApplied {
			t.Fatalf("approve of the fresh plan: %s", r.Raw)
		}
		if s := e.status(e.cardID("dee@example.com")); s != "disabled" {
			t.Fatalf("dee after the approved fresh plan: %s", s)
		}
	})
}

// TestOpenAPIRunStatuses: the Run schema lists every status a run can have.
func TestOpenAPIRunStatuses(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	got := doc.Components.Schemas["Run"].Properties["status"].Enum
	for _, s := range store.RunStatuses {
		if !slices.Contains(got, s) {
			t.Errorf("Run.status enum %v: no %q", got, s)
		}
	}
	if len(got) != len(store.RunStatuses) {
		t.Errorf("Run.status enum %v, want %v", got, store.RunStatuses)
	}
}
