package admin

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
)

// person is one card the filter tests make through the API.
type person struct {
	email, given, family, dept, title, location, employeeID, role string
	login                                                         time.Duration // after the start; 0: never
	disabled                                                      bool
}

var filterPeople = []person{
	{email: "ann@example.com", given: "Ann", family: "Zeta", dept: "Sales", title: "Account Executive", location: "Berlin", employeeID: "E-100", role: "admin", login: 2 * time.Hour},
	{email: "bob@example.com", given: "Bob", family: "Young", dept: "Support", location: "Lisbon", employeeID: "E-200"},
	{email: "cy@example.com", given: "Cy", family: "Xu", dept: "Research", title: "Chemist", role: "admin", login: time.Hour},
	{email: "dee@example.com", given: "Dee", family: "Abbot", dept: "Sales", disabled: true},
	{email: "eve@example.com", given: "Eve", family: "Moss", location: "Berlin", employeeID: "X-9"},
	{email: "fay@example.com", given: "Fay", family: "young", title: "Chemist", login: 3 * time.Hour},
}

// seedPeople creates filterPeople through the API, in order, and returns
// their card ids by email.
func (e *env) seedPeople() map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for _, p := range filterPeople {
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{p.email}, "role": p.role})
		id := e.cardID(p.email)
		ids[p.email] = id
		e.must(200, "PATCH", acme+"/cards/"+id, map[string]any{"given_name": p.given, "family_name": p.family, "department": p.dept,
			"title": p.title, "location": p.location, "employee_id": p.employeeID})
		if p.disabled {
			e.must(200, "POST", acme+"/cards/"+id+"/disable", map[string]string{"reason": "left"})
		}
	}
	// Logins in a known order, each at its own time.
	byLogin := slices.Clone(filterPeople)
	slices.SortFunc(byLogin, func(a, b person) int { return int(a.login - b.login) })
	at := time.Duration(0)
	for _, p := range byLogin {
		if p.login == 0 {
			continue
		}
		e.clock.Advance(p.login - at)
		at = p.login
		if _, err := e.dir.RecordLogin(context.Background(), directory.Login{Tenant: "acme", Email: p.email, NameID: p.email}); err != nil {
			e.t.Fatalf("login of %s: %v", p.email, err)
		}
	}
	return ids
}

// emails lists a page's emails, in order.
func emails(r response) []string {
	var out []string
	cards, _ := r.Body["cards"].([]any)
	for _, c := range cards {
		out = append(out, strings.Split(fmt.Sprint(c.(map[string]any)["email"]), "@")[0])
	}
	return out
}

// pages walks the card list with a page size and returns every email.
func (e *env) pages(query string, limit int) []string {
	e.t.Helper()
	var out []string
	cursor := ""
	for i := 0; ; i++ {
		if i > 20 {
			e.t.Fatalf("%s: more than 20 pages", query)
		}
		q := query + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.must(200, "GET", acme+"/cards?"+q, nil)
		out = append(out, emails(r)...)
		next, _ := r.Body["next"].(string)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func TestCardListSortsAndPagesByEachSort(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedPeople()
		for _, tc := range []struct {
			sort string
			want string
		}{
			{"", "ann bob cy dee eve fay"},
			{"created", "ann bob cy dee eve fay"},
			{"-created", "fay eve dee cy bob ann"},
			{"name", "dee eve cy bob fay ann"}, // Young, Bob before young, Fay: case folded, then the given name
			{"-name", "ann fay bob cy eve dee"},
			{"email", "ann bob cy dee eve fay"},
			{"-email", "fay eve dee cy bob ann"},
			{"last_login", "bob dee eve cy ann fay"}, // never logged in first, then by creation
			{"-last_login", "fay ann cy eve dee bob"},
			{"status", "ann cy fay bob eve dee"}, // active, invite_pending, disabled
			{"-status", "dee eve bob fay cy ann"},
		} {
			query := "sort=" + tc.sort
			if all := strings.Join(emails(e.must(200, "GET", acme+"/cards?"+query, nil)), " "); all != tc.want {
				t.Errorf("sort=%s: %s, want %s", tc.sort, all, tc.want)
			}
			for _, limit := range []int{1, 2, 4} {
				if got := strings.Join(e.pages(query, limit), " "); got != tc.want {
					t.Errorf("sort=%s in pages of %d: %s, want %s", tc.sort, limit, got, tc.want)
				}
			}
		}
	})
}

