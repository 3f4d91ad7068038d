package consoletest

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rosterd/rosterd/internal/browsertest"
)

// importConfig: Acme invites by email (no mail server: invites queue), so
// that "Auto-invite new users?" has something to do.
const importConfig = `admin_keys: [{name: ops, key: ` + adminKey + `}]
tenants:
  - id: acme
    name: Acme Inc.
    invite: email
  - id: globex
    name: Globex
    invite: none
`

// importCSV has two people Acme has, two new ones and, on line 4, a row
// with a bad email. "Site" is no header rosterd knows: it is ignored until
// it is mapped to location.
const importCSV = `Email,First Name,Last Name,Role,Site
ada.lovelace@acme.example,Ada,Lovelace,admin,London
grace.hopper@acme.example,Grace,Hopper,editor,Arlington
not-an-email,Bad,Row,viewer,Nowhere
linus.torvalds@acme.example,Linus,Torvalds,editor,Portland
ken.thompson@acme.example,Ken,Thompson,viewer,Murray Hill
`

type importedCard struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Status     string `json:"status"`
	Attributes struct {
		GivenName string `json:"given_name"`
		Location  string `json:"location"`
		Title     string `json:"title"`
	} `json:"attributes"`
}

func cardsByEmail(t *testing.T, r *browsertest.Rosterd) map[string]importedCard {
	t.Helper()
	var page struct {
		Cards []importedCard `json:"cards"`
	}
	api(t, r, "GET", "/tenants/acme/cards?limit=1000", nil, &page)
	out := map[string]importedCard{}
	for _, c := range page.Cards {
		out[c.Email] = c
	}
	return out
}

