package directory

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/store"
)

// ListQuery selects cards of a tenant: the filters of the card list, its
// stats, its export and a bulk action by filter, and the list's paging.
// The admin API and the console read it from a query string or a JSON
// object with ParseListQuery, so that both accept the same names and
// refuse the same mistakes.
type ListQuery struct {
	Tenant string
	// Status is one of Statuses, or "enabled" for every status but disabled;
	// empty for all.
	Status string
	// Source: only cards a live claim of this source lists.
	Source string
	// Group: only cards whose groups hold this name.
	Group string
	// Query matches a substring of the email, a name, the title,
	// department, location or employee id, ignoring case.
	Query string
	// Role, Department, Location, Title, ManagerEmail: the attribute
	// equals this, ignoring case.
	Role, Department, Location, Title, ManagerEmail string
	// Manager: only cards whose manager is this person: an email, or the
	// id of a card of the tenant.
	Manager string
	// Assigned: nil either; true only cards with a manager, false without.
	Assigned *bool
	// Relation and RelationTo: only cards whose relation of that name is
	// this email (relation.parent=mum@example.com).
	Relation, RelationTo string
	// Sort is one of Sorts, "-" before it for descending; empty is
	// "created".
	Sort string
	// Cursor is the Next of the previous page, of the same Sort.
	Cursor string
	// Limit is the page size: 1..1000, default 100.
	Limit int
}

// Page is one page of cards; Next is empty on the last page.
type Page struct {
	Cards []Card `json:"cards"`
	Next  string `json:"next,omitempty"`
}

// Sorts are the orders a card list takes: created (oldest first), name
// (family, then given name), email, last_login (never logged in first),
// status (in the order of Statuses).
var Sorts = []string{"created", "name", "email", "last_login", "status"}

// StatusFilters are the values of ListQuery.Status.
var StatusFilters = []string{"active", "invite_pending", "invite_expired", "provisioned", "pending_approval", "disabled", "enabled"}

// FilterParams name ListQuery's filters as a query string or a JSON
// object spells them; PageParams its paging and order.
var (
	FilterParams = []string{"status", "source", "group", "q", "role", "department", "location", "title", "manager_email",
		"manager", "assigned", "relation.<name>"}
	PageParams = []string{"sort", "cursor", "limit"}
)

// QueryError is a parameter of a card query that is unknown or has a bad
// value; Param names it as the caller spelled it.
type QueryError struct {
	Param   string
	Message string
	// Unknown: no such parameter (else its value is bad).
	Unknown bool
}

func (e *QueryError) Error() string { return e.Message }

// maxFilterValue bounds a filter's value.
const maxFilterValue = 256

