package storetest

// The conformance tests of what SCIM needs from a store: login names and
// raw records on claims, groups and their members, and the queries with
// their filters.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

const okta = "scim:okta"

func write(t *testing.T, s store.Store, ch store.Changes) {
	t.Helper()
	if err := tryWrite(s, ch); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func tryWrite(s store.Store, ch store.Changes) error {
	ctx := context.Background()
	return s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) })
}

// inTx runs fn in a transaction and fails the test on its error.
func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func scimClaim(cardID, login string, state store.ClaimState, raw string) store.Claim {
	c := claim(cardID, okta, "", state)
	c.Login = login
	if raw != "" {
		c.Raw = []byte(raw)
	}
	return c
}

func group(id, name string) store.Group {
	return store.Group{ID: id, Tenant: "acme", Source: okta, DisplayName: name, Created: t0, Updated: t0, Version: 1}
}

func members(groupID string, cardIDs ...string) []store.Membership {
	out := make([]store.Membership, len(cardIDs))
	for i, c := range cardIDs {
		out[i] = store.Membership{GroupID: groupID, CardID: c}
	}
	return out
}

func testClaimLoginRaw(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"), card("acme", "c2", "bob@example.com"))
	raw := `{"userName":"Ann@Example.com","name":{"givenName":"Ann"},"emails":[{"value":"ann@example.com","primary":true}]}`
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c1", "Ann@Example.com", store.Present, raw), scimClaim("c2", "", store.Present, "")}})
	claims, err := s.ListClaims(ctx, "acme", "c1")
	if err != nil || len(claims) != 1 {
		t.Fatalf("ListClaims = %v, %v", claims, err)
	}
	if claims[0].Login != "Ann@Example.com" || string(claims[0].Raw) != raw {
		t.Fatalf("claim came back with login %q raw %s", claims[0].Login, claims[0].Raw)
	}
	claims, _ = s.ListClaims(ctx, "acme", "c2")
	if len(claims) != 1 || claims[0].Login != "" || claims[0].Raw != nil {
		t.Fatalf("claim without login and raw came back as %+v (raw %q)", claims, claims[0].Raw)
	}
	// The upsert replaces login and raw, and a nil raw clears it.
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c1", "ann.lee@example.com", store.Present, "")}})
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		m, err := tx.Claims(ctx, "acme", []string{"c1"})
		if err != nil {
			return err
		}
		if c := m["c1"]; len(c) != 1 || c[0].Login != "ann.lee@example.com" || c[0].Raw != nil {
			return fmt.Errorf("after update: %+v", c)
		}
		return nil
	})
	// A raw record that is not JSON is refused: filters could not read it.
	if err := tryWrite(s, store.Changes{Claims: []store.Claim{scimClaim("c2", "bob", store.Present, `{"userName":`)}}); err == nil {
		t.Fatal("a claim with a raw record that is not JSON was stored")
	}
}

func testLoginUnique(t *testing.T, s store.Backend) {
	put(t, s, card("acme", "c1", "ann@example.com"), card("acme", "c2", "ann2@example.com"), card("acme", "c3", "cy@example.com"))
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c1", "Ann", store.Present, "")}})

	// Another live claim of the source with the login in another case.
	for _, state := range []store.ClaimState{store.Present, store.Deactivated} {
		err := tryWrite(s, store.Changes{Claims: []store.Claim{scimClaim("c2", "ANN", state, "")}})
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("second %s claim with login ANN: err = %v, want ErrAlreadyExists", state, err)
		}
	}
	// Another source, or a withdrawn claim, may hold it.
	other := scimClaim("c2", "ann", store.Present, "")
	other.Source = "scim:entra"
	write(t, s, store.Changes{Claims: []store.Claim{other, scimClaim("c3", "ann", store.Withdrawn, "")}})

	lookup := func(logins ...string) map[string]string {
		var got map[string]string
		inTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			got, err = tx.LoginCardIDs(ctx, "acme", okta, logins)
			return err
		})
		return got
	}
	if got := lookup("aNN", "nobody", ""); !reflect.DeepEqual(got, map[string]string{"ann": "c1"}) {
		t.Fatalf("LoginCardIDs = %v, want ann → c1", got)
	}

	// Withdrawing the first claim frees the login.
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c1", "Ann", store.Withdrawn, "")}})
	if got := lookup("ann"); len(got) != 0 {
		t.Fatalf("LoginCardIDs after withdrawal = %v, want none", got)
	}
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c2", "ANN", store.Present, "")}})
	if got := lookup("Ann"); !reflect.DeepEqual(got, map[string]string{"ann": "c2"}) {
		t.Fatalf("LoginCardIDs after the login moved = %v, want ann → c2", got)
	}
	// Re-activating the withdrawn claim would take the login twice.
	if err := tryWrite(s, store.Changes{Claims: []store.Claim{scimClaim("c1", "Ann", store.Present, "")}}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("reviving a claim whose login is taken: err = %v, want ErrAlreadyExists", err)
	}
}

