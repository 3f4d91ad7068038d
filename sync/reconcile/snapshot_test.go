package reconcile

import (
	"testing"

	"github.com/rosterd/rosterd/store"
)

func TestContentHash(t *testing.T) {
	base := func() ([]Record, []Flag) {
		return []Record{
				{Key: "u1", Email: "a@x.com", Attributes: store.Attributes{GivenName: "Ann", Groups: []string{"g1", "g2"}, Custom: map[string]string{"k": "v", "j": "w"}}},
				{Key: "u2", Email: "b@x.com", Deactivated: true},
			},
			[]Flag{{Line: "cn=c", Key: "u3", Reason: "invalid email"}}
	}
	r, f := base()
	want := ContentHash(r, f)
	if len(want) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", want)
	}
	// The same content gives the same hash, whatever the map order.
	for range 20 {
		r, f := base()
		if got := ContentHash(r, f); got != want {
			t.Fatalf("same content, hash %s then %s", want, got)
		}
	}
	changes := map[string]func(r []Record, f []Flag) ([]Record, []Flag){
		"key":         func(r []Record, f []Flag) ([]Record, []Flag) { r[0].Key = "u9"; return r, f },
		"email":       func(r []Record, f []Flag) ([]Record, []Flag) { r[1].Email = "c@x.com"; return r, f },
		"deactivated": func(r []Record, f []Flag) ([]Record, []Flag) { r[1].Deactivated = false; return r, f },
		"given name":  func(r []Record, f []Flag) ([]Record, []Flag) { r[0].Attributes.GivenName = "Anne"; return r, f },
		"role":        func(r []Record, f []Flag) ([]Record, []Flag) { r[1].Attributes.Role = "admin"; return r, f },
		"group": func(r []Record, f []Flag) ([]Record, []Flag) {
			r[0].Attributes.Groups = r[0].Attributes.Groups[:1]
			return r, f
		},
		"custom":   func(r []Record, f []Flag) ([]Record, []Flag) { r[0].Attributes.Custom["k"] = "x"; return r, f },
		"boundary": func(r []Record, f []Flag) ([]Record, []Flag) { r[0].Key, r[0].Email = "u1a", "@x.com"; return r, f },
		"field shift": func(r []Record, f []Flag) ([]Record, []Flag) {
			r[0].Attributes.GivenName, r[0].Attributes.FamilyName = "", "Ann"
			return r, f
		},
		"order":          func(r []Record, f []Flag) ([]Record, []Flag) { r[0], r[1] = r[1], r[0]; return r, f },
		"flag reason":    func(r []Record, f []Flag) ([]Record, []Flag) { f[0].Reason = "duplicate"; return r, f },
		"flag dropped":   func(r []Record, f []Flag) ([]Record, []Flag) { return r, nil },
		"record dropped": func(r []Record, f []Flag) ([]Record, []Flag) { return r[:1], f },
	}
	for name, change := range changes {
		r, f := change(base())
		if ContentHash(r, f) == want {
			t.Errorf("%s changed, the hash did not", name)
		}
	}
}