// ParseListQuery reads a card query from parameters (a URL's query, or a
// JSON object's members as one-element lists). Only the names in allowed
// are accepted (FilterParams, and PageParams where the caller pages); any
// other, a repeated one or a bad value is a *QueryError naming it, with
// prefix before the name ("filter." for a JSON body's filter object).
// An empty value is no filter, as a form's empty field means.
func ParseListQuery(tenant string, params map[string][]string, allowed []string, prefix string) (ListQuery, error) {
	q := ListQuery{Tenant: tenant}
	bad := func(name, format string, args ...any) error {
		return &QueryError{Param: prefix + name, Message: prefix + name + " " + fmt.Sprintf(format, args...)}
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		vals := params[name]
		relation, isRelation := strings.CutPrefix(name, "relation.")
		if isRelation && relation != "" && slices.Contains(allowed, "relation.<name>") {
			if len(vals) != 1 {
				return q, bad(name, "is given %d times", len(vals))
			}
			if q.Relation != "" {
				return q, bad(name, "is a second relation filter: give one")
			}
			if vals[0] != "" {
				q.Relation, q.RelationTo = relation, vals[0]
			}
			continue
		}
		if !slices.Contains(allowed, name) {
			return q, &QueryError{Param: prefix + name, Unknown: true, Message: fmt.Sprintf("unknown parameter %q: the parameters here are %s",
				prefix+name, strings.Join(allowed, ", "))}
		}
		if len(vals) != 1 {
			return q, bad(name, "is given %d times", len(vals))
		}
		v := vals[0]
		if v == "" {
			continue // a form's empty field: no filter
		}
		if len(v) > maxFilterValue && name != "cursor" {
			return q, bad(name, "is longer than %d bytes", maxFilterValue)
		}
		switch name {
		case "status":
			if !slices.Contains(StatusFilters, v) {
				return q, bad(name, "must be one of %s, not %q", strings.Join(StatusFilters, ", "), v)
			}
			q.Status = v
		case "source":
			q.Source = v
		case "group":
			q.Group = v
		case "q":
			q.Query = v
		case "role":
			q.Role = v
		case "department":
			q.Department = v
		case "location":
			q.Location = v
		case "title":
			q.Title = v
		case "manager_email":
			q.ManagerEmail = v
		case "manager":
			q.Manager = v
		case "assigned":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return q, bad(name, "must be true or false, not %q", v)
			}
			q.Assigned = &b
		case "sort":
			if !slices.Contains(Sorts, strings.TrimPrefix(v, "-")) {
				return q, bad(name, "must be one of %s (a leading - reverses it), not %q", strings.Join(Sorts, ", "), v)
			}
			q.Sort = v
		case "cursor":
			q.Cursor = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return q, bad(name, "must be a number from 1 to 1000, not %q", v)
			}
			q.Limit = n
		}
	}
	if q.Cursor != "" {
		if _, err := decodeCursor(q.Sort, q.Cursor); err != nil {
			return q, bad("cursor", "%v", err)
		}
	}
	return q, nil
}

// cursor is where a sorted page starts: after the card with this id and
// this sort key. The default order's cursor is the bare card id.
type cursor struct {
	Sort string `json:"s"`
	Key  []any  `json:"k"`
	ID   string `json:"id"`
}

const cursorPrefix = "c1."

