package scim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

func TestUserLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		created := e.entra("POST", "/Users", user("Ann.Lee@example.com", "Ann", "Lee", map[string]any{
			"externalId": "ext-1",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "R&D", "employeeNumber": "0042"},
		})).must(t, http.StatusCreated)
		id := created.str("id")
		if id == "" || created.Header.Get("Location") != e.url+"/scim/acme/v2/Users/"+id || created.Header.Get("ETag") != `W/"1"` {
			t.Fatalf("created: id %q, Location %q, ETag %q", id, created.Header.Get("Location"), created.Header.Get("ETag"))
		}
		if created.str("meta", "location") != e.url+"/scim/acme/v2/Users/"+id || created.str("meta", "version") != `W/"1"` || created.str("externalId") != "ext-1" {
			t.Fatalf("created body: %s", created.Raw)
		}

		got := e.entra("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		if got.str("userName") != "Ann.Lee@example.com" || got.str("name", "givenName") != "Ann" || got.str("active") != "true" {
			t.Fatalf("get: %s", got.Raw)
		}
		card, err := e.dir.Get(t.Context(), "acme", id)
		if err != nil || !card.Enabled || card.Attributes.Department != "R&D" || card.Attributes.EmployeeID != "0042" {
			t.Fatalf("card: %+v, %v", card, err)
		}

		// Deactivate, as Entra ID does: a string boolean, no schemas.
		e.entra("PATCH", "/Users/"+id, `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`).must(t, http.StatusNoContent)
		card, _ = e.dir.Get(t.Context(), "acme", id)
		if card.Enabled || directory.StatusOf(card, e.clock.Now()) != directory.Disabled || !strings.HasPrefix(card.Reason, "disabled: deactivated by scim:entra") {
			t.Fatalf("after active:false: %+v", card)
		}
		// Reactivate: the same card.
		e.entra("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": true}})).must(t, http.StatusNoContent)
		card, _ = e.dir.Get(t.Context(), "acme", id)
		if !card.Enabled || card.ID != id {
			t.Fatalf("after active:true: %+v", card)
		}

		// DELETE withdraws the claim: 404 for SCIM, the card lives on, disabled.
		e.entra("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
		e.entra("GET", "/Users/"+id, nil).must(t, http.StatusNotFound)
		card, err = e.dir.Get(t.Context(), "acme", id)
		if err != nil || card.Enabled {
			t.Fatalf("after DELETE: %+v, %v", card, err)
		}
		e.entra("DELETE", "/Users/"+id, nil).must(t, http.StatusNotFound)
	})
}

