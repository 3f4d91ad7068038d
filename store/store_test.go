package store_test

import (
	"reflect"
	"testing"

	"github.com/rosterd/rosterd/store"
)

func TestAttributesSet(t *testing.T) {
	var a store.Attributes
	for _, kv := range [][2]string{
		{"given_name", "Ann"}, {"family_name", "Lee"}, {"display_name", "Ann Lee"}, {"title", "CTO"},
		{"department", "R&D"}, {"location", "Berlin"}, {"employee_id", "007"}, {"manager_email", "bo@x.com"},
		{"role", "admin"}, {"custom.cost_center", "42"},
	} {
		if !a.Set(kv[0], kv[1]) {
			t.Fatalf("Set(%q) refused", kv[0])
		}
	}
	want := store.Attributes{GivenName: "Ann", FamilyName: "Lee", DisplayName: "Ann Lee", Title: "CTO", Department: "R&D",
		Location: "Berlin", EmployeeID: "007", ManagerEmail: "bo@x.com", Role: "admin", Custom: map[string]string{"cost_center": "42"}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("got %+v, want %+v", a, want)
	}
	for _, name := range []string{"email", "groups", "custom.", "Given_Name", ""} {
		before := a
		if a.Set(name, "x") || !reflect.DeepEqual(a, before) || len(a.Custom) != 1 {
			t.Fatalf("Set(%q) changed %+v", name, a)
		}
	}
}