func encodeCursor(sort string, c Card, key []any) string {
	b, _ := json.Marshal(cursor{Sort: sort, Key: key, ID: c.ID})
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = errors.New("is not the next of a page of this sort: start again without it")

func decodeCursor(sort, s string) (cursor, error) {
	if sortOf(sort) == store.SortID && !strings.HasPrefix(s, cursorPrefix) {
		return cursor{Sort: sort, ID: s}, nil
	}
	raw, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return cursor{}, errCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return cursor{}, errCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.Sort != sort {
		return cursor{}, errCursor
	}
	return c, nil
}

func sortOf(s string) store.CardSort {
	switch strings.TrimPrefix(s, "-") {
	case "", "created":
		return store.SortID
	}
	return store.CardSort(strings.TrimPrefix(s, "-"))
}

// cardFilter is the store's filter for q, without paging.
func (s *Service) cardFilter(ctx context.Context, q ListQuery) (store.CardFilter, error) {
	yes, no := true, false
	f := store.CardFilter{Tenant: q.Tenant, Source: q.Source, Group: q.Group, Query: q.Query, Role: q.Role, Department: q.Department,
		Location: q.Location, Title: q.Title, ManagerEmail: q.ManagerEmail, Assigned: q.Assigned, Now: s.Now(),
		Sort: sortOf(q.Sort), Desc: strings.HasPrefix(q.Sort, "-")}
	if f.Sort != store.SortID && !slices.Contains(Sorts, string(f.Sort)) {
		return f, &QueryError{Param: "sort", Message: fmt.Sprintf("unknown sort %q: want one of %s", q.Sort, strings.Join(Sorts, ", "))}
	}
	switch q.Status {
	case "":
	case "enabled":
		f.Enabled = &yes
	case string(Active):
		f.Enabled, f.LoggedIn = &yes, &yes
	case string(InvitePending):
		f.Enabled, f.LoggedIn, f.Invite = &yes, &no, "live"
	case string(InviteExpired):
		f.Enabled, f.LoggedIn, f.Invite = &yes, &no, "expired"
	case string(Provisioned):
		f.Enabled, f.LoggedIn, f.Invite = &yes, &no, "none"
	case string(Disabled):
		f.Enabled, f.PendingApproval = &no, &no
	case string(PendingApproval):
		f.PendingApproval = &yes
	default:
		return f, &QueryError{Param: "status", Message: fmt.Sprintf("unknown status %q: want one of %s", q.Status, strings.Join(StatusFilters, ", "))}
	}
	if err := s.relationFilters(ctx, q, &f); err != nil {
		return f, err
	}
	// group= takes a group's id too: then only that group's members (of
	// that one source), where the name selects every source's group of
	// that name.
	if _, err := uuid.Parse(q.Group); err == nil {
		g, err := s.store.GroupByID(ctx, q.Tenant, q.Group)
		switch {
		case err == nil:
			f.Group, f.GroupID = "", g.ID
		case !errors.Is(err, store.ErrNotFound):
			return f, err
		}
	}
	return f, nil
}

// List returns a page of cards, in creation order unless q sorts
// otherwise.
func (s *Service) List(ctx context.Context, q ListQuery) (Page, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return Page{}, err
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return Page{}, &QueryError{Param: "limit", Message: fmt.Sprintf("limit %d out of range 1..1000", limit)}
	}
	f, err := s.cardFilter(ctx, q)
	if err != nil {
		return Page{}, err
	}
	f.Limit = limit + 1
	if q.Cursor != "" {
		c, err := decodeCursor(q.Sort, q.Cursor)
		if err != nil {
			return Page{}, &QueryError{Param: "cursor", Message: "cursor " + err.Error()}
		}
		f.After, f.AfterKey = c.ID, c.Key
	}
	cards, err := s.store.ListCards(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Cards: cards}
	if len(cards) > limit {
		p.Cards = cards[:limit]
		last := cards[limit-1]
		if f.Sort == store.SortID {
			p.Next = last.ID
		} else {
			p.Next = encodeCursor(q.Sort, last, store.CardSortKey(f.Sort, last, f.Now))
		}
	}
	if p.Cards == nil {
		p.Cards = []Card{}
	}
	return p, nil
}

// CustomAttributeNames returns the distinct custom attribute names of the
// cards q selects (its paging ignored), in byte order, at most limit of
// them: what an export needs for its header before its first row.
func (s *Service) CustomAttributeNames(ctx context.Context, q ListQuery, limit int) ([]string, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return nil, err
	}
	f, err := s.cardFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.store.CustomAttributeNames(ctx, f, limit)
}

// CountUpTo counts the cards q selects (its paging and order ignored),
// stopping at max.
func (s *Service) CountUpTo(ctx context.Context, q ListQuery, max int) (int, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return 0, err
	}
	q.Cursor = ""
	f, err := s.cardFilter(ctx, q)
	if err != nil {
		return 0, err
	}
	return s.store.CountCardsUpTo(ctx, f, max)
}

// Count counts the cards q selects per status, now (its paging and order
// ignored). Without a filter, the counts are the kept ones (Stats), not a
// pass over the tenant's cards.
func (s *Service) Count(ctx context.Context, q ListQuery) (map[Status]int, error) {
	if _, err := s.Policy(q.Tenant); err != nil {
		return nil, err
	}
	if (ListQuery{Tenant: q.Tenant, Sort: q.Sort, Cursor: q.Cursor, Limit: q.Limit}) == q {
		return s.Stats(ctx, q.Tenant)
	}
	f, err := s.cardFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	c, err := s.store.CountCardsWhere(ctx, f)
	if err != nil {
		return nil, err
	}
	return map[Status]int{Disabled: c.Disabled, Active: c.LoggedIn, Provisioned: c.NeverInvited,
		InvitePending: c.InviteLive, InviteExpired: c.InviteExpired, PendingApproval: c.PendingApproval}, nil
}