func TestUniquenessAndAdoption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		first := e.entra("POST", "/Users", user("bob@example.com", "Bob", "B")).must(t, http.StatusCreated)
		dup := e.entra("POST", "/Users", user("BOB@example.com", "Bob", "B")).must(t, http.StatusConflict)
		if dup.str("scimType") != "uniqueness" || dup.str("status") != "409" {
			t.Fatalf("duplicate userName: %s", dup.Raw)
		}
		// Another connection of the tenant adopts the same card.
		okta := e.do("POST", "acme", acmeOkta, "/Users", user("bob@example.com", "Bob", "B")).must(t, http.StatusCreated)
		if okta.str("id") != first.str("id") {
			t.Fatalf("okta got card %s, entra %s: want the same card", okta.str("id"), first.str("id"))
		}
		// A card brought in by HR is adopted too.
		hr, err := e.dir.ApplyClaim(t.Context(), directory.Actor{Name: "file:hr"}, directory.ClaimInput{Tenant: "acme", Source: "file:hr",
			Email: "cy@example.com", State: store.Present, Authoritative: true})
		if err != nil {
			t.Fatal(err)
		}
		adopted := e.entra("POST", "/Users", user("cy@example.com", "Cy", "C")).must(t, http.StatusCreated)
		if adopted.str("id") != hr.Card.ID {
			t.Fatalf("adopted %s, HR card %s", adopted.str("id"), hr.Card.ID)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		acme := e.entra("POST", "/Users", user("ann@acme.example", "Ann", "A")).must(t, http.StatusCreated)
		id := acme.str("id")
		// globex's token on acme's URLs: 401, whatever the request.
		for _, req := range []struct{ method, path string }{{"GET", "/Users"}, {"GET", "/Users/" + id}, {"PATCH", "/Users/" + id}, {"DELETE", "/Users/" + id}, {"POST", "/Users"}} {
			r := e.do(req.method, "acme", globexOkta, req.path, patchOp(map[string]any{"op": "replace", "path": "active", "value": false}))
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("globex token %s %s on acme: %d %s", req.method, req.path, r.Status, r.Raw)
			}
		}
		// globex's own URLs do not show acme's card.
		e.do("GET", "globex", globexOkta, "/Users/"+id, nil).must(t, http.StatusNotFound)
		list := e.do("GET", "globex", globexOkta, "/Users", nil).must(t, http.StatusOK)
		if list.str("totalResults") != "0" {
			t.Fatalf("globex list: %s", list.Raw)
		}
		// A connection sees only its own users, even in the same tenant.
		e.do("GET", "acme", acmeOkta, "/Users/"+id, nil).must(t, http.StatusNotFound)
		// No token, a wrong one: 401.
		e.do("GET", "acme", "", "/Users", nil).must(t, http.StatusUnauthorized)
		e.do("GET", "acme", "nope", "/Users", nil).must(t, http.StatusUnauthorized)
		card, _ := e.dir.Get(t.Context(), "acme", id)
		if !card.Enabled {
			t.Fatal("acme's card changed through globex's token")
		}
	})
}

// TestConcurrentPostsOneUserName: 20 IdP workers POST the same user at
// once: exactly one 201, the rest 409.
func TestConcurrentPostsOneUserName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const n = 20
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- e.entra("POST", "/Users", user("race@example.com", "Race", "R")).Status
			}()
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
		}
	})
}

func TestFiltersAndPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, u := range []map[string]any{
			user("alice@example.com", "Alice", "Smith"),
			user("bob@example.com", "Bob", "Smithers"),
			user("carol@example.com", "Carol", "Jones", map[string]any{"active": false}),
		} {
			e.entra("POST", "/Users", u).must(t, http.StatusCreated)
		}
		for _, tc := range []struct {
			filter string
			want   int
		}{
			{`userName eq "ALICE@example.com"`, 1},
			{`name.FamilyName sw "smith"`, 2},
			{`emails.Value co "@example.com"`, 3},
			{`emails[type eq "work" and value ew "bob@example.com"]`, 1},
			{`active eq false`, 1},
			{`not (active eq false) and name.givenName pr`, 2},
			{`(userName eq "alice@example.com") or (userName eq "carol@example.com")`, 2},
			{`meta.lastModified gt "2000-01-01T00:00:00Z"`, 3},
			{`userName eq "x%_@example.com"`, 0},
		} {
			r := e.entra("GET", "/Users?filter="+queryEscape(tc.filter), nil)
			if r.Status != http.StatusOK || r.str("totalResults") != itoa(tc.want) {
				t.Errorf("filter %s: %d, totalResults %s, want %d: %s", tc.filter, r.Status, r.str("totalResults"), tc.want, truncate(r.Raw))
			}
		}
		bad := e.entra("GET", "/Users?filter="+queryEscape(`userName xx "a"`), nil)
		if bad.Status != http.StatusBadRequest || bad.str("scimType") != "invalidFilter" {
			t.Fatalf("bad filter: %d %s", bad.Status, bad.Raw)
		}
		page := e.entra("GET", "/Users?startIndex=2&count=1", nil).must(t, http.StatusOK)
		if page.str("totalResults") != "3" || page.str("startIndex") != "2" || len(page.Body["Resources"].([]any)) != 1 {
			t.Fatalf("page: %s", page.Raw)
		}
		empty := e.entra("GET", "/Users?filter="+queryEscape(`userName eq "nobody@example.com"`), nil).must(t, http.StatusOK)
		if !strings.Contains(empty.Raw, `"Resources":[]`) {
			t.Fatalf("an empty page must carry Resources: []: %s", empty.Raw)
		}
		proj := e.entra("GET", "/Users?attributes=userName&filter="+queryEscape(`userName eq "alice@example.com"`), nil).must(t, http.StatusOK)
		res := proj.Body["Resources"].([]any)[0].(map[string]any)
		if res["userName"] != "alice@example.com" || res["name"] != nil || res["id"] == nil {
			t.Fatalf("attributes=userName: %v", res)
		}
	})
}

func TestIfMatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		id := e.entra("POST", "/Users", user("dee@example.com", "Dee", "D")).must(t, http.StatusCreated).str("id")
		op := patchOp(map[string]any{"op": "replace", "path": "title", "value": "Lead"})
		e.entra("PATCH", "/Users/"+id, op, "If-Match", `W/"7"`).must(t, http.StatusPreconditionFailed)
		r := e.entra("PATCH", "/Users/"+id, op, "If-Match", `W/"1"`).must(t, http.StatusNoContent)
		if r.Header.Get("ETag") != `W/"2"` {
			t.Fatalf("patch with If-Match: ETag %q", r.Header.Get("ETag"))
		}
		// Asking for attributes gets the resource back.
		r = e.entra("PATCH", "/Users/"+id+"?attributes=title", patchOp(map[string]any{"op": "replace", "path": "title", "value": "Head"})).must(t, http.StatusOK)
		if r.str("title") != "Head" || r.str("userName") != "" || r.Header.Get("ETag") != `W/"3"` {
			t.Fatalf("patch with attributes=title: %s %s", r.Header.Get("ETag"), r.Raw)
		}
		e.entra("DELETE", "/Users/"+id, nil, "If-Match", `W/"1"`).must(t, http.StatusPreconditionFailed)
	})
}

func TestDiscovery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		spc := e.entra("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
		if spc.str("patch", "supported") != "true" || spc.str("etag", "supported") != "true" || spc.str("changePassword", "supported") != "false" ||
			spc.str("sort", "supported") != "false" || spc.str("bulk", "supported") != "false" || spc.str("filter", "maxResults") != "1000" {
			t.Fatalf("ServiceProviderConfig: %s", spc.Raw)
		}
		e.entra("GET", "/serviceConfiguration", nil).must(t, http.StatusOK)
		rt := e.entra("GET", "/ResourceTypes", nil).must(t, http.StatusOK)
		if !strings.Contains(rt.Raw, `"endpoint":"/Users"`) || !strings.Contains(rt.Raw, `"endpoint":"/Groups"`) {
			t.Fatalf("ResourceTypes: %s", rt.Raw)
		}
		schemas := e.entra("GET", "/Schemas", nil).must(t, http.StatusOK)
		for _, urn := range []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"} {
			if !strings.Contains(schemas.Raw, urn) {
				t.Fatalf("Schemas lacks %s", urn)
			}
		}
	})
}

func TestBadRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"not JSON", "POST", "/Users", `{"userName":`, 400},
			{"no userName", "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}}, 400},
			{"unknown id", "GET", "/Users/00000000-0000-0000-0000-000000000000", nil, 404},
			{"oversized body", "POST", "/Users", `{"userName":"` + strings.Repeat("x", 9<<20) + `"}`, 413},
		} {
			r := e.entra(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.str("schemas") == "" || r.str("status") != itoa(tc.status) {
				t.Errorf("%s: %d %s, want %d with a SCIM error body", tc.name, r.Status, truncate(r.Raw), tc.status)
			}
		}
	})
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// An IdP reading every user page by page gets each user once, with the
// total of the moment: pages after the first start where the one before
// ended (the page cache), and a write in between is seen at once.
func TestListPagesSequentially(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var want []string
		for i := range 23 {
			r := e.entra("POST", "/Users", user(fmt.Sprintf("u%02d@example.com", i), "U", fmt.Sprint(i))).must(t, http.StatusCreated)
			want = append(want, r.str("id"))
		}
		slices.Sort(want)
		read := func(count int) (ids []string, totals []string) {
			for start := 1; ; start += count {
				r := e.entra("GET", fmt.Sprintf("/Users?startIndex=%d&count=%d", start, count), nil).must(t, http.StatusOK)
				totals = append(totals, r.str("totalResults"))
				res, _ := r.Body["Resources"].([]any)
				if len(res) == 0 {
					return ids, totals
				}
				for _, x := range res {
					ids = append(ids, x.(map[string]any)["id"].(string))
				}
			}
		}
		for round := range 2 { // the second round is served from the cache
			got, totals := read(5)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: pages gave %v, want %v", round, got, want)
			}
			for _, tot := range totals {
				if tot != "23" {
					t.Fatalf("round %d: totals %v", round, totals)
				}
			}
		}
		// The same page twice, then a page that is not on a page boundary.
		a := e.entra("GET", "/Users?startIndex=11&count=5", nil).must(t, http.StatusOK).Raw
		b := e.entra("GET", "/Users?startIndex=11&count=5", nil).must(t, http.StatusOK).Raw
		if a != b {
			t.Fatalf("the same page twice differs:\n%s\n%s", a, b)
		}
		r := e.entra("GET", "/Users?startIndex=13&count=2", nil).must(t, http.StatusOK)
		if res := r.Body["Resources"].([]any); len(res) != 2 || res[0].(map[string]any)["id"] != want[12] || res[1].(map[string]any)["id"] != want[13] {
			t.Fatalf("startIndex 13: %s", r.Raw)
		}
		// A user deleted: a page read before at that startIndex moves by one,
		// and the total says so.
		e.entra("DELETE", "/Users/"+want[0], nil).must(t, http.StatusNoContent)
		r = e.entra("GET", "/Users?startIndex=11&count=5", nil).must(t, http.StatusOK)
		if res := r.Body["Resources"].([]any); r.str("totalResults") != "22" || len(res) != 5 || res[0].(map[string]any)["id"] != want[11] {
			t.Fatalf("startIndex 11 after a delete: %s (want %s first, of 22)", r.Raw, want[11])
		}
		// And one created: the next pages say so.
		created := e.entra("POST", "/Users", user("late@example.com", "L", "Ate")).must(t, http.StatusCreated).str("id")
		want = slices.DeleteFunc(want, func(id string) bool { return id == want[0] })
		want = append(want, created)
		slices.Sort(want)
		got, totals := read(5)
		if !slices.Equal(got, want) || totals[0] != "23" {
			t.Fatalf("after a delete and a create: %v (totals %v), want %v", got, totals, want)
		}
		// Past the end, and a count of 0.
		r = e.entra("GET", "/Users?startIndex=100&count=5", nil).must(t, http.StatusOK)
		if r.str("totalResults") != "23" {
			t.Fatalf("past the end: %s", r.Raw)
		}
		r = e.entra("GET", "/Users?count=0", nil).must(t, http.StatusOK)
		if r.str("totalResults") != "23" {
			t.Fatalf("count 0: %s", r.Raw)
		}
		// Another connection of the tenant lists its own users only.
		if r := e.do("GET", "acme", acmeOkta, "/Users?startIndex=1&count=5", nil).must(t, http.StatusOK); r.str("totalResults") != "0" {
			t.Fatalf("okta's list: %s", r.Raw)
		}
	})
}

