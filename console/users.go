package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
)

// pageSize is the number of cards on a page of the users list.
const pageSize = 50

// tab is one status tab of the users page, with its count.
type tab struct {
	Label   string
	URL     string
	Count   int
	Current bool
}

type statusOption struct {
	Value, Label string
	Selected     bool
}

type userRow struct {
	ID, Name, Email, Role, Groups string
	Status                        directory.Status
	LastLogin, Created            time.Time
	URL                           string
}

type usersView struct {
	Tenant   Tenant
	Tabs     []tab
	Query    string
	Role     string
	Sorts    []statusOption
	Statuses []statusOption
	Rows     []userRow
	// Actions are the bulk menu's.
	Actions []bulkAction
	// Matching is the number of cards of the status tab (all statuses when
	// no status is chosen); a search narrows the rows, not this count.
	Matching int
	// Self is this page's URL, where a bulk action comes back to.
	Self              string
	NextURL, FirstURL string
}

// userFilters are the query parameters of the users page.
var userFilters = []string{"status", "q", "role", "sort", "cursor"}

// userSorts are the list's orders as the sort menu offers them.
var userSorts = []struct{ Value, Label string }{
	{"", "Created, oldest first"}, {"-created", "Created, newest first"}, {"name", "Name"}, {"-name", "Name, Z to A"},
	{"email", "Email"}, {"last_login", "Last login, never first"}, {"-last_login", "Last login, latest first"}, {"status", "Status"},
}

// statusFilters are the status values the list takes, in the tabs' order.
var statusFilters = []string{"", "enabled", string(directory.Active), string(directory.InvitePending),
	string(directory.InviteExpired), string(directory.Provisioned), string(directory.Disabled)}

// users: GET /console/t/{t}/users?status=&q=&cursor= — the tenant's cards,
// with the status counts as tabs.
func (c *Console) users(w http.ResponseWriter, r *http.Request, t Tenant) {
	v := r.URL.Query()
	for name := range v {
		if !slices.Contains(userFilters, name) {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The users page has no parameter %q (it takes %s).", name, strings.Join(userFilters, ", ")))
			return
		}
	}
	status, query, role, sort := v.Get("status"), strings.TrimSpace(v.Get("q")), strings.TrimSpace(v.Get("role")), v.Get("sort")
	if !slices.Contains(statusFilters, status) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("status %q is not one of %s.", status, strings.Join(statusFilters[1:], ", ")))
		return
	}
	if !slices.ContainsFunc(userSorts, func(o struct{ Value, Label string }) bool { return o.Value == sort }) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("sort %q is not one of %s, with or without a leading \"-\".", sort, strings.Join(directory.Sorts, ", ")))
		return
	}
	stats, err := c.deps.Directory.Stats(r.Context(), t.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	page, err := c.deps.Directory.List(r.Context(), directory.ListQuery{Tenant: t.ID, Status: status, Query: query, Role: role,
		Sort: sort, Cursor: v.Get("cursor"), Limit: pageSize})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	base := tenantURL(t.ID) + "/users"
	link := func(status, cursor string) string {
		q := url.Values{}
		if status != "" {
			q.Set("status", status)
		}
		if query != "" {
			q.Set("q", query)
		}
		if role != "" {
			q.Set("role", role)
		}
		if sort != "" {
			q.Set("sort", sort)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if len(q) == 0 {
			return base
		}
		return base + "?" + q.Encode()
	}
	view := usersView{Tenant: t, Query: query, Role: role, Self: link(status, v.Get("cursor")), Actions: bulkActions}
	for _, o := range userSorts {
		view.Sorts = append(view.Sorts, statusOption{Value: o.Value, Label: o.Label, Selected: o.Value == sort})
	}
	total := 0
	for _, n := range stats {
		total += n
	}
	for _, s := range statusFilters {
		n := stats[directory.Status(s)]
		switch s {
		case "":
			n = total
		case "enabled":
			n = total - stats[directory.Disabled]
		}
		view.Tabs = append(view.Tabs, tab{Label: statusLabel(directory.Status(s)), URL: link(s, ""), Count: n, Current: s == status})
		view.Statuses = append(view.Statuses, statusOption{Value: s, Label: statusLabel(directory.Status(s)), Selected: s == status})
		if s == status {
			view.Matching = n
		}
	}
	now := c.deps.Directory.Now()
	for _, card := range page.Cards {
		view.Rows = append(view.Rows, userRow{ID: card.ID, Name: displayName(card), Email: card.Email, Role: card.Attributes.Role,
			Groups: strings.Join(card.Attributes.Groups, ", "), Status: directory.StatusOf(card, now),
			LastLogin: card.LastLoginAt, Created: card.CreatedAt, URL: tenantURL(t.ID) + "/cards/" + url.PathEscape(card.ID)})
	}
	if page.Next != "" {
		view.NextURL = link(status, page.Next)
	}
	if v.Get("cursor") != "" {
		view.FirstURL = link(status, "")
	}
	c.render(w, r, http.StatusOK, "users", "Users · "+t.Name, view)
}

// displayName is how a card is named on a page.
func displayName(c directory.Card) string {
	a := c.Attributes
	if a.DisplayName != "" {
		return a.DisplayName
	}
	if n := strings.TrimSpace(a.GivenName + " " + a.FamilyName); n != "" {
		return n
	}
	return c.Email
}
