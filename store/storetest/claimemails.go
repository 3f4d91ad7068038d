package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// testEmailLookupFollowsWrites: a lookup by emails.value finds a claim by
// the emails of its raw record as last written (claim_emails is kept by
// the database on every write of a claim), never by ones it no longer
// has, and a raw record whose emails are no array of objects is written
// and found by nothing.
func testEmailLookupFollowsWrites(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "a@example.com"), card("acme", "c2", "b@example.com"))
	find := func(step, email string, want ...string) {
		t.Helper()
		f := anyOf(fold(elem("eq", email, "value")), "emails")
		rows, total, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: "acme", Source: okta, Filter: &f, Limit: 10})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Claim.CardID)
		}
		if !slices.Equal(got, want) || total != len(want) {
			t.Fatalf("%s: emails.value eq %q found %v (total %d), want %v", step, email, got, total, want)
		}
	}
	claimWith := func(id, raw string) store.Claim {
		c := scimClaim(id, id, store.Present, raw)
		if raw == "" {
			c.Raw = nil
		}
		return c
	}
	write(t, s, store.Changes{Claims: []store.Claim{
		claimWith("c1", `{"userName":"c1","emails":[{"type":"work","value":"Ann@Example.com"},{"type":"home","value":"ann@home.example"},"loose@example.com",{"value":7}]}`),
		claimWith("c2", `{"userName":"c2","emails":[{"type":"work","value":"ann@home.example"}]}`),
	}})
	find("first write", "ann@example.com", "c1")
	find("first write, a second email shared", "ANN@HOME.EXAMPLE", "c1", "c2")
	find("a string element is no email object", "loose@example.com")

	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c1", `{"userName":"c1","emails":[{"type":"work","value":"new@example.com"}]}`)}})
	find("after a change, the old email", "ann@example.com")
	find("after a change, the shared one", "ann@home.example", "c2")
	find("after a change, the new one", "new@example.com", "c1")

	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c1", `{"userName":"c1","emails":{"value":"new@example.com"}}`)}})
	find("emails an object", "new@example.com")
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c1", `["not", "an", "object"]`), claimWith("c2", "")}})
	find("raw an array, and none", "ann@home.example")
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c2", `{"emails":[{"value":"ann@home.example"}]}`)}})
	find("raw again", "ann@home.example", "c2")

	// A change that leaves the emails alone (a PATCH of active, or only
	// the record's spacing) keeps them found; adding or removing an
	// email re-derives them.
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c2", `{"active":false,"emails":[{"value":"ann@home.example"}]}`)}})
	find("other attributes changed", "ann@home.example", "c2")
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c2", `{"active":true, "emails": [ {"value": "ann@home.example"} ]}`)}})
	find("spacing changed", "ann@home.example", "c2")
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c2", `{"active":true,"emails":[{"value":"Second@Example.com"},{"value":"ann@home.example"}]}`)}})
	find("an email added, the old one", "ann@home.example", "c2")
	find("an email added, the new one", "second@example.com", "c2")
	write(t, s, store.Changes{Claims: []store.Claim{claimWith("c2", `{"active":false,"emails":[{"value":"ann@home.example"}]}`)}})
	find("an email removed", "second@example.com")
	find("an email removed, the one kept", "ann@home.example", "c2")
}
