package reconcile

import (
	"slices"
	"testing"

	"github.com/rosterd/rosterd/directory"
)

// TestNewCardChanges: a new card's changes are what AttributeChanges
// says of it from no attributes, in its order.
func TestNewCardChanges(t *testing.T) {
	for _, a := range []directory.Attributes{
		{},
		{GivenName: "Ann", Role: "admin", Groups: []string{"Labs", "All"}},
		{FamilyName: "Lee", Custom: map[string]string{"z": "1", "a": "2", "empty": ""}, Relations: map[string]string{"parent": "mo@example.com", "coach": "c@example.com"}},
		{Groups: []string{}},
	} {
		want := directory.AttributeChanges(directory.Attributes{}, a)
		if got := newCardChanges(a); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%+v: %v, want %v", a, got, want)
		}
	}
}

// TestReviewChanges: a plan made again differs from the reviewed one by
// a card's version, an action, a change that appeared or went.
func TestReviewChanges(t *testing.T) {
	ch := func(action Action, key string, version int64) Change {
		return Change{Action: action, Key: key, Email: key, Version: version, Line: "a.csv:2"}
	}
	was := Plan{Changes: []Change{ch(Create, "ann@x", 0), ch(Update, "bob@x", 3), ch(Update, "cy@x", 1)}}
	if got := reviewChanges(was, was); len(got) != 0 {
		t.Fatalf("the same plan: %q", got)
	}
	now := Plan{Changes: []Change{ch(Claim, "ann@x", 1), ch(Update, "bob@x", 4), ch(Update, "dee@x", 2)}}
	got := reviewChanges(was, now)
	want := []string{
		"ann@x (a.csv:2): reviewed as create, now claim",
		"bob@x (a.csv:2): the card changed since the review (version 3, now 4)",
		"dee@x (a.csv:2): reviewed as unchanged, now update",
		"cy@x (a.csv:2): reviewed as update, now unchanged",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %q\nwant %q", got, want)
	}
}
