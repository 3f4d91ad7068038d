package consoletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/internal/browsertest"
)

// adminKey is the configuration's admin key, named "ops".
const adminKey = "test-admin-key-0123456789abcdef0123"

// axePath is where `npm ci` in this folder puts axe-core.
const axePath = "node_modules/axe-core/axe.min.js"

// config has two tenants that invite nobody by email, so that the cards
// the admin API adds are "provisioned".
const config = `admin_keys: [{name: ops, key: ` + adminKey + `}]
tenants:
  - id: acme
    name: Acme Inc.
    invite: none
  - id: globex
    name: Globex
    invite: none
`

func startRosterd(t *testing.T, postgres bool) *browsertest.Rosterd {
	t.Helper()
	return browsertest.StartRosterd(t, browsertest.Options{Config: config, Postgres: postgres})
}

// newBrowser starts Chromium for a journey; what the pages of the
// foreign origins (an IdP's) log fails no step.
func newBrowser(t *testing.T, foreign ...string) *browsertest.Browser {
	t.Helper()
	axe, err := filepath.Abs(axePath)
	if err != nil {
		t.Fatal(err)
	}
	return browsertest.NewBrowser(t, browsertest.BrowserOptions{Axe: axe, Foreign: foreign})
}

// api calls the admin API with the admin key and decodes the answer.
func api(t *testing.T, r *browsertest.Rosterd, method, path string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
}

type apiCard struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Enabled bool   `json:"enabled"`
	Status  string `json:"status"`
}

// seed adds people to a tenant through the admin API and returns their
// cards in creation order.
func seed(t *testing.T, r *browsertest.Rosterd, tenant string, emails ...string) []apiCard {
	t.Helper()
	api(t, r, "POST", "/tenants/"+tenant+"/cards/invite", map[string]any{"emails": emails, "role": "viewer"}, nil)
	var page struct {
		Cards []apiCard `json:"cards"`
	}
	api(t, r, "GET", "/tenants/"+tenant+"/cards?limit=1000", nil, &page)
	if len(page.Cards) < len(emails) {
		t.Fatalf("seeded %d people into %s, the API lists %d", len(emails), tenant, len(page.Cards))
	}
	return page.Cards
}

// person is someone the tests add through the admin API.
type person struct {
	Email, Given, Family, Role string
	Groups                     []string
}

// staff are eight people of Acme, in the order they are added.
var staff = []person{
	{"ada.lovelace@acme.example", "Ada", "Lovelace", "admin", []string{"engineering"}},
	{"grace.hopper@acme.example", "Grace", "Hopper", "editor", []string{"engineering", "navy"}},
	{"alan.turing@acme.example", "Alan", "Turing", "viewer", []string{"research"}},
	{"katherine.johnson@acme.example", "Katherine", "Johnson", "viewer", []string{"research"}},
	{"edsger.dijkstra@acme.example", "Edsger", "Dijkstra", "editor", []string{"engineering"}},
	{"barbara.liskov@acme.example", "Barbara", "Liskov", "viewer", []string{"engineering"}},
	{"donald.knuth@acme.example", "Donald", "Knuth", "viewer", []string{"research", "typesetting"}},
	{"margaret.hamilton@acme.example", "Margaret", "Hamilton", "admin", []string{"apollo"}},
}

// seedPeople adds people with their names, roles and groups, and returns
// their cards in the same order.
func seedPeople(t *testing.T, r *browsertest.Rosterd, tenant string, people []person) []apiCard {
	t.Helper()
	var out []apiCard
	for _, p := range people {
		var res struct {
			Results []struct {
				Card *apiCard `json:"card"`
			} `json:"results"`
		}
		api(t, r, "POST", "/tenants/"+tenant+"/cards/invite", map[string]any{"emails": []string{p.Email}, "role": p.Role, "groups": p.Groups}, &res)
		if len(res.Results) != 1 || res.Results[0].Card == nil {
			t.Fatalf("inviting %s: no card in the answer", p.Email)
		}
		var c apiCard
		api(t, r, "PATCH", "/tenants/"+tenant+"/cards/"+res.Results[0].Card.ID, map[string]any{"given_name": p.Given, "family_name": p.Family}, &c)
		out = append(out, c)
	}
	return out
}

func getCard(t *testing.T, r *browsertest.Rosterd, tenant, id string) apiCard {
	t.Helper()
	var c apiCard
	api(t, r, "GET", "/tenants/"+tenant+"/cards/"+id, nil, &c)
	return c
}

// client is a browser without a browser: a cookie jar, no redirects
// followed, for the tests of what the console refuses.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, r *browsertest.Rosterd) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: r.URL, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	Status   int
	Location string
	Body     string
}

func (c *client) do(method, path string, form url.Values) answer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	a := c.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(a.Body)
	if a.Status != http.StatusOK || m == nil {
		c.t.Fatalf("GET %s: %d, no CSRF token in the page:\n%s", path, a.Status, a.Body)
	}
	return m[1]
}

// sessionID is the console's session cookie in the jar.
func (c *client) sessionID() string {
	u, _ := url.Parse(c.base + "/console/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "rosterd_console" {
			return ck.Value
		}
	}
	return ""
}

// signIn signs in with a key and checks that it worked.
func (c *client) signIn(key string) {
	c.t.Helper()
	tok := c.csrf("/console/sign-in")
	a := c.do("POST", "/console/sign-in", url.Values{"csrf": {tok}, "key": {key}, "next": {"/console/"}})
	if a.Status != http.StatusSeeOther {
		c.t.Fatalf("sign-in: %d, want 303\n%s", a.Status, a.Body)
	}
}

func must(t *testing.T, a answer, status int, what string) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, a.Status, status, a.Body)
	}
}

func emails(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d@acme.example", prefix, i+1)
	}
	return out
}