// A card renamed after it ended a page does not move the next page: the
// cursor holds its sort key as it was.
func TestCardListCursorHoldsTheSortKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ids := e.seedPeople()
		r := e.must(200, "GET", acme+"/cards?sort=name&limit=2", nil)
		if got := strings.Join(emails(r), " "); got != "dee eve" {
			t.Fatalf("first page: %s", got)
		}
		e.must(200, "PATCH", acme+"/cards/"+ids["eve@example.com"], map[string]any{"family_name": "Zzz"})
		next := r.Body["next"].(string)
		r = e.must(200, "GET", acme+"/cards?sort=name&limit=10&cursor="+url.QueryEscape(next), nil)
		if got := strings.Join(emails(r), " "); got != "cy bob fay ann eve" {
			t.Fatalf("after the rename: %s", got)
		}
		// A cursor of another sort is refused, not misread.
		if r := e.do("GET", acme+"/cards?sort=email&cursor="+url.QueryEscape(next), rwKey, nil); r.Status != 400 || r.errField() != "cursor" {
			t.Fatalf("cursor of another sort: %d %s", r.Status, r.Raw)
		}
	})
}

func TestCardSearchAndAttributeFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.seedPeople()
		for _, tc := range []struct{ query, want string }{
			{"q=research", "cy"},      // department
			{"q=CHEM", "cy fay"},      // title
			{"q=lisb", "bob"},         // location
			{"q=e-2", "bob"},          // employee id
			{"q=x-9", "eve"},          // employee id
			{"q=zeta", "ann"},         // family name
			{"q=bob%40", "bob"},       // email
			{"role=admin", "ann cy"},  // role
			{"role=ADMIN&q=cy", "cy"}, // filters combine
			{"department=sales", "ann dee"},
			{"location=Berlin&status=enabled", "ann eve"},
			{"title=chemist&sort=-name", "fay cy"},
			{"status=active&sort=last_login", "cy ann fay"},
			{"q=100%25", ""}, // % is a character, not a wildcard
		} {
			if got := strings.Join(emails(e.must(200, "GET", acme+"/cards?"+tc.query, nil)), " "); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
			}
		}
		st := e.must(200, "GET", acme+"/cards/stats?department=sales", nil)
		if c := st.Body["counts"].(map[string]any); c["active"] != float64(1) || c["disabled"] != float64(1) || st.Body["total"] != float64(2) || st.Body["enabled"] != float64(1) {
			t.Fatalf("stats of sales: %s", st.Raw)
		}
		st = e.must(200, "GET", acme+"/cards/stats", nil)
		if st.Body["total"] != float64(6) {
			t.Fatalf("stats: %s", st.Raw)
		}
		csv := e.must(200, "GET", acme+"/cards/export.csv?role=admin&sort=-email", nil)
		lines := strings.Split(strings.TrimSpace(csv.Raw), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "cy@") || !strings.HasPrefix(lines[2], "ann@") {
			t.Fatalf("export of admins: %s", csv.Raw)
		}
	})
}

func TestCardQueryParametersAreChecked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			path, code, field string
		}{
			{"/cards?stauts=disabled", "unknown_parameter", "stauts"},
			{"/cards/stats?stauts=disabled", "unknown_parameter", "stauts"},
			{"/cards/export.csv?stauts=disabled", "unknown_parameter", "stauts"},
			{"/cards/stats?limit=5", "unknown_parameter", "limit"},
			{"/cards/stats?sort=name", "unknown_parameter", "sort"},
			{"/cards/export.csv?cursor=x", "unknown_parameter", "cursor"},
			{"/cards?status=gone", "invalid_value", "status"},
			{"/cards/stats?status=gone", "invalid_value", "status"},
			{"/cards/export.csv?status=gone", "invalid_value", "status"},
			{"/cards?sort=age", "invalid_value", "sort"},
			{"/cards?sort=--name", "invalid_value", "sort"},
			{"/cards?limit=0", "invalid_value", "limit"},
			{"/cards?limit=ten", "invalid_value", "limit"},
			{"/cards?status=active&status=disabled", "invalid_value", "status"},
			{"/cards?q=" + strings.Repeat("x", 300), "invalid_value", "q"},
			{"/cards?sort=name&cursor=not-a-cursor", "invalid_value", "cursor"},
			{"/cards?cursor=c1.%7B", "invalid_value", "cursor"},
		} {
			r := e.do("GET", acme+tc.path, rwKey, nil)
			if r.Status != 400 || r.errCode() != tc.code || r.errField() != tc.field {
				t.Errorf("%s: %d %.300s, want 400 %s field %s", tc.path, r.Status, r.Raw, tc.code, tc.field)
			}
		}
		// Every documented filter is accepted.
		for _, p := range append(slices.Clone(directory.FilterParams), directory.PageParams...) {
			v := "x"
			switch p {
			case "status":
				v = "enabled"
			case "sort":
				v = "-name"
			case "limit":
				v = "5"
			case "cursor":
				v = "00000000-0000-0000-0000-000000000000"
			case "manager":
				v = "boss@example.com"
			case "assigned":
				v = "true"
			case "relation.<name>":
				p, v = "relation.parent", "mum@example.com"
			}
			if r := e.do("GET", acme+"/cards?"+p+"="+v, rwKey, nil); r.Status != 200 {
				t.Errorf("?%s=%s: %d %s", p, v, r.Status, r.Raw)
			}
		}
	})
}
