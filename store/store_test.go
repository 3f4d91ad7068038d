package store_test

import (
	"reflect"
	"strings"
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

// TestTextAttributesCoverEveryTextField: TextAttributes names each string
// field of Attributes by its JSON name, once, and Text finds that field.
func TestTextAttributesCoverEveryTextField(t *testing.T) {
	var a store.Attributes
	v := reflect.ValueOf(&a).Elem()
	seen := map[string]bool{}
	for i := 0; i < v.NumField(); i++ {
		sf := v.Type().Field(i)
		if sf.Type.Kind() != reflect.String {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		v.Field(i).SetString("value of " + name)
		found := 0
		for _, n := range store.TextAttributes {
			if n == name {
				found++
				if got := *a.Text(name); got != "value of "+name {
					t.Fatalf("%s: Text reads %q", name, got)
				}
			}
		}
		if found != 1 {
			t.Fatalf("%s is listed %d times in TextAttributes", name, found)
		}
		seen[name] = true
	}
	if len(seen) != len(store.TextAttributes) {
		t.Fatalf("TextAttributes has %d entries for %d string fields", len(store.TextAttributes), len(seen))
	}
	for _, name := range []string{"email", "groups", "custom.x", "Given_Name", ""} {
		if a.Text(name) != nil {
			t.Fatalf("Text(%q) is not nil", name)
		}
	}
}
