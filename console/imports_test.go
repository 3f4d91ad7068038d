package console

import (
	"slices"
	"testing"
)

func TestCustomName(t *testing.T) {
	for in, want := range map[string]string{"Cost Center": "cost_center", "  Site ": "site", "Badge #": "badge", "R&D-2 team": "r_d_2_team", "***": ""} {
		if got := customName(in); got != want {
			t.Errorf("customName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTargetOptions: a column offers the card's fields, a custom
// attribute after its header (and the one it maps to), the tenant's
// relations and ignore.
func TestTargetOptions(t *testing.T) {
	groups := targetOptions(gridColumn{Header: "Cost Center", Target: "custom.cc"}, []string{"mentor"})
	var values []string
	for _, g := range groups {
		for _, o := range g.Options {
			values = append(values, o.Value)
		}
	}
	for _, want := range []string{"email", "location", "custom.cc", "custom.cost_center", "relation.mentor", "ignore"} {
		if !slices.Contains(values, want) {
			t.Errorf("the options %v have no %s", values, want)
		}
	}
	if groups := targetOptions(gridColumn{Header: "Site"}, nil); len(groups) != 3 {
		t.Errorf("without relations a column has %d option groups, want 3 (fields, custom, none)", len(groups))
	}
}
