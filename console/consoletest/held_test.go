package consoletest

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rosterd/rosterd/internal/browsertest"
)

// heldConfig has a tenant with a file feed from a drop folder whose
// safety brake holds a plan that disables more than two people.
func heldConfig(drop string) string {
	return `admin_keys: [{name: ops, key: ` + adminKey + `}]
tenants:
  - id: acme
    name: Acme Inc.
    invite: none
    safety: {max_disable_count: 2, max_disable_percent: 100, min_snapshot_ratio: 0}
    feeds:
      - name: hr
        kind: file
        source: dir://` + drop + `/hr-*.csv
        stable_for: 0s
  - id: globex
    name: Globex
    invite: none
`
}

// writeRoster drops an HR export of these people into the folder.
func writeRoster(t *testing.T, drop, name string, people []person) {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,given_name,family_name,role\n")
	for _, p := range people {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", p.Email, p.Given, p.Family, p.Role)
	}
	if err := os.WriteFile(filepath.Join(drop, name), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

type apiRun struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Counts      map[string]int `json:"counts"`
	HoldReasons []string       `json:"hold_reasons"`
}

// heldRun makes the feed hold a plan: eight people applied, then a file
// with three of them, which would disable five.
func heldRun(t *testing.T, r *browsertest.Rosterd, drop string) apiRun {
	t.Helper()
	writeRoster(t, drop, "hr-1.csv", staff)
	var run apiRun
	api(t, r, "POST", "/tenants/acme/feeds/hr/runs", nil, &run)
	if run.Status != "applied" || run.Counts["create"] != 8 {
		t.Fatalf("the first run: %+v, want 8 created and applied", run)
	}
	writeRoster(t, drop, "hr-2.csv", staff[:3])
	api(t, r, "POST", "/tenants/acme/feeds/hr/runs", nil, &run)
	if run.Status != "held" || run.Counts["disable"] != 5 {
		t.Fatalf("the second run: %+v, want held, disabling 5", run)
	}
	return run
}

// TestJourneyApproveHeldPlan is journey 4 of issue 17: an operator opens
// the held plans, opens the one the brake held, searches it, approves it
// (a POST with the CSRF token), and sees the cards change on the users
// page. axe-core checks every page.
func TestJourneyApproveHeldPlan(t *testing.T) {
	drop := t.TempDir()
	r := browsertest.StartRosterd(t, browsertest.Options{Config: heldConfig(drop)})
	run := heldRun(t, r, drop)

	b := newBrowser(t)
	b.Step("sign in",
		chromedp.Navigate(r.URL+"/console/t/acme/users"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), adminKey),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	before := browsertest.Value(b, "read the counts", chromedp.Evaluate[map[string]int](tabCounts))
	if before["Enabled"] != 8 || before["Disabled"] != 0 {
		b.Fatalf("before the approval the tabs count %v, want 8 enabled, none disabled", before)
	}
	b.Step("open the held plans",
		browsertest.Load(chromedp.Click(chromedp.CSS(`nav[aria-label="Main"] a[href="/console/t/acme/runs"]`))),
		chromedp.WaitVisible(chromedp.CSS("#held")),
	)
	b.CheckA11y("held plans")
	why := browsertest.Value(b, "read why it is held", chromedp.Text(chromedp.CSS("#held tbody")))
	if !strings.Contains(why, "more than max_disable_count 2") || !strings.Contains(why, run.ID) {
		b.Fatalf("the held plans list does not show run %s and why it is held:\n%s", run.ID, why)
	}
	b.Step("open the held plan",
		browsertest.Load(chromedp.Click(chromedp.CSS(`#held a[href$="/runs/`+run.ID+`"]`))),
		chromedp.WaitVisible(chromedp.CSS("#disable-list")),
	)
	b.CheckA11y("held plan")
	listed := browsertest.Value(b, "read who it would disable", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#disable-list tbody td:first-child')].map(td => td.textContent.trim())`))
	if len(listed) != 5 {
		b.Fatalf("the plan lists %d people to disable %v, want 5", len(listed), listed)
	}
	for _, p := range staff[3:] {
		if !strings.Contains(strings.Join(listed, " "), p.Email) {
			b.Fatalf("the plan's disable list %v has no %s", listed, p.Email)
		}
	}
	b.Step("search the plan",
		chromedp.SendKeys(chromedp.CSS("#q"), "knuth"),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)),
	)
	found := browsertest.Value(b, "read the matches", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#disable-list tbody td:first-child')].map(td => td.textContent.trim())`))
	if len(found) != 1 || found[0] != "donald.knuth@acme.example" {
		b.Fatalf("searching the plan for \"knuth\" shows %v, want only donald.knuth@acme.example", found)
	}
	b.CheckA11y("held plan, searched")
	if loc, _ := b.Location(); !strings.Contains(loc, "q=knuth") {
		b.Fatalf("the search is not in the page's address: %s", loc)
	}
	b.Step("the held plan, as a reviewer sees it",
		chromedp.Navigate(r.URL+"/console/t/acme/runs/"+run.ID),
		chromedp.WaitVisible(chromedp.CSS("#disable-list")),
	)
	b.Step("the held plan at 375 px",
		chromedp.EmulateViewport(375, 800),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#disable-list")),
	)
	if w := browsertest.Value(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		b.Fatalf("at 375 px the held plan is %d px wide: it scrolls sideways", w)
	}
	b.CheckA11y("held plan at 375 px")
	b.Step("back to a wide window",
		chromedp.EmulateViewport(1280, 900),
	)
	b.Step("approve it",
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[action$="/approve"] button`))),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	flash := browsertest.Value(b, "read the message", chromedp.Text(chromedp.CSS("p.flash")))
	if flash != "Approved and applied: 5 disabled, 0 enabled, 0 updated." {
		b.Fatalf("after approving, the page says %q", flash)
	}
	status := browsertest.Value(b, "read the run's status", chromedp.Text(chromedp.CSS("h1 .status")))
	if status != "applied" {
		b.Fatalf("after approving, the run is %q", status)
	}
	b.CheckA11y("applied plan")
	var after apiRun
	api(t, r, "GET", "/tenants/acme/runs/"+run.ID, nil, &after)
	if after.Status != "applied" {
		t.Fatalf("the API says the approved run is %s", after.Status)
	}

	b.Step("see the cards change",
		browsertest.Load(chromedp.Click(chromedp.CSS(`nav[aria-label="Main"] a[href="/console/t/acme/users"]`))),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	counts := browsertest.Value(b, "read the counts again", chromedp.Evaluate[map[string]int](tabCounts))
	if counts["Enabled"] != 3 || counts["Disabled"] != 5 {
		b.Fatalf("after the approval the tabs count %v, want 3 enabled and 5 disabled", counts)
	}
	cards := listCards(t, r, "acme")
	for _, c := range cards {
		kept := false
		for _, p := range staff[:3] {
			kept = kept || p.Email == c.Email
		}
		if c.Enabled != kept {
			t.Errorf("%s after the approval: enabled=%v, want %v", c.Email, c.Enabled, kept)
		}
	}
}

// TestHeldPlanRefusals: an approval without the CSRF token applies
// nothing; a read-only key may look at a held plan but not approve it; a
// run approved already is not applied twice; a tenant's key cannot open
// another tenant's runs.
func TestHeldPlanRefusals(t *testing.T) {
	drop := t.TempDir()
	r := browsertest.StartRosterd(t, browsertest.Options{Config: heldConfig(drop)})
	run := heldRun(t, r, drop)
	path := "/console/t/acme/runs/" + run.ID

	ro := newClient(t, r)
	ro.signIn(r.CreateAPIKey(t, "auditor", "--read-only"))
	tok := ro.csrf(path)
	must(t, ro.do("POST", path+"/approve", url.Values{"csrf": {tok}}), http.StatusForbidden, "approval with a read-only key")

	c := newClient(t, r)
	c.signIn(adminKey)
	must(t, c.do("POST", path+"/approve", url.Values{}), http.StatusForbidden, "approval without the CSRF token")
	must(t, c.do("POST", path+"/approve", url.Values{"csrf": {"forged"}}), http.StatusForbidden, "approval with a forged CSRF token")
	var still apiRun
	api(t, r, "GET", "/tenants/acme/runs/"+run.ID, nil, &still)
	if still.Status != "held" {
		t.Fatalf("a refused approval left the run %s", still.Status)
	}

	tok = c.csrf(path)
	a := c.do("POST", path+"/reject", url.Values{"csrf": {tok}})
	must(t, a, http.StatusSeeOther, "rejecting")
	a = c.do("POST", path+"/approve", url.Values{"csrf": {tok}})
	must(t, a, http.StatusSeeOther, "approving a rejected run")
	page := c.do("GET", a.Location, nil)
	if !strings.Contains(page.Body, "not held (any more): it is rejected") {
		t.Errorf("approving a rejected run does not say why nothing happened:\n%s", page.Body)
	}
	if got := listCards(t, r, "acme"); countEnabled(got) != 8 {
		t.Fatalf("after a rejection %d of 8 cards are enabled", countEnabled(got))
	}

	g := newClient(t, r)
	g.signIn(r.CreateAPIKey(t, "globex-ops", "--tenant", "globex"))
	must(t, g.do("GET", path, nil), http.StatusForbidden, "another tenant's run")
	must(t, g.do("GET", "/console/t/acme/runs", nil), http.StatusForbidden, "another tenant's held plans")
	must(t, c.do("GET", "/console/t/acme/runs/no-such-run", nil), http.StatusNotFound, "an unknown run")
	must(t, c.do("GET", path+"?sort=email", nil), http.StatusBadRequest, "an unknown parameter")
}

func countEnabled(cards []apiCard) int {
	n := 0
	for _, c := range cards {
		if c.Enabled {
			n++
		}
	}
	return n
}

func listCards(t *testing.T, r *browsertest.Rosterd, tenant string) []apiCard {
	t.Helper()
	var page struct {
		Cards []apiCard `json:"cards"`
	}
	api(t, r, "GET", "/tenants/"+tenant+"/cards?limit=1000", nil, &page)
	return page.Cards
}
