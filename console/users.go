package console

import (
	"errors"
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
	// Manager is the assigned staff member's email.
	Manager            string
	Status             directory.Status
	LastLogin, Created time.Time
	URL                string
}

type usersView struct {
	Tenant   Tenant
	Tabs     []tab
	Query    string
	Role     string
	Group    string
	Manager  string
	Source   string
	Sorts    []statusOption
	Assigned []statusOption
	Statuses []statusOption
	Rows     []userRow
	// Actions are the bulk menu's.
	Actions []bulkAction
	// Matching is the number of cards of the status tab (all statuses when
	// no status is chosen); Filtered is how many of them the other
	// filters keep (Matching without any); FilteredMore: more than
	// maxBulk, counted no further.
	Matching, Filtered int
	FilteredMore       bool
	// MoreFilters counts the filters set among group, manager, assigned
	// and source (a fold of the form that opens when any is).
	MoreFilters int
	// Narrowed: a filter other than the status is set.
	Narrowed bool
	// SelectAll offers the bulk menu every card of the filter, not only
	// the rows checked: there are more than this page shows. Above
	// maxBulk the page says to narrow it or use the admin API.
	SelectAll, TooMany bool
	MaxBulk            int
	// Filter is the page's filter as a query string (no cursor), for a
	// bulk action on all matching.
	Filter string
	// ExportCSV and ExportXLSX download every card of the filter.
	ExportCSV, ExportXLSX string
	// Self is this page's URL, where a bulk action comes back to.
	Self              string
	NextURL, FirstURL string
}

// userFilters are the query parameters of the users page.
var userFilters = []string{"status", "q", "role", "group", "manager", "assigned", "source", "sort", "cursor"}

// assignedFilters are the values of assigned=, as its menu offers them.
var assignedFilters = []struct{ Value, Label string }{{"", "Either"}, {"yes", "Assigned"}, {"no", "Unassigned"}}

// userSorts are the list's orders as the sort menu offers them.
var userSorts = []struct{ Value, Label string }{
	{"", "Created, oldest first"}, {"-created", "Created, newest first"}, {"name", "Name"}, {"-name", "Name, Z to A"},
	{"email", "Email"}, {"last_login", "Last login, never first"}, {"-last_login", "Last login, latest first"}, {"status", "Status"},
}

// statusFilters are the status values the list takes, in the tabs' order.
// Pending approval has a tab only where a card waits for approval.
var statusFilters = []string{"", "enabled", string(directory.Active), string(directory.InvitePending),
	string(directory.InviteExpired), string(directory.Provisioned), string(directory.PendingApproval), string(directory.Disabled)}

// usersFilter is the users page's filter: as the directory takes it, and
// as the page's query string spells it (the parameters set, trimmed, no
// cursor), for its links and for a bulk action on all matching.
type usersFilter struct {
	Query  directory.ListQuery
	Params url.Values
}

// narrowed reports whether a filter other than the status (and the sort)
// is set: then the tab's count is not the filter's.
func (f usersFilter) narrowed() bool {
	for name := range f.Params {
		if name != "status" && name != "sort" {
			return true
		}
	}
	return false
}

// parseUsersFilter reads the users page's parameters; a problem is said
// in words that name the parameter, for the error page.
func parseUsersFilter(tenant string, v url.Values) (usersFilter, string) {
	f := usersFilter{Params: url.Values{}}
	params := map[string][]string{}
	for name, vals := range v {
		if !slices.Contains(userFilters, name) {
			return f, fmt.Sprintf("The users page has no parameter %q (it takes %s).", name, strings.Join(userFilters, ", "))
		}
		clean := make([]string, len(vals))
		for i, s := range vals {
			clean[i] = strings.TrimSpace(s)
		}
		params[name] = clean
		if len(clean) == 1 && clean[0] != "" && name != "cursor" {
			f.Params.Set(name, clean[0])
		}
	}
	status, sort := f.Params.Get("status"), f.Params.Get("sort")
	if !slices.Contains(statusFilters, status) {
		return f, fmt.Sprintf("status %q is not one of %s.", status, strings.Join(statusFilters[1:], ", "))
	}
	if !slices.ContainsFunc(userSorts, func(o struct{ Value, Label string }) bool { return o.Value == sort }) {
		return f, fmt.Sprintf("sort %q is not one of %s, with or without a leading \"-\".", sort, strings.Join(directory.Sorts, ", "))
	}
	// assigned is yes or no on the page, a boolean to the directory.
	switch a := f.Params.Get("assigned"); a {
	case "", "yes", "no":
		if a != "" {
			params["assigned"] = []string{map[string]string{"yes": "true", "no": "false"}[a]}
		}
	default:
		return f, fmt.Sprintf("assigned %q is neither yes nor no.", a)
	}
	// manager is the assigned staff member's email (the directory takes a
	// card id too, which the page does not offer).
	if m := f.Params.Get("manager"); m != "" {
		if _, _, err := directory.NormalizeEmail(m); err != nil {
			return f, fmt.Sprintf("manager %q is not an email address: %v.", m, err)
		}
	}
	// The directory's own reading: a repeated parameter, an overlong value
	// and a cursor of another order are refused as the admin API refuses
	// them.
	q, err := directory.ParseListQuery(tenant, params, append(slices.Clone(directory.FilterParams), directory.PageParams...), "")
	var bad *directory.QueryError
	if errors.As(err, &bad) {
		return f, bad.Message + "."
	}
	if err != nil {
		return f, err.Error()
	}
	f.Query = q
	return f, ""
}

