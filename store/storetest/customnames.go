package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// testCustomAttributeNames: the distinct custom attribute names of the
// cards a filter selects, of that tenant only, in byte order on both
// backends (upper case before lower case), cut at the limit.
func testCustomAttributeNames(t *testing.T, s store.Backend) {
	ctx := context.Background()
	ann := card("acme", "c1", "ann@example.com")
	ann.Attributes = store.Attributes{Groups: []string{"Sales"}, Custom: map[string]string{"cost_center": "CC1", "Region": "EMEA"}}
	bob := card("acme", "c2", "bob@example.com")
	bob.Attributes = store.Attributes{Custom: map[string]string{"cost_center": "CC2", "badge": "7", "Zoné": "x"}}
	cy := card("acme", "c3", "cy@example.com")
	cy.Enabled = false
	cy.Attributes = store.Attributes{Custom: map[string]string{"zeta": "z"}}
	dee := card("acme", "c4", "dee@example.com")
	other := card("globex", "c5", "eve@globex.example")
	other.Attributes = store.Attributes{Custom: map[string]string{"secret": "s"}}
	put(t, s, ann, bob, cy, dee, other)
	yes := true
	for _, tc := range []struct {
		name  string
		f     store.CardFilter
		limit int
		want  []string
	}{
		{"all", store.CardFilter{}, 100, []string{"Region", "Zoné", "badge", "cost_center", "zeta"}},
		{"cut at the limit", store.CardFilter{}, 2, []string{"Region", "Zoné"}},
		{"enabled", store.CardFilter{Enabled: &yes}, 100, []string{"Region", "Zoné", "badge", "cost_center"}},
		{"group", store.CardFilter{Group: "sales"}, 100, []string{"Region", "cost_center"}},
		{"none", store.CardFilter{Query: "dee@"}, 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Tenant = "acme"
			got, err := s.CustomAttributeNames(ctx, tc.f, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
