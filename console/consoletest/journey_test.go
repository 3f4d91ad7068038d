package consoletest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rosterd/rosterd/internal/browsertest"
)

// tabCounts reads the users page's status tabs: label → count.
const tabCounts = `Object.fromEntries([...document.querySelectorAll('nav[aria-label="Status"] a')].map(
	a => [a.firstChild.textContent.trim(), Number(a.querySelector('.count').textContent)]))`

// TestJourneyDisableThree is journey 1 of issue 17: an operator signs in
// with an admin key, opens a tenant, filters by status and role, selects three
// cards, disables them, and sees the counts change; then checks every row
// of a page at once and sets their role through the bulk menu; on SQLite
// and on PostgreSQL. axe-core checks every page it opens, and the users page is
// checked again at 375 px.
func TestJourneyDisableThree(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			r := startRosterd(t, backend == "postgres")
			cards := seedPeople(t, r, "acme", staff)
			// One is disabled already, so that the filter has something to
			// leave out.
			api(t, r, "POST", "/tenants/acme/cards/"+cards[0].ID+"/disable", map[string]any{"reason": "left"}, nil)
			journeyDisableThree(t, r, cards)
		})
	}
}

func journeyDisableThree(t *testing.T, r *browsertest.Rosterd, cards []apiCard) {
	b := newBrowser(t)
	b.Step("open the console",
		chromedp.Navigate(r.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
	)
	b.CheckA11y("sign-in")
	b.Step("sign in with the admin key",
		chromedp.SendKeys(chromedp.CSS("#key"), adminKey),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/t/acme/users"]`)),
	)
	b.CheckA11y("tenants")
	b.Step("open the tenant",
		browsertest.Load(chromedp.Click(chromedp.CSS(`a[href="/console/t/acme/users"]`))),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	b.CheckA11y("users")
	// Keyboard: the first Tab stop is the skip link, and it leads to the
	// content.
	b.Step("tab to the skip link", chromedp.KeyEvent("\t"))
	first := browsertest.Value(b, "read the focus", chromedp.Evaluate[string](`document.activeElement.textContent.trim()`))
	if first != "Skip to content" {
		b.Fatalf("the first Tab stop is %q, want the skip link", first)
	}
	before := browsertest.Value(b, "read the counts", chromedp.Evaluate[map[string]int](tabCounts))
	want := map[string]int{"All": 8, "Enabled": 7, "Active": 0, "Invite pending": 0, "Invite expired": 0, "Provisioned": 7, "Disabled": 1}
	if fmt.Sprint(before) != fmt.Sprint(want) {
		b.Fatalf("the tabs count %v, want %v", before, want)
	}

	b.Step("search",
		chromedp.SendKeys(chromedp.CSS("#q"), "hopper"),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS(`#bulk tbody a[href*="/cards/`+cards[1].ID+`"]`)),
	)
	found := browsertest.Value(b, "read the matches", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#bulk tbody input[type=checkbox]')].map(c => c.value)`))
	if len(found) != 1 || found[0] != cards[1].ID {
		b.Fatalf("searching for \"hopper\" shows %v, want only Grace Hopper's card %s", found, cards[1].ID)
	}
	b.Step("clear the search",
		chromedp.Clear(chromedp.CSS("#q")),
	)
	b.Step("filter by status",
		chromedp.SetValue(chromedp.CSS("#status"), "provisioned"),
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[role="search"] button`))),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"] a[aria-current="page"][href*="status=provisioned"]`)),
	)
	rows := browsertest.Value(b, "read the rows", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#bulk tbody input[type=checkbox]')].map(c => c.value)`))
	if len(rows) != 7 || slices.Contains(rows, cards[0].ID) {
		b.Fatalf("the provisioned filter shows %d rows %v; want the 7 enabled cards, not %s", len(rows), rows, cards[0].ID)
	}
	b.Step("filter by role",
		chromedp.SendKeys(chromedp.CSS("#role"), "viewer"),
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[role="search"] button`))),
		chromedp.WaitVisible(chromedp.CSS(`#role[value="viewer"]`)),
	)
	rows = browsertest.Value(b, "read the viewers", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#bulk tbody input[type=checkbox]')].map(c => c.value)`))
	var viewers []string
	for i, p := range staff {
		if p.Role == "viewer" {
			viewers = append(viewers, cards[i].ID)
		}
	}
	if !slices.Equal(rows, viewers) {
		b.Fatalf("provisioned viewers: the page shows %v, want %v", rows, viewers)
	}
	picked := rows[:3]
	// Keyboard: focus each box and press space.
	for i, id := range picked {
		b.Step(fmt.Sprintf("select card %d with the keyboard", i+1),
			chromedp.Focus(chromedp.CSS("#sel-"+id)),
			chromedp.KeyEvent(" "),
		)
	}
	b.Step("ask to disable the selected",
		chromedp.SetValue(chromedp.CSS("#action"), "disable"),
		browsertest.Load(chromedp.Click(chromedp.CSS(`#bulk button[type="submit"]`))),
		chromedp.WaitVisible(chromedp.CSS("#reason")),
	)
	heading := browsertest.Value(b, "read the confirmation", chromedp.Text(chromedp.CSS("h1")))
	if heading != "Disable 3 people?" {
		b.Fatalf("the confirmation says %q, want %q", heading, "Disable 3 people?")
	}
	b.CheckA11y("confirm disable")
	// Three of the seven enabled is over the tenant's safety limits (the
	// default 10 %): the confirmation shows the brake and asks for the
	// count typed in, as the admin API asks for "confirm".
	hold := browsertest.Value(b, "read the brake", chromedp.Text(chromedp.CSS("#bulk-hold")))
	if !strings.Contains(hold, "This would disable 3 people") || !strings.Contains(hold, "max_disable_percent") {
		b.Fatalf("the confirmation's brake says %q", hold)
	}
	b.Step("confirm with a reason and the count",
		chromedp.SendKeys(chromedp.CSS("#reason"), "contract ended"),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "3"),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	flash := browsertest.Value(b, "read the message", chromedp.Text(chromedp.CSS("p.flash")))
	if flash != "Disabled 3 people." {
		b.Fatalf("after disabling, the page says %q", flash)
	}
	after := browsertest.Value(b, "read the counts again", chromedp.Evaluate[map[string]int](tabCounts))
	want = map[string]int{"All": 8, "Enabled": 4, "Active": 0, "Invite pending": 0, "Invite expired": 0, "Provisioned": 4, "Disabled": 4}
	if fmt.Sprint(after) != fmt.Sprint(want) {
		b.Fatalf("after disabling three, the tabs count %v, want %v", after, want)
	}
	b.Step("the users page after the change",
		chromedp.EmulateViewport(1280, 800),
	)
	loc, _ := b.Location()
	if !strings.Contains(loc, "status=provisioned") {
		b.Fatalf("after disabling, the page is %s; want the filtered list it came from", loc)
	}
	// The directory has them disabled, with the reason, by the console.
	for _, id := range picked {
		if c := getCard(t, r, "acme", id); c.Enabled || c.Status != "disabled" {
			t.Errorf("card %s after the bulk disable: enabled=%v status=%s", id, c.Enabled, c.Status)
		}
	}

	b.Step("open a disabled card",
		chromedp.Navigate(r.URL+"/console/t/acme/cards/"+picked[0]),
		chromedp.WaitVisible(chromedp.CSS("#audit")),
	)
	b.CheckA11y("card")
	trail := browsertest.Value(b, "read the audit trail", chromedp.Text(chromedp.CSS(`#audit + .scroll tbody`)))
	if !strings.Contains(trail, "console:ops") {
		b.Fatalf("the audit trail does not name the console's person as actor:\n%s", trail)
	}

	b.Step("enable it again from the card page",
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[action$="/enable"] button`))),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if c := getCard(t, r, "acme", picked[0]); !c.Enabled {
		b.Fatalf("after Enable on the card page, card %s is %s", picked[0], c.Status)
	}
	b.Step("release it",
		browsertest.Load(chromedp.Click(chromedp.CSS(`form[action$="/release"] button`))),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	flash = browsertest.Value(b, "read the release message", chromedp.Text(chromedp.CSS("p.flash")))
	if !strings.HasPrefix(flash, "Released") {
		b.Fatalf("after Release, the page says %q", flash)
	}

	// A bulk action on every row of a page: the header's box checks them
	// all, the bulk menu sets their role.
	b.Step("open the provisioned people",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(r.URL+"/console/t/acme/users?status=provisioned"),
		chromedp.WaitVisible(chromedp.CSS("#select-page")),
	)
	rows = browsertest.Value(b, "read the provisioned", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#bulk tbody input[type=checkbox]')].map(c => c.value)`))
	b.Step("check every row with the header's box, by keyboard",
		chromedp.Focus(chromedp.CSS("#select-page")),
		chromedp.KeyEvent(" "),
	)
	checked := browsertest.Value(b, "count the checked rows", chromedp.Evaluate[int](
		`document.querySelectorAll('#bulk tbody input[type=checkbox]:checked').length`))
	if len(rows) < 2 || checked != len(rows) {
		b.Fatalf("the header's box checked %d of the %d rows", checked, len(rows))
	}
	b.Step("ask to set their role",
		chromedp.SetValue(chromedp.CSS("#action"), "set_role"),
		browsertest.Load(chromedp.Click(chromedp.CSS(`#bulk button[type="submit"]`))),
		chromedp.WaitVisible(chromedp.CSS("#role")),
	)
	heading = browsertest.Value(b, "read the role confirmation", chromedp.Text(chromedp.CSS("h1")))
	if want := fmt.Sprintf("Set the role of %d people?", len(rows)); heading != want {
		b.Fatalf("the confirmation says %q, want %q", heading, want)
	}
	b.CheckA11y("confirm set role")
	b.Step("give them the role auditor",
		chromedp.SendKeys(chromedp.CSS("#role"), "auditor"),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	flash = browsertest.Value(b, "read the role message", chromedp.Text(chromedp.CSS("p.flash")))
	if want := fmt.Sprintf("Gave %d people the role auditor.", len(rows)); flash != want {
		b.Fatalf("after setting the role, the page says %q, want %q", flash, want)
	}
	for _, id := range rows {
		var c struct {
			Attributes struct {
				Role string `json:"role"`
			} `json:"attributes"`
		}
		api(t, r, "GET", "/tenants/acme/cards/"+id, nil, &c)
		if c.Attributes.Role != "auditor" {
			t.Errorf("card %s after the bulk set role: role %q", id, c.Attributes.Role)
		}
	}

	b.Step("a confirmation at 375 px",
		chromedp.EmulateViewport(375, 800),
		chromedp.Navigate(r.URL+"/console/t/acme/users/bulk?action=assign_manager&id="+strings.Join(rows, "&id=")),
		chromedp.WaitVisible(chromedp.CSS("#manager")),
	)
	if w := browsertest.Value(b, "measure the confirmation", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		b.Fatalf("at 375 px the confirmation is %d px wide: it scrolls sideways", w)
	}
	b.CheckA11y("confirm assign staff at 375 px")

	b.Step("at 375 px",
		chromedp.EmulateViewport(375, 800),
		chromedp.Navigate(r.URL+"/console/t/acme/users"),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	overflow := browsertest.Value(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if overflow > 375 {
		b.Fatalf("at 375 px the page is %d px wide: it scrolls sideways", overflow)
	}
	b.CheckA11y("users at 375 px")
}