// TestJourneyImportReview is journey 3 of issue 17: an admin uploads a
// file with a bad row; the review shows the flagged line; a column is
// remapped in the grid and auto-invite chosen, the review runs again;
// Apply applies it and the summary counts what happened, which the store
// confirms. axe-core checks every page.
func TestJourneyImportReview(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: importConfig})
	seedPeople(t, r, "acme", staff[:2])
	file := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(file, []byte(importCSV), 0o600); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	b.Step("sign in",
		chromedp.Navigate(r.URL+"/console/t/acme/users"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), adminKey),
		browsertest.Load(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Status"]`)),
	)
	b.Step("open the import page",
		browsertest.Load(chromedp.Click(chromedp.CSS(`nav[aria-label="Main"] a[href="/console/t/acme/import"]`))),
		chromedp.WaitVisible(chromedp.CSS("#file")),
	)
	b.CheckA11y("import")
	b.Step("upload the file",
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
		browsertest.Load(chromedp.Click(chromedp.CSS(`#import button[type="submit"]`))),
		chromedp.WaitVisible(chromedp.CSS("#columns")),
	)
	b.CheckA11y("review")
	flagged := browsertest.Value(b, "read the flagged rows", chromedp.Evaluate[[][]string](
		`[...document.querySelectorAll('#flagged tbody tr')].map(tr => [...tr.cells].map(td => td.textContent.trim()))`))
	if len(flagged) != 1 || flagged[0][0] != "4" || !strings.Contains(flagged[0][1], "not-an-email") {
		b.Fatalf("the review flags %v, want line 4 with its bad email", flagged)
	}
	site := browsertest.Value(b, "read Site's mapping", chromedp.Evaluate[string](`document.querySelector('select[name="col.5"]').value`))
	if site != "ignore" {
		b.Fatalf("the unknown header Site maps to %q before remapping, want ignore", site)
	}
	first := browsertest.Value(b, "read the first review", chromedp.Text(chromedp.CSS("#review-summary")))
	if !strings.Contains(first, "create 2, update 0, leave 2 unchanged, invite 0 and skip 1 row") {
		b.Fatalf("the first review says %q", first)
	}
	// Keyboard: the grid's select takes focus and its label names it.
	label := browsertest.Value(b, "read the select's label", chromedp.Evaluate[string](
		`(() => { const s = document.querySelector('#col-5'); s.focus(); return document.activeElement === s ? s.labels[0].textContent.trim() : "" })()`))
	if label != "Site" {
		b.Fatalf("the select of column Site is labelled %q (or takes no focus)", label)
	}
	b.Step("map Site to location and choose auto-invite",
		chromedp.SetValue(chromedp.CSS("#col-5"), "location"),
		chromedp.Click(chromedp.CSS("#invite-yes")),
		browsertest.Load(chromedp.Click(chromedp.CSS("#review-again"))),
		chromedp.WaitVisible(chromedp.CSS("#apply")),
	)
	b.CheckA11y("review again")
	again := browsertest.Value(b, "read the second review", chromedp.Text(chromedp.CSS("#review-summary")))
	if !strings.Contains(again, "create 2, update 2, leave 0 unchanged, invite 2 and skip 1 row") {
		b.Fatalf("after remapping, the review says %q", again)
	}
	if v := browsertest.Value(b, "read Site's new mapping", chromedp.Evaluate[string](`document.querySelector('#col-5').value`)); v != "location" {
		b.Fatalf("after remapping, Site maps to %q", v)
	}
	changes := browsertest.Value(b, "read the changes", chromedp.Text(chromedp.CSS("#changes tbody")))
	if !strings.Contains(changes, `location: "" → "London"`) || !strings.Contains(changes, "ken.thompson@acme.example") {
		b.Fatalf("the review's changes do not show Ada's new location and Ken's card:\n%s", changes)
	}
	if before := cardsByEmail(t, r); len(before) != 2 || before["ada.lovelace@acme.example"].Attributes.Location != "" {
		t.Fatalf("a review changed the cards: %+v", before)
	}
	b.Step("the review, as a reviewer sees it", chromedp.ScrollIntoView(chromedp.CSS("h1")))
	b.Step("the review at 375 px",
		chromedp.EmulateViewport(375, 800),
	)
	if w := browsertest.Value(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		b.Fatalf("at 375 px the review is %d px wide: it scrolls sideways", w)
	}
	b.CheckA11y("review at 375 px")
	b.Step("back to a wide window",
		chromedp.EmulateViewport(1280, 900),
	)
	b.Step("apply it",
		browsertest.Load(chromedp.Click(chromedp.CSS(`#apply button`))),
		chromedp.WaitVisible(chromedp.CSS("#summary")),
	)
	b.CheckA11y("summary")
	summary := browsertest.Value(b, "read the summary", chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('#summary dd')].map(dd => [dd.dataset.count, dd.textContent.trim()]))`))
	want := map[string]string{"created": "2", "updated": "2", "unchanged": "0", "invited": "2", "flagged": "1"}
	for k, v := range want {
		if summary[k] != v {
			b.Fatalf("the summary says %v, want %v", summary, want)
		}
	}
	if s := browsertest.Value(b, "read the status", chromedp.Text(chromedp.CSS("h1 .status"))); s != "applied" {
		b.Fatalf("the import's run is %q", s)
	}
	if f := browsertest.Value(b, "read the skipped rows", chromedp.Text(chromedp.CSS("#flagged"))); !strings.Contains(f, ":4") {
		b.Fatalf("the summary's skipped rows do not name line 4: %q", f)
	}

	cards := cardsByEmail(t, r)
	if len(cards) != 4 {
		t.Fatalf("after the import Acme has %d cards, want 4: %+v", len(cards), cards)
	}
	for email, loc := range map[string]string{"ada.lovelace@acme.example": "London", "grace.hopper@acme.example": "Arlington",
		"linus.torvalds@acme.example": "Portland", "ken.thompson@acme.example": "Murray Hill"} {
		if got := cards[email].Attributes.Location; got != loc {
			t.Errorf("%s's location is %q, want %q (Site, remapped)", email, got, loc)
		}
	}
	for _, email := range []string{"linus.torvalds@acme.example", "ken.thompson@acme.example"} {
		if s := cards[email].Status; s != "invite_pending" {
			t.Errorf("%s, created with auto-invite, is %s, want invite_pending", email, s)
		}
	}
	if _, ok := cards["not-an-email"]; ok {
		t.Error("the flagged row made a card")
	}
}

var reviewField = regexp.MustCompile(`name="review" value="([^"]+)"`)