func testGroups(t *testing.T, s store.Backend) {
	ctx := context.Background()
	eng := group("g1", "Engineering")
	eng.ExternalID = "X1"
	eng.Raw = []byte(`{"displayName":"Engineering","externalId":"X1"}`)
	write(t, s, store.Changes{Groups: []store.Group{eng, group("g2", "Sales")}})

	got, err := s.GetGroup(ctx, "acme", okta, "g1")
	if err != nil || !reflect.DeepEqual(got, eng) {
		t.Fatalf("GetGroup = %+v, %v; want %+v", got, err, eng)
	}
	for _, where := range [][3]string{{"globex", okta, "g1"}, {"acme", "scim:entra", "g1"}, {"acme", okta, "g404"}} {
		if _, err := s.GetGroup(ctx, where[0], where[1], where[2]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetGroup%v: err = %v, want ErrNotFound", where, err)
		}
	}

	// Updates go from the version read to the next one.
	next := eng
	next.DisplayName, next.Version, next.Updated, next.Raw = "R&D", 2, t0.Add(time.Hour), nil
	write(t, s, store.Changes{Groups: []store.Group{next}})
	for _, stale := range []int64{1, 2, 4} {
		g := next
		g.Version = stale
		if err := tryWrite(s, store.Changes{Groups: []store.Group{g}}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("group write at version %d over version 2: err = %v, want ErrConflict", stale, err)
		}
	}
	// A group id of another tenant is no group to update.
	theirs := next
	theirs.Tenant, theirs.Version = "globex", 3
	if err := tryWrite(s, store.Changes{Groups: []store.Group{theirs}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("updating a group of another tenant: err = %v, want ErrConflict", err)
	}
	got, _ = s.GetGroup(ctx, "acme", okta, "g1")
	if !reflect.DeepEqual(got, next) {
		t.Fatalf("after update: %+v, want %+v", got, next)
	}

	// Display names are unique per source, ignoring case.
	if err := tryWrite(s, store.Changes{Groups: []store.Group{group("g3", "SALES")}}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second group named SALES: err = %v, want ErrAlreadyExists", err)
	}
	renamed := group("g2", "r&d")
	renamed.Version = 2
	if err := tryWrite(s, store.Changes{Groups: []store.Group{renamed}}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("renaming a group to another's name: err = %v, want ErrAlreadyExists", err)
	}
	elsewhere := group("g3", "Sales")
	elsewhere.Source = "scim:entra"
	write(t, s, store.Changes{Groups: []store.Group{elsewhere}})

	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		byID, err := tx.GroupsByID(ctx, "acme", okta, []string{"g1", "g2", "g3", "g404"})
		if err != nil {
			return err
		}
		if len(byID) != 2 || byID["g1"].DisplayName != "R&D" || byID["g2"].Version != 1 {
			return fmt.Errorf("GroupsByID = %+v", byID)
		}
		byName, err := tx.GroupIDsByName(ctx, "acme", okta, []string{"r&D", "SALES", "Nope"})
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(byName, map[string]string{"r&d": "g1", "sales": "g2"}) {
			return fmt.Errorf("GroupIDsByName = %v", byName)
		}
		return nil
	})

	// Deleting frees the name.
	write(t, s, store.Changes{DeleteGroups: []string{"g2", "g404"}})
	if _, err := s.GetGroup(ctx, "acme", okta, "g2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted group: err = %v", err)
	}
	write(t, s, store.Changes{Groups: []store.Group{group("g4", "sales")}})
	if _, err := s.GetGroup(ctx, "acme", "scim:entra", "g3"); err != nil {
		t.Fatalf("the other source's group: %v", err)
	}
}

func testGroupQueries(t *testing.T, s store.Backend) {
	ctx := context.Background()
	var gs []store.Group
	for i := range 25 {
		gs = append(gs, group(fmt.Sprintf("g%02d", i), fmt.Sprintf("Group %d", i)))
	}
	other := group("h1", "Elsewhere")
	other.Source = "scim:entra"
	write(t, s, store.Changes{Groups: append(gs, other)})
	var seen []string
	for offset := 0; offset < 30; offset += 10 {
		page, total, err := s.QueryGroups(ctx, store.GroupQuery{Tenant: "acme", Source: okta, Offset: offset, Limit: 10})
		if err != nil || total != 25 {
			t.Fatalf("QueryGroups at %d: total %d, %v", offset, total, err)
		}
		for _, g := range page {
			seen = append(seen, g.ID)
		}
	}
	if len(seen) != 25 || !slices.IsSorted(seen) || seen[0] != "g00" {
		t.Fatalf("pages gave %v", seen)
	}
	page, total, err := s.QueryGroups(ctx, store.GroupQuery{Tenant: "acme", Source: okta, Limit: 0})
	if err != nil || total != 25 || len(page) != 0 {
		t.Fatalf("limit 0: %d groups, total %d, %v", len(page), total, err)
	}
}

