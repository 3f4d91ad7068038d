package directory

import (
	"reflect"
	"testing"
)

func TestClaimAttributes(t *testing.T) {
	prev := Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor",
		Groups: []string{"Eng"}, Custom: map[string]string{"cost_center": "CC1", "desk": "4F"}}
	tests := []struct {
		name    string
		stated  Attributes
		partial *Partial
		want    Attributes
	}{
		{
			name:   "a whole statement replaces the claim's attributes",
			stated: Attributes{Department: "Sales"},
			want:   Attributes{Department: "Sales"},
		},
		{
			name:    "a partial statement changes only what it asserts",
			stated:  Attributes{Department: "Sales"},
			partial: &Partial{Attributes: []string{"department"}},
			want: Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Sales", Role: "editor",
				Groups: []string{"Eng"}, Custom: map[string]string{"cost_center": "CC1", "desk": "4F"}},
		},
		{
			name:    "an asserted attribute left empty keeps its value",
			stated:  Attributes{Department: "Sales"},
			partial: &Partial{Attributes: []string{"given_name", "department", "groups", "custom.desk"}},
			want:    Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Sales", Role: "editor", Groups: []string{"Eng"}, Custom: map[string]string{"cost_center": "CC1", "desk": "4F"}},
		},
		{
			name:    "with clear_empty an asserted empty attribute is cleared; the others stay",
			stated:  Attributes{Department: "Sales"},
			partial: &Partial{Attributes: []string{"given_name", "department", "groups", "custom.desk"}, ClearEmpty: true},
			want:    Attributes{FamilyName: "Lee", Department: "Sales", Role: "editor", Custom: map[string]string{"cost_center": "CC1"}},
		},
		{
			name:    "groups and custom attributes are asserted by name",
			stated:  Attributes{Groups: []string{"Ops", "All"}, Custom: map[string]string{"desk": "5A", "new": "x"}},
			partial: &Partial{Attributes: []string{"groups", "custom.desk", "custom.new"}},
			want: Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor",
				Groups: []string{"Ops", "All"}, Custom: map[string]string{"cost_center": "CC1", "desk": "5A", "new": "x"}},
		},
		{
			name:    "a value the statement has but does not assert is not taken",
			stated:  Attributes{Department: "Sales", Title: "Boss"},
			partial: &Partial{Attributes: []string{"department"}},
			want: Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Sales", Role: "editor",
				Groups: []string{"Eng"}, Custom: map[string]string{"cost_center": "CC1", "desk": "4F"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := prev
			before.Groups = append([]string(nil), prev.Groups...)
			got := ClaimAttributes(prev, tc.stated, tc.partial)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ClaimAttributes\n got %+v\nwant %+v", got, tc.want)
			}
			if prev.Custom["desk"] != "4F" || !reflect.DeepEqual(prev.Groups, before.Groups) {
				t.Fatalf("ClaimAttributes changed its argument: %+v", prev)
			}
		})
	}
	if got := ClaimAttributes(Attributes{}, Attributes{Role: "x"}, &Partial{Attributes: []string{"role"}}); got.Role != "x" {
		t.Fatalf("a new claim: %+v", got)
	}
}