// upload posts a multipart form as the import page's would.
func (c *client) upload(path string, fields map[string]string) answer {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", c.base+path, &buf)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(raw)}
}

// TestImportRefusals: an upload or an apply without the CSRF token
// reviews and applies nothing; a card that changed between the review and
// Apply refuses the apply with 409 and a message that says so, and the
// cards stay as they were; a tenant's key cannot import into another.
func TestImportRefusals(t *testing.T) {
	r := browsertest.StartRosterd(t, browsertest.Options{Config: importConfig})
	ada := seedPeople(t, r, "acme", staff[:1])[0]
	text := "Email,Office\nada.lovelace@acme.example,London\nnew.person@acme.example,Paris\n"

	c := newClient(t, r)
	c.signIn(adminKey)
	must(t, c.upload("/console/t/acme/import", map[string]string{"text": text}), http.StatusForbidden, "an upload without the CSRF token")
	must(t, c.upload("/console/t/acme/import", map[string]string{"text": text, "csrf": "forged"}), http.StatusForbidden, "an upload with a forged CSRF token")
	var runs struct {
		Runs []apiRun `json:"runs"`
	}
	api(t, r, "GET", "/tenants/acme/runs", nil, &runs)
	if len(runs.Runs) != 0 {
		t.Fatalf("refused uploads made %d runs", len(runs.Runs))
	}

	tok := c.csrf("/console/t/acme/import")
	odd := c.upload("/console/t/acme/import", map[string]string{"text": text, "csrf": tok, "colour": "red"})
	must(t, odd, http.StatusOK, "an upload with an unknown field")
	if !strings.Contains(odd.Body, "unknown field &#34;colour&#34;") {
		t.Errorf("an upload with an unknown field does not name it:\n%s", odd.Body)
	}
	a := c.upload("/console/t/acme/import", map[string]string{"text": text, "csrf": tok, "invite": "yes"})
	must(t, a, http.StatusOK, "the review")
	// Two columns mapped to one field: the grid comes back with why.
	data := base64.StdEncoding.EncodeToString([]byte(text))
	bad := c.upload("/console/t/acme/import", map[string]string{"csrf": tok, "name": "pasted.txt", "data": data,
		"header.1": "Email", "col.1": "email", "header.2": "Office", "col.2": "email"})
	must(t, bad, http.StatusOK, "a review with two columns mapped to email")
	if !strings.Contains(bad.Body, "The mapping cannot be used") || !strings.Contains(bad.Body, `id="col-2"`) || strings.Contains(bad.Body, `id="apply"`) {
		t.Errorf("a review with two columns mapped to email does not give the grid back with why, or offers Apply:\n%s", bad.Body)
	}
	m := reviewField.FindStringSubmatch(a.Body)
	if m == nil {
		t.Fatalf("the review has no Apply form:\n%s", a.Body)
	}
	review := m[1]
	must(t, c.do("POST", "/console/t/acme/import/apply", url.Values{"review": {review}}), http.StatusForbidden, "an apply without the CSRF token")

	// Someone changes Ada's card after the review.
	api(t, r, "PATCH", "/tenants/acme/cards/"+ada.ID, map[string]any{"title": "Countess"}, nil)
	a = c.do("POST", "/console/t/acme/import/apply", url.Values{"csrf": {tok}, "review": {review}})
	must(t, a, http.StatusConflict, "an apply after a card changed")
	if !strings.Contains(a.Body, "Nothing was imported: cards changed since the review") || !strings.Contains(a.Body, "Upload the file again") {
		t.Errorf("the refused apply does not say why:\n%s", a.Body)
	}
	cards := cardsByEmail(t, r)
	if len(cards) != 1 || cards[ada.Email].Attributes.Location != "" || cards[ada.Email].Attributes.Title != "Countess" {
		t.Fatalf("a refused apply changed the cards: %+v", cards)
	}

	g := newClient(t, r)
	g.signIn(r.CreateAPIKey(t, "globex-ops", "--tenant", "globex"))
	must(t, g.do("GET", "/console/t/acme/import", nil), http.StatusForbidden, "another tenant's import page")
	must(t, c.do("GET", "/console/t/acme/imports/no-such-run", nil), http.StatusNotFound, "an unknown import")
}