func testMembership(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "a@example.com"), card("acme", "c2", "b@example.com"), card("acme", "c3", "c@example.com"))
	other := group("g9", "Other source")
	other.Source = "scim:entra"
	write(t, s, store.Changes{
		Groups:     []store.Group{group("g1", "Eng"), group("g2", "berlin"), other},
		AddMembers: slices.Concat(members("g1", "c1", "c2"), members("g2", "c2"), members("g9", "c1")),
	})
	memberIDs := func(g string) []string {
		var ids []string
		inTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			ids, err = tx.GroupMemberIDs(ctx, g)
			return err
		})
		return ids
	}
	if got := memberIDs("g1"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("g1 members = %v", got)
	}
	// Adding a member again, removing a non-member: no error, no change.
	write(t, s, store.Changes{AddMembers: members("g1", "c1"), RemoveMembers: members("g2", "c3")})
	if got := memberIDs("g1"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("g1 members after a repeated add = %v", got)
	}
	// Removed and added in one Write: it stays.
	write(t, s, store.Changes{RemoveMembers: members("g1", "c1", "c2"), AddMembers: members("g1", "c2", "c3")})
	if got := memberIDs("g1"); !slices.Equal(got, []string{"c2", "c3"}) {
		t.Fatalf("g1 members after remove c1,c2 + add c2,c3 = %v", got)
	}

	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		names, err := tx.GroupNamesOfCards(ctx, "acme", okta, []string{"c1", "c2", "c3"})
		if err != nil {
			return err
		}
		// Sorted by bytes: "Eng" before "berlin"; c1 is only in another source's group.
		want := map[string][]string{"c2": {"Eng", "berlin"}, "c3": {"Eng"}}
		if !reflect.DeepEqual(names, want) {
			return fmt.Errorf("GroupNamesOfCards = %v, want %v", names, want)
		}
		return nil
	})
	// A query's rows carry the card's groups of the source, by display name
	// (bytes: "Eng" before "berlin") then id, WithGroups.
	write(t, s, store.Changes{Claims: []store.Claim{scimClaim("c1", "a", store.Present, ""), scimClaim("c2", "b", store.Present, ""),
		scimClaim("c3", "c", store.Present, "")}})
	rows, _, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 10, WithGroups: true})
	if err != nil || len(rows) != 3 {
		t.Fatalf("QueryClaims WithGroups: %d rows, %v", len(rows), err)
	}
	wantGroups := map[string][]string{"c1": nil, "c2": {"g1 Eng", "g2 berlin"}, "c3": {"g1 Eng"}}
	for _, r := range rows {
		var got []string
		for _, g := range r.Groups {
			if g.Tenant != "acme" || g.Source != okta {
				t.Fatalf("card %s: group %+v", r.Card.ID, g)
			}
			got = append(got, g.ID+" "+g.DisplayName)
		}
		if !slices.Equal(got, wantGroups[r.Card.ID]) {
			t.Fatalf("card %s: groups %v, want %v", r.Card.ID, got, wantGroups[r.Card.ID])
		}
	}
	// One card by id, without a total (the statement a SCIM GET makes).
	one, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 1, NoTotal: true, WithGroups: true,
		Filter: &store.Filter{Op: "eq", Attr: store.AttrCardID, Value: "c2"}})
	if err != nil || total != -1 || len(one) != 1 || one[0].Card.ID != "c2" || len(one[0].Groups) != 2 || one[0].Groups[0].DisplayName != "Eng" {
		t.Fatalf("c2 by id with groups: %+v, total %d, %v", one, total, err)
	}
	if rows, _, _ := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 10}); rows[1].Groups != nil {
		t.Fatalf("groups without WithGroups: %+v", rows[1].Groups)
	}

	// A new card, its claim, a new group and the membership, in one Write.
	c4 := card("acme", "c4", "d@example.com")
	write(t, s, store.Changes{Cards: []store.Card{c4}, Claims: []store.Claim{scimClaim("c4", "dee", store.Present, "")},
		Groups: []store.Group{group("g3", "New")}, AddMembers: members("g3", "c4"),
		Events: []store.Event{{Tenant: "acme", CardID: "c4", Type: "card.created", At: t0, Data: []byte(`{}`)}}})
	if got := memberIDs("g3"); !slices.Equal(got, []string{"c4"}) {
		t.Fatalf("g3 members = %v", got)
	}

	// Deleting a group takes its memberships along, whatever else the
	// Write removes.
	write(t, s, store.Changes{DeleteGroups: []string{"g1"}, RemoveMembers: members("g1", "c2")})
	if got := memberIDs("g1"); len(got) != 0 {
		t.Fatalf("members of a deleted group: %v", got)
	}
	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		names, err := tx.GroupNamesOfCards(ctx, "acme", okta, []string{"c2", "c3"})
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(names, map[string][]string{"c2": {"berlin"}}) {
			return fmt.Errorf("GroupNamesOfCards after delete = %v", names)
		}
		return nil
	})

	// A group version conflict writes nothing of its Write.
	stale := group("g2", "berlin")
	stale.Version = 5
	err = tryWrite(s, store.Changes{Cards: []store.Card{card("acme", "c5", "e@example.com")}, Groups: []store.Group{stale}, AddMembers: members("g2", "c3")})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale group: err = %v, want ErrConflict", err)
	}
	if _, err := s.GetCard(ctx, "acme", "c5"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("card of a conflicting write: %v", err)
	}
	if got := memberIDs("g2"); !slices.Equal(got, []string{"c2"}) {
		t.Fatalf("g2 members after a conflicting write = %v", got)
	}
}

