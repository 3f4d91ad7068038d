package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// testMemberDisplays: a member's display is the label its source sent
// with it; without one, the display name in the member's claim of the
// group's source (never another source's); adding a member again sets
// its label, and an empty label falls back again.
func testMemberDisplays(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "a@example.com"), card("acme", "c2", "b@example.com"), card("acme", "c3", "c@example.com"))
	c1, c2 := scimClaim("c1", "a", store.Present, ""), scimClaim("c2", "b", store.Present, "")
	c1.Attributes.DisplayName, c2.Attributes.DisplayName = "Ann Lee", "Bo O'Hara"
	hr := claim("c3", "file:hr", "E3", store.Present)
	hr.Attributes.DisplayName = "Cy from HR"
	write(t, s, store.Changes{Claims: []store.Claim{c1, c2, hr}})
	write(t, s, store.Changes{Groups: []store.Group{group("g1", "Eng")}, AddMembers: []store.Membership{
		{GroupID: "g1", CardID: "c1", Display: "new User"}, {GroupID: "g1", CardID: "c2"}, {GroupID: "g1", CardID: "c3"}}})
	displays := func(after string, limit int) []store.Member {
		t.Helper()
		got, err := s.GroupMemberDisplays(ctx, "g1", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []store.Member{{CardID: "c1", Display: "new User"}, {CardID: "c2", Display: "Bo O'Hara"}, {CardID: "c3", Display: ""}}
	if got := displays("", 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("displays = %v, want %v", got, want)
	}
	if got := displays("c1", 1); !reflect.DeepEqual(got, want[1:2]) {
		t.Fatalf("displays after c1, limit 1 = %v, want %v", got, want[1:2])
	}
	// Added again: the new label; an empty one falls back to the claim.
	write(t, s, store.Changes{AddMembers: []store.Membership{{GroupID: "g1", CardID: "c1"}, {GroupID: "g1", CardID: "c2", Display: "SenorVP"}}})
	want = []store.Member{{CardID: "c1", Display: "Ann Lee"}, {CardID: "c2", Display: "SenorVP"}, {CardID: "c3", Display: ""}}
	if got := displays("", 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("displays after adding again = %v, want %v", got, want)
	}
	// The same membership twice in one Write: the last label.
	write(t, s, store.Changes{AddMembers: []store.Membership{{GroupID: "g1", CardID: "c3", Display: "first"}, {GroupID: "g1", CardID: "c3", Display: "last"}}})
	if got := displays("c2", 1); !reflect.DeepEqual(got, []store.Member{{CardID: "c3", Display: "last"}}) {
		t.Fatalf("c3 added twice in one write: %v", got)
	}
	// Removed and added back without a label: the label went with it.
	write(t, s, store.Changes{RemoveMembers: []store.Membership{{GroupID: "g1", CardID: "c2"}}})
	write(t, s, store.Changes{AddMembers: []store.Membership{{GroupID: "g1", CardID: "c2"}}})
	if got := displays("", 10); got[1].Display != "Bo O'Hara" {
		t.Fatalf("c2 re-added without a label: %v", got)
	}
	if got, err := s.GroupMemberDisplays(ctx, "nope", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("members of no group: %v, %v", got, err)
	}
}