// link is the users page's URL with the filter, its status replaced by
// status, at the cursor.
func (f usersFilter) link(tenant, status, cursor string) string {
	q := url.Values{}
	for name, v := range f.Params {
		q[name] = v
	}
	q.Del("status")
	if status != "" {
		q.Set("status", status)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	base := tenantURL(tenant) + "/users"
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// users: GET /console/t/{t}/users?status=&q=&cursor= — the tenant's cards,
// with the status counts as tabs.
func (c *Console) users(w http.ResponseWriter, r *http.Request, t Tenant) {
	f, problem := parseUsersFilter(t.ID, r.URL.Query())
	if problem != "" {
		c.errorPage(w, r, http.StatusBadRequest, problem)
		return
	}
	status, cursor := f.Query.Status, f.Query.Cursor
	stats, err := c.deps.Directory.Stats(r.Context(), t.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := f.Query
	q.Limit = pageSize
	page, err := c.deps.Directory.List(r.Context(), q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	view := usersView{Tenant: t, Query: f.Params.Get("q"), Role: f.Params.Get("role"), Group: f.Params.Get("group"),
		Manager: f.Params.Get("manager"), Source: f.Params.Get("source"), Self: f.link(t.ID, status, cursor),
		Actions: bulkActions, Filter: f.Params.Encode(), Narrowed: f.narrowed(), MaxBulk: maxBulk}
	for _, name := range []string{"group", "manager", "assigned", "source"} {
		if f.Params.Get(name) != "" {
			view.MoreFilters++
		}
	}
	view.ExportCSV, view.ExportXLSX = tenantURL(t.ID)+"/users/export.csv", tenantURL(t.ID)+"/users/export.xlsx"
	if view.Filter != "" {
		view.ExportCSV += "?" + view.Filter
		view.ExportXLSX += "?" + view.Filter
	}
	for _, o := range userSorts {
		view.Sorts = append(view.Sorts, statusOption{Value: o.Value, Label: o.Label, Selected: o.Value == f.Query.Sort})
	}
	for _, o := range assignedFilters {
		view.Assigned = append(view.Assigned, statusOption{Value: o.Value, Label: o.Label, Selected: o.Value == f.Params.Get("assigned")})
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
			n = directory.EnabledCount(stats)
		case string(directory.PendingApproval):
			if n == 0 && s != status {
				// No tab (nor menu entry) where nobody waits.
				continue
			}
		}
		view.Tabs = append(view.Tabs, tab{Label: statusLabel(directory.Status(s)), URL: f.link(t.ID, s, ""), Count: n, Current: s == status})
		view.Statuses = append(view.Statuses, statusOption{Value: s, Label: statusLabel(directory.Status(s)), Selected: s == status})
		if s == status {
			view.Matching = n
		}
	}
	// How many the filter keeps: the tab's count without other filters,
	// the rows when they are all, else the filter's cards counted up to
	// one past what a bulk action takes (never a pass over a million:
	// above it the page says "more than").
	view.Filtered = view.Matching
	switch {
	case !view.Narrowed:
	case cursor == "" && page.Next == "":
		view.Filtered = len(page.Cards)
	default:
		cq := f.Query
		cq.Cursor, cq.Sort = "", ""
		n, err := c.deps.Directory.CountUpTo(r.Context(), cq, maxBulk+1)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		view.Filtered, view.FilteredMore = n, n > maxBulk
	}
	view.SelectAll = view.Filtered > len(page.Cards)
	view.TooMany = view.Filtered > maxBulk
	now := c.deps.Directory.Now()
	for _, card := range page.Cards {
		view.Rows = append(view.Rows, userRow{ID: card.ID, Name: displayName(card), Email: card.Email, Role: card.Attributes.Role,
			Manager: card.Attributes.ManagerEmail,
			Groups:  strings.Join(card.Attributes.Groups, ", "), Status: directory.StatusOf(card, now),
			LastLogin: card.LastLoginAt, Created: card.CreatedAt, URL: tenantURL(t.ID) + "/cards/" + url.PathEscape(card.ID)})
	}
	if page.Next != "" {
		view.NextURL = f.link(t.ID, status, page.Next)
	}
	if cursor != "" {
		view.FirstURL = f.link(t.ID, status, "")
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