// testLargeGroup: a group of 10,000 members is built and halved by adding
// and removing rows in one Write each.
func testLargeGroup(t *testing.T, s store.Backend) {
	ctx := context.Background()
	const n = 10000
	cards := make([]store.Card, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("c%05d", i)
		cards[i] = card("acme", ids[i], fmt.Sprintf("u%05d@example.com", i))
	}
	put(t, s, cards...)
	write(t, s, store.Changes{Groups: []store.Group{group("big", "Everyone")}})

	// Shuffled, so that the store cannot rely on the caller's order.
	shuffled := slices.Clone(ids)
	for i := range shuffled {
		j := (i * 7919) % n
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	start := time.Now()
	bumped := group("big", "Everyone")
	bumped.Version = 2
	write(t, s, store.Changes{Groups: []store.Group{bumped}, AddMembers: members("big", shuffled...)})
	t.Logf("adding %d members in one Write: %v", n, time.Since(start))

	var odd []string
	for i, id := range ids {
		if i%2 == 1 {
			odd = append(odd, id)
		}
	}
	start = time.Now()
	write(t, s, store.Changes{RemoveMembers: members("big", odd...)})
	t.Logf("removing %d members in one Write: %v", len(odd), time.Since(start))

	inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		all, err := tx.GroupMemberIDs(ctx, "big")
		if err != nil {
			return err
		}
		if len(all) != n/2 {
			return fmt.Errorf("%d members left, want %d", len(all), n/2)
		}
		return nil
	})
	var paged []string
	after := ""
	for {
		page, err := s.GroupMembers(ctx, "big", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 1000 {
			t.Fatalf("page of %d members, limit 1000", len(page))
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	var even []string
	for i, id := range ids {
		if i%2 == 0 {
			even = append(even, id)
		}
	}
	if !slices.Equal(paged, even) {
		t.Fatalf("paging gave %d members (first %v), want the %d even ones in order", len(paged), paged[:min(3, len(paged))], len(even))
	}
	// Deleting the group removes its 5,000 memberships.
	write(t, s, store.Changes{DeleteGroups: []string{"big"}})
	if page, _ := s.GroupMembers(ctx, "big", "", 10); len(page) != 0 {
		t.Fatalf("members of a deleted group: %v", page)
	}
}

func testQueryClaims(t *testing.T, s store.Backend) {
	ctx := context.Background()
	const n = 25
	ch := store.Changes{}
	for i := range n {
		id := fmt.Sprintf("c%02d", i)
		ch.Cards = append(ch.Cards, card("acme", id, id+"@example.com"))
		state := store.Present
		switch i % 5 {
		case 1:
			state = store.Deactivated
		case 2:
			state = store.Withdrawn
		}
		ch.Claims = append(ch.Claims, scimClaim(id, "user"+id, state, `{"userName":"user`+id+`"}`))
		if i%3 == 0 {
			ch.Claims = append(ch.Claims, claim(id, "file:hr", "E"+id, store.Present))
		}
	}
	ch.Cards = append(ch.Cards, card("globex", "x1", "x1@example.com"))
	x := scimClaim("x1", "userc00", store.Present, "")
	x.Tenant = "globex"
	ch.Claims = append(ch.Claims, x)
	write(t, s, ch)

	var live []string
	for i := range n {
		if i%5 != 2 {
			live = append(live, fmt.Sprintf("c%02d", i))
		}
	}
	var seen []string
	for offset := 0; offset < len(live)+7; offset += 7 {
		page, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Offset: offset, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if total != len(live) {
			t.Fatalf("total = %d, want %d", total, len(live))
		}
		for _, cc := range page {
			if cc.Claim.CardID != cc.Card.ID || cc.Claim.Source != okta || cc.Card.Tenant != "acme" || cc.Card.Email != cc.Card.ID+"@example.com" ||
				cc.Claim.Login != "user"+cc.Card.ID || string(cc.Claim.Raw) != `{"userName":"user`+cc.Card.ID+`"}` {
				t.Fatalf("row %+v", cc)
			}
			seen = append(seen, cc.Claim.CardID)
		}
	}
	if !slices.Equal(seen, live) {
		t.Fatalf("pages gave %v, want %v", seen, live)
	}
	page, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 0})
	if err != nil || total != len(live) || len(page) != 0 {
		t.Fatalf("limit 0: %d rows, total %d, %v", len(page), total, err)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Offset: 100, Limit: 10})
	if err != nil || total != len(live) || len(page) != 0 {
		t.Fatalf("offset past the end: %d rows, total %d, %v", len(page), total, err)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 5,
		Filter: &store.Filter{Op: "eq", Attr: store.AttrLogin, Value: "USERc03"}})
	if err != nil || total != 1 || len(page) != 1 || page[0].Card.ID != "c03" {
		t.Fatalf("userName eq: %+v, total %d, %v", page, total, err)
	}

	// Keyset pages (After) give what offset pages give, with the total of
	// every match; NoTotal leaves the total out (-1).
	seen = nil
	after := ""
	for {
		page, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, After: after, Limit: 7})
		if err != nil || total != len(live) {
			t.Fatalf("after %q: total %d, %v", after, total, err)
		}
		if len(page) == 0 {
			break
		}
		for _, cc := range page {
			seen = append(seen, cc.Card.ID)
		}
		after = page[len(page)-1].Card.ID
	}
	if !slices.Equal(seen, live) {
		t.Fatalf("keyset pages gave %v, want %v", seen, live)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, After: "c05", Offset: 2, Limit: 3, NoTotal: true})
	if err != nil || total != -1 || len(page) != 3 || page[0].Card.ID != "c09" || page[2].Card.ID != "c11" {
		t.Fatalf("after c05, offset 2, no total: %v, total %d, %v", page, total, err)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Limit: 1, NoTotal: true,
		Filter: &store.Filter{Op: "eq", Attr: store.AttrCardID, Value: "c07"}})
	if err != nil || total != -1 || len(page) != 0 {
		t.Fatalf("a withdrawn claim by id: %v, total %d, %v", page, total, err)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "globex", Source: okta, Limit: 1, NoTotal: true,
		Filter: &store.Filter{Op: "eq", Attr: store.AttrCardID, Value: "c03"}})
	if err != nil || len(page) != 0 {
		t.Fatalf("another tenant's card by id: %v, %v", page, err)
	}
	page, total, err = s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, After: "c24", Limit: 5})
	if err != nil || total != len(live) || len(page) != 0 {
		t.Fatalf("after the last: %v, total %d, %v", page, total, err)
	}
}

// filterCase is one filter and the ids it must select, or an error.
type filterCase struct {
	name string
	f    store.Filter
	want []string
	err  bool
}