// TestPostAnswersWhatGetReads: a POST that makes a card answers from
// what it wrote, without reading it back; the answer must be the GET's,
// byte for byte — for a new card and for one the POST adopts (which is
// read back).
func TestPostAnswersWhatGetReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.clock.Advance(1234567891 * time.Nanosecond)
		body := user("Nano.Second@example.com", "Nano", "Second", map[string]any{
			"externalId": "ext-ns", "title": "Timer",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Clocks"},
		})
		created := e.entra("POST", "/Users", body).must(t, http.StatusCreated)
		got := e.entra("GET", "/Users/"+created.str("id"), nil).must(t, http.StatusOK)
		if created.Raw != got.Raw || created.Header.Get("ETag") != got.Header.Get("ETag") {
			t.Fatalf("POST answered\n%s\nGET reads\n%s", created.Raw, got.Raw)
		}
		// Okta adopts the card Entra made: that answer is read back.
		e.clock.Advance(time.Nanosecond)
		adopted := e.do("POST", "acme", acmeOkta, "/Users", body).must(t, http.StatusCreated)
		again := e.do("GET", "acme", acmeOkta, "/Users/"+adopted.str("id"), nil).must(t, http.StatusOK)
		if adopted.str("id") != created.str("id") || adopted.Raw != again.Raw {
			t.Fatalf("adopting POST answered\n%s\nGET reads\n%s", adopted.Raw, again.Raw)
		}
	})
}

// TestConcurrentPatchesLoseNothing: twenty PATCHes of one user at once,
// each adding a phone number, all apply: each is read, patched and
// written in one transaction, so none writes over another's.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		id := e.entra("POST", "/Users", user("many.phones@example.com", "Many", "Phones")).must(t, http.StatusCreated).str("id")
		const n = 20
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- e.entra("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "add", "path": "phoneNumbers",
					"value": []any{map[string]any{"type": "work", "value": fmt.Sprintf("+1 555 0100 %02d", i)}}})).Status
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != http.StatusNoContent {
				t.Fatalf("a concurrent PATCH answered %d", c)
			}
		}
		got := e.entra("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		phones, _ := got.Body["phoneNumbers"].([]any)
		if len(phones) != n || got.Header.Get("ETag") != fmt.Sprintf(`W/"%d"`, n+1) {
			t.Fatalf("%d phone numbers at %s after %d PATCHes, want %d at W/\"%d\": %s", len(phones), got.Header.Get("ETag"), n, n, n+1, got.Raw)
		}
	})
}

// TestPatchUserNameStaysUnique: a PATCH may change userName, and keep it
// in any case; to another user's is 409 uniqueness, which writes nothing.
func TestPatchUserNameStaysUnique(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ann := e.entra("POST", "/Users", user("ann@example.com", "Ann", "A")).must(t, http.StatusCreated).str("id")
		e.entra("POST", "/Users", user("bob@example.com", "Bob", "B")).must(t, http.StatusCreated)
		rename := func(name string) response {
			return e.entra("PATCH", "/Users/"+ann, patchOp(map[string]any{"op": "replace", "path": "userName", "value": name}))
		}
		r := rename("BOB@example.com").must(t, http.StatusConflict)
		if r.str("scimType") != "uniqueness" {
			t.Fatalf("renamed to another user's userName: %s", r.Raw)
		}
		if got := e.entra("GET", "/Users/"+ann, nil).must(t, http.StatusOK); got.str("userName") != "ann@example.com" || got.Header.Get("ETag") != `W/"1"` {
			t.Fatalf("the refused PATCH wrote: %s", got.Raw)
		}
		rename("Ann@Example.com").must(t, http.StatusNoContent) // its own, in another case
		rename("ann.lee@example.com").must(t, http.StatusNoContent)
		if got := e.entra("GET", "/Users?filter="+url.QueryEscape(`userName eq "ann.lee@example.com"`), nil).must(t, http.StatusOK); got.str("totalResults") != "1" {
			t.Fatalf("the new userName finds: %s", got.Raw)
		}
		e.entra("POST", "/Users", user("ann@example.com", "Another", "Ann")).must(t, http.StatusCreated) // the old one is free
	})
}