func eq(attr string, v any) store.Filter { return store.Filter{Op: "eq", Attr: attr, Value: v} }
func raw(op string, v any, path ...string) store.Filter {
	return store.Filter{Op: op, Attr: store.AttrRaw, Path: path, Value: v}
}
func elem(op string, v any, path ...string) store.Filter {
	return store.Filter{Op: op, Attr: store.AttrElem, Path: path, Value: v}
}
func fold(f store.Filter) store.Filter { f.Fold = true; return f }
func and(fs ...store.Filter) store.Filter {
	return store.Filter{Op: "and", Sub: fs}
}
func or(fs ...store.Filter) store.Filter { return store.Filter{Op: "or", Sub: fs} }
func not(f store.Filter) store.Filter    { return store.Filter{Op: "not", Sub: []store.Filter{f}} }
func anyOf(inner store.Filter, path ...string) store.Filter {
	return store.Filter{Op: "any", Path: path, Sub: []store.Filter{inner}}
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// scimUsers are realistic SCIM records, one per card, of one connection.
var scimUsers = []struct {
	id, login string
	state     store.ClaimState
	raw       string
}{
	{"c1", "Ann.Lee@Example.com", store.Present, `{"userName":"Ann.Lee@Example.com","displayName":"Ann Lee","title":"Engineer",
		"name":{"givenName":"Ann","familyName":"Lee"},
		"emails":[{"type":"work","value":"ann.lee@example.com","primary":true},{"type":"home","value":"ann@home.example"}],
		"addresses":[{"type":"work","streets":["Main St 1","Floor 2"]}],
		"active":true,"loginCount":7,"nickName":"","phoneNumbers":[],"tags":["blue"],
		"` + enterprise + `":{"employeeNumber":"42","department":"R&D"}}`},
	{"c2", "bob", store.Deactivated, `{"userName":"bob","displayName":"Bob 100%_Real","title":"Sales Lead",
		"name":{"givenName":"Bob","familyName":"O'Brien"},
		"emails":[{"type":"work","value":"bob@x.example","primary":false}],
		"active":false,"loginCount":2.5,"nickName":"Bobby",
		"` + enterprise + `":{"employeeNumber":"7","department":"Sales"}}`},
	{"c3", "Cy_[*?]", store.Present, `{"userName":"Cy_[*?]","displayName":"cy \\ [*?] back","title":null,
		"name":{"givenName":"cy"},
		"emails":[{"type":"home","value":"cy@x.example"}],
		"active":true,"loginCount":10,"tags":["a","B"],"primary":"true"}`},
	{"c4", "", store.Present, ``},
	// Never seen: withdrawn, and another connection's.
	{"c5", "ghost", store.Withdrawn, `{"userName":"ghost","displayName":"Ann Lee","active":true}`},
}

func testClaimFilters(t *testing.T, s store.Backend) {
	ctx := context.Background()
	ch := store.Changes{}
	for i, u := range append(scimUsers, scimUsers[0]) {
		id := u.id
		if i == len(scimUsers) {
			id = "c6" // the same record, of another connection
		}
		c := card("acme", id, id+"@example.com")
		c.CreatedAt = t0.Add(time.Duration(i) * time.Hour)
		c.UpdatedAt = c.CreatedAt.Add(time.Duration(10-i) * time.Minute)
		ch.Cards = append(ch.Cards, c)
		cl := scimClaim(id, u.login, u.state, u.raw)
		cl.ExternalID = "E" + strings.TrimPrefix(u.id, "c")
		if id == "c6" {
			cl.Source = "scim:entra"
		}
		ch.Claims = append(ch.Claims, cl)
	}
	write(t, s, ch)

	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	all := []string{"c1", "c2", "c3", "c4"}
	cases := []filterCase{
		// Columns.
		{"userName eq, any case", eq(store.AttrLogin, "ANN.LEE@example.COM"), []string{"c1"}, false},
		{"userName sw", store.Filter{Op: "sw", Attr: store.AttrLogin, Value: "B"}, []string{"c2"}, false},
		{"userName co with LIKE and GLOB metacharacters", store.Filter{Op: "co", Attr: store.AttrLogin, Value: "_[*?"}, []string{"c3"}, false},
		{"userName co _ is literal", store.Filter{Op: "co", Attr: store.AttrLogin, Value: "_"}, []string{"c3"}, false},
		{"userName pr", store.Filter{Op: "pr", Attr: store.AttrLogin}, []string{"c1", "c2", "c3"}, false},
		{"userName injection", eq(store.AttrLogin, "' OR '1'='1"), nil, false},
		{"id eq", eq(store.AttrCardID, "c2"), []string{"c2"}, false},
		{"id ne", store.Filter{Op: "ne", Attr: store.AttrCardID, Value: "c2"}, []string{"c1", "c3", "c4"}, false},
		{"id gt", store.Filter{Op: "gt", Attr: store.AttrCardID, Value: "c2"}, []string{"c3", "c4"}, false},
		{"id le", store.Filter{Op: "le", Attr: store.AttrCardID, Value: "c2"}, []string{"c1", "c2"}, false},
		{"id eq is case-exact", eq(store.AttrCardID, "C2"), nil, false},
		{"externalId eq", eq(store.AttrExternalID, "E1"), []string{"c1"}, false},
		{"externalId sw, case-exact", store.Filter{Op: "sw", Attr: store.AttrExternalID, Value: "e"}, nil, false},
		{"externalId sw, folded", fold(store.Filter{Op: "sw", Attr: store.AttrExternalID, Value: "e"}), all, false},
		{"externalId ew", store.Filter{Op: "ew", Attr: store.AttrExternalID, Value: "3"}, []string{"c3"}, false},
		{"active eq true", eq(store.AttrActive, true), []string{"c1", "c3", "c4"}, false},
		{"active eq false", eq(store.AttrActive, false), []string{"c2"}, false},
		{"active ne true", store.Filter{Op: "ne", Attr: store.AttrActive, Value: true}, []string{"c2"}, false},
		{"active pr", store.Filter{Op: "pr", Attr: store.AttrActive}, all, false},
		{"created gt", store.Filter{Op: "gt", Attr: store.AttrCreated, Value: at(1)}, []string{"c3", "c4"}, false},
		{"created ge", store.Filter{Op: "ge", Attr: store.AttrCreated, Value: at(1)}, []string{"c2", "c3", "c4"}, false},
		{"created eq, to the microsecond", eq(store.AttrCreated, at(2)), []string{"c3"}, false},
		{"created eq, a microsecond off", eq(store.AttrCreated, at(2).Add(time.Microsecond)), nil, false},
		{"updated lt", store.Filter{Op: "lt", Attr: store.AttrUpdated, Value: at(1)}, []string{"c1"}, false},
		{"updated le", store.Filter{Op: "le", Attr: store.AttrUpdated, Value: at(1).Add(9 * time.Minute)}, []string{"c1", "c2"}, false},

		// Strings in the raw record.
		{"givenName eq", raw("eq", "Ann", "name", "givenName"), []string{"c1"}, false},
		{"givenName eq, case-exact", raw("eq", "ann", "name", "givenName"), nil, false},
		{"givenName eq, folded", fold(raw("eq", "ann", "name", "givenName")), []string{"c1"}, false},
		{"givenName ne: absent counts as not equal", raw("ne", "Ann", "name", "givenName"), []string{"c2", "c3", "c4"}, false},
		{"givenName ne, folded", fold(raw("ne", "CY", "name", "givenName")), []string{"c1", "c2", "c4"}, false},
		{"familyName with a quote", raw("eq", "O'Brien", "name", "familyName"), []string{"c2"}, false},
		{"displayName co %: literal", raw("co", "%", "displayName"), []string{"c2"}, false},
		{"displayName co _: literal", raw("co", "_", "displayName"), []string{"c2"}, false},
		{"displayName co 0%_r, folded", fold(raw("co", "0%_r", "displayName")), []string{"c2"}, false},
		{"displayName co backslash", raw("co", `\`, "displayName"), []string{"c3"}, false},
		{"displayName co [*?]: literal", raw("co", "[*?]", "displayName"), []string{"c3"}, false},
		{"displayName co *: literal", raw("co", "*", "displayName"), []string{"c3"}, false},
		{"displayName sw", raw("sw", "Ann", "displayName"), []string{"c1"}, false},
		{"displayName sw, case-exact", raw("sw", "ann", "displayName"), nil, false},
		{"displayName ew, case-exact", raw("ew", "real", "displayName"), nil, false},
		{"displayName ew, folded", fold(raw("ew", "REAL", "displayName")), []string{"c2"}, false},
		{"displayName gt, by bytes", raw("gt", "C", "displayName"), []string{"c3"}, false},
		{"displayName lt", raw("lt", "B", "displayName"), []string{"c1"}, false},
		{"displayName ge, folded", fold(raw("ge", "b", "displayName")), []string{"c2", "c3"}, false},
		{"displayName eq injection", raw("eq", "x' OR '1'='1", "displayName"), nil, false},
		{"displayName eq injection, folded", fold(raw("eq", `x") OR 1=1 --`, "displayName")), nil, false},
		{"title eq null is not present", raw("eq", nil, "title"), []string{"c3", "c4"}, false},
		{"title ne null is present", raw("ne", nil, "title"), []string{"c1", "c2"}, false},
		{"enterprise employeeNumber", raw("eq", "42", enterprise, "employeeNumber"), []string{"c1"}, false},
		{"enterprise department, folded", fold(raw("eq", "r&d", enterprise, "department")), []string{"c1"}, false},
		{"enterprise department pr", raw("pr", nil, enterprise, "department"), []string{"c1", "c2"}, false},

		// Types.
		{"active eq true in raw", raw("eq", true, "active"), []string{"c1", "c3"}, false},
		{"active eq false in raw", raw("eq", false, "active"), []string{"c2"}, false},
		{"active ne true in raw: absent counts", raw("ne", true, "active"), []string{"c2", "c4"}, false},
		{"a string \"true\" is no boolean", raw("eq", true, "primary"), nil, false},
		{"a string \"true\" equals the string", raw("eq", "true", "primary"), []string{"c3"}, false},
		{"a boolean is no string", raw("eq", "true", "active"), nil, false},
		{"loginCount gt int", raw("gt", int64(5), "loginCount"), []string{"c1", "c3"}, false},
		{"loginCount lt float", raw("lt", 3.0, "loginCount"), []string{"c2"}, false},
		{"loginCount eq", raw("eq", int64(7), "loginCount"), []string{"c1"}, false},
		{"loginCount eq 2.5", raw("eq", 2.5, "loginCount"), []string{"c2"}, false},
		{"loginCount ne", raw("ne", 7.0, "loginCount"), []string{"c2", "c3", "c4"}, false},
		{"a number is no string", raw("eq", "7", "loginCount"), nil, false},
		{"a string is no number", raw("gt", int64(0), "userName"), nil, false},

		// Presence.
		{"nickName pr: empty string is absent", raw("pr", nil, "nickName"), []string{"c2"}, false},
		{"phoneNumbers pr: empty array is absent", raw("pr", nil, "phoneNumbers"), nil, false},
		{"emails pr", raw("pr", nil, "emails"), []string{"c1", "c2", "c3"}, false},
		{"name pr (an object)", raw("pr", nil, "name"), []string{"c1", "c2", "c3"}, false},
		{"title pr: null is absent", raw("pr", nil, "title"), []string{"c1", "c2"}, false},
		{"loginCount pr", raw("pr", nil, "loginCount"), []string{"c1", "c2", "c3"}, false},
		{"active pr, false is present", raw("pr", nil, "active"), []string{"c1", "c2", "c3"}, false},

		// Arrays.
		{"emails[type eq work and value co @x.]", anyOf(and(elem("eq", "work", "type"), elem("co", "@x.", "value")), "emails"), []string{"c2"}, false},
		{"emails[type eq work and value co example]", anyOf(and(elem("eq", "work", "type"), elem("co", "example", "value")), "emails"), []string{"c1", "c2"}, false},
		{"emails[type eq home and value co lee]: one element must hold both", anyOf(and(elem("eq", "home", "type"), elem("co", "lee", "value")), "emails"), nil, false},
		{"emails[primary eq true]", anyOf(elem("eq", true, "primary"), "emails"), []string{"c1"}, false},
		{"emails[primary ne true]", anyOf(elem("ne", true, "primary"), "emails"), []string{"c1", "c2", "c3"}, false},
		{"emails[value pr]", anyOf(elem("pr", nil, "value"), "emails"), []string{"c1", "c2", "c3"}, false},
		{"emails.value ew, folded", anyOf(fold(elem("ew", "HOME.EXAMPLE", "value")), "emails"), []string{"c1"}, false},
		{"tags[elem eq b]: multi-valued strings, case-exact", anyOf(elem("eq", "b"), "tags"), nil, false},
		{"tags[elem eq b], folded", anyOf(fold(elem("eq", "b")), "tags"), []string{"c3"}, false},
		{"tags[elem pr]", anyOf(elem("pr", nil), "tags"), []string{"c1", "c3"}, false},
		// emails.value eq and emails[… and value eq …]: found through
		// claim_emails (migration 00046), with the same answers.
		{"emails.value eq, folded, a second email", anyOf(fold(elem("eq", "ANN@HOME.EXAMPLE", "value")), "emails"), []string{"c1"}, false},
		{"emails.value eq, case-exact", anyOf(elem("eq", "ann.lee@example.com", "value"), "emails"), []string{"c1"}, false},
		{"emails.value eq, case-exact, other case", anyOf(elem("eq", "Ann.Lee@example.com", "value"), "emails"), nil, false},
		{"emails[type eq work and value eq], folded", anyOf(and(elem("eq", "work", "type"), fold(elem("eq", "Bob@X.example", "value"))), "emails"), []string{"c2"}, false},
		{"emails[type eq work and value eq]: a home email", anyOf(and(elem("eq", "work", "type"), fold(elem("eq", "cy@x.example", "value"))), "emails"), nil, false},
		{"emails[type eq home and value eq]", anyOf(and(elem("eq", "home", "type"), fold(elem("eq", "cy@x.example", "value"))), "emails"), []string{"c3"}, false},
		{"emails.value eq, no one's", anyOf(fold(elem("eq", "nobody@x.example", "value")), "emails"), nil, false},
		{"emails.value eq and active", and(anyOf(fold(elem("eq", "bob@x.example", "value")), "emails"), eq(store.AttrActive, true)), nil, false},
		{"not emails.value eq", not(anyOf(fold(elem("eq", "bob@x.example", "value")), "emails")), []string{"c1", "c3", "c4"}, false},
		{"emails.value eq or emails.value eq", or(anyOf(fold(elem("eq", "bob@x.example", "value")), "emails"),
			anyOf(fold(elem("eq", "cy@x.example", "value")), "emails")), []string{"c2", "c3"}, false},
		{"not emails[type eq work]", not(anyOf(elem("eq", "work", "type"), "emails")), []string{"c3", "c4"}, false},
		{"any over an object matches nothing", anyOf(elem("pr", nil), "name"), nil, false},
		{"any over a string matches nothing", anyOf(elem("pr", nil), "userName"), nil, false},
		{"an element path into a string element is absent", anyOf(elem("pr", nil, "value"), "tags"), nil, false},
		{"nested any", anyOf(and(elem("eq", "work", "type"),
			store.Filter{Op: "any", Attr: store.AttrElem, Path: []string{"streets"}, Sub: []store.Filter{elem("eq", "Floor 2")}}), "addresses"), []string{"c1"}, false},
		{"two anys side by side", and(anyOf(elem("eq", "home", "type"), "emails"), anyOf(elem("eq", "blue"), "tags")), []string{"c1"}, false},
		{"raw inside any", anyOf(and(elem("eq", "work", "type"), raw("eq", "Bob", "name", "givenName")), "emails"), []string{"c2"}, false},

		// Logic.
		{"or, and, not nested", or(eq(store.AttrLogin, "bob"), and(eq(store.AttrActive, true), not(raw("eq", "cy", "name", "givenName")))), []string{"c1", "c2", "c4"}, false},
		{"not of a comparison of an absent attribute", not(raw("eq", "Ann Lee", "displayName")), []string{"c2", "c3", "c4"}, false},
		{"not not", not(not(eq(store.AttrActive, false))), []string{"c2"}, false},
		{"and of three", and(raw("pr", nil, "emails"), eq(store.AttrActive, true), raw("gt", int64(8), "loginCount")), []string{"c3"}, false},
		{"or of column and raw", or(eq(store.AttrCardID, "c4"), raw("eq", "Sales", enterprise, "department")), []string{"c2", "c4"}, false},
		{"or with created", or(store.Filter{Op: "lt", Attr: store.AttrCreated, Value: at(0.5)}, eq(store.AttrLogin, "Cy_[*?]")), []string{"c1", "c3"}, false},

		// Errors.
		{"injection in a path key", raw("eq", "x", `name"."givenName`), nil, true},
		{"quote in a path key", raw("eq", "x", "na'me"), nil, true},
		{"injection key in SQL shape", raw("eq", "x", `a') OR 1=1 --`), nil, true},
		{"a dot outside a URN", raw("eq", "x", "name.givenName"), nil, true},
		{"an empty key", raw("eq", "x", ""), nil, true},
		{"injection key inside any", anyOf(elem("eq", "x", `type"]`), "emails"), nil, true},
		{"raw without a path", raw("eq", "x"), nil, true},
		{"unknown attribute", eq("bogus", "x"), nil, true},
		{"a group attribute on users", eq(store.AttrDisplayName, "x"), nil, true},
		{"unknown operator", store.Filter{Op: "regex", Attr: store.AttrLogin, Value: "x"}, nil, true},
		{"a bool for a string column", eq(store.AttrCardID, true), nil, true},
		{"a string for active", eq(store.AttrActive, "true"), nil, true},
		{"a string for a time", store.Filter{Op: "gt", Attr: store.AttrCreated, Value: "2026-01-01T00:00:00Z"}, nil, true},
		{"gt on a boolean", raw("gt", true, "active"), nil, true},
		{"co on a number", raw("co", int64(1), "loginCount"), nil, true},
		{"a time on a raw attribute", raw("gt", t0, "meta", "created"), nil, true},
		{"an unsupported value type", raw("eq", []string{"x"}, "userName"), nil, true},
		{"elem outside any", elem("eq", "x", "type"), nil, true},
		{"any without a path", anyOf(elem("pr", nil)), nil, true},
		{"not of two", store.Filter{Op: "not", Sub: []store.Filter{eq(store.AttrActive, true), eq(store.AttrActive, false)}}, nil, true},
		{"and of none", store.Filter{Op: "and"}, nil, true},
		{"gt without a value", store.Filter{Op: "gt", Attr: store.AttrLogin}, nil, true},
		{"an error deep inside", or(eq(store.AttrActive, true), and(eq(store.AttrActive, true), eq("bogus", 1))), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			rows, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Filter: &f, Limit: 100})
			if tc.err {
				var bad interface{ InvalidFilter() bool }
				if err == nil || !errors.As(err, &bad) || !bad.InvalidFilter() {
					t.Fatalf("err = %v, want an invalid filter error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Claim.CardID)
			}
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
}

func testGroupFilters(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "a@example.com"), card("acme", "c2", "b@example.com"))
	g1 := group("g1", "Engineering")
	g1.ExternalID = "X1"
	g1.Raw = []byte(`{"displayName":"Engineering","externalId":"X1","urn:example:params:scim:schemas:extension:acme:2.0:Group":{"costCenter":"100"}}`)
	g2 := group("g2", "Sales")
	g2.Raw = []byte(`{"displayName":"Sales"}`)
	g2.Created, g2.Updated = t0.Add(time.Hour), t0.Add(2*time.Hour)
	g3 := group("g3", "eng-Berlin_%")
	other := group("h1", "Engineering")
	other.Source = "scim:entra"
	write(t, s, store.Changes{Groups: []store.Group{g1, g2, g3, other},
		AddMembers: slices.Concat(members("g1", "c1", "c2"), members("g2", "c2"), members("h1", "c1"))})
	cases := []filterCase{
		{"displayName eq, any case", eq(store.AttrDisplayName, "ENGINEERING"), []string{"g1"}, false},
		{"displayName sw", store.Filter{Op: "sw", Attr: store.AttrDisplayName, Value: "Eng"}, []string{"g1", "g3"}, false},
		{"displayName co", store.Filter{Op: "co", Attr: store.AttrDisplayName, Value: "IN"}, []string{"g1", "g3"}, false},
		{"displayName ew %: literal", store.Filter{Op: "ew", Attr: store.AttrDisplayName, Value: "_%"}, []string{"g3"}, false},
		{"displayName injection", eq(store.AttrDisplayName, "' OR ''='"), nil, false},
		{"id eq", eq(store.AttrGroupID, "g2"), []string{"g2"}, false},
		{"id ne", store.Filter{Op: "ne", Attr: store.AttrGroupID, Value: "g2"}, []string{"g1", "g3"}, false},
		{"externalId eq", eq(store.AttrExternalID, "X1"), []string{"g1"}, false},
		{"externalId pr", store.Filter{Op: "pr", Attr: store.AttrExternalID}, []string{"g1"}, false},
		{"members eq", eq(store.AttrMember, "c2"), []string{"g1", "g2"}, false},
		{"members eq, only this source's", eq(store.AttrMember, "c1"), []string{"g1"}, false},
		{"members pr", store.Filter{Op: "pr", Attr: store.AttrMember}, []string{"g1", "g2"}, false},
		{"not members pr", not(store.Filter{Op: "pr", Attr: store.AttrMember}), []string{"g3"}, false},
		{"members eq and members eq", and(eq(store.AttrMember, "c1"), eq(store.AttrMember, "c2")), []string{"g1"}, false},
		{"created gt", store.Filter{Op: "gt", Attr: store.AttrCreated, Value: t0}, []string{"g2"}, false},
		{"updated ge", store.Filter{Op: "ge", Attr: store.AttrUpdated, Value: t0.Add(2 * time.Hour)}, []string{"g2"}, false},
		{"raw displayName", raw("eq", "Sales", "displayName"), []string{"g2"}, false},
		{"raw extension", raw("eq", "100", "urn:example:params:scim:schemas:extension:acme:2.0:Group", "costCenter"), []string{"g1"}, false},
		{"raw ne, absent raw counts", raw("ne", "Sales", "displayName"), []string{"g1", "g3"}, false},
		{"login on groups", eq(store.AttrLogin, "x"), nil, true},
		{"active on groups", eq(store.AttrActive, true), nil, true},
		{"a number for members", eq(store.AttrMember, 1.0), nil, true},
		{"injection key", raw("eq", "x", "displayName'--"), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			groups, total, err := s.QueryGroups(ctx, store.GroupQuery{Tenant: "acme", Source: okta, Filter: &f, Limit: 100})
			if tc.err {
				var bad interface{ InvalidFilter() bool }
				if err == nil || !errors.As(err, &bad) {
					t.Fatalf("err = %v, want an invalid filter error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range groups {
				got = append(got, g.ID)
			}
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
}
