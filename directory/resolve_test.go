package directory

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

var day1 = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func cl(source string, state store.ClaimState, auth bool, attrs Attributes) Claim {
	return Claim{Source: source, State: state, Authoritative: auth, Attributes: attrs, StateSince: day1, Email: source + "@example.com"}
}

func TestResolveRules(t *testing.T) {
	hrWithdrawn := cl("file:hr", store.Withdrawn, true, Attributes{})
	hrWithdrawn.RunID = "42"
	tests := []struct {
		name    string
		claims  []Claim
		pin     *Pin
		enabled bool
		rule    Rule
		reason  string
	}{
		{
			name:    "rule 1: an admin pin disables whatever the sources say",
			claims:  []Claim{cl("scim:okta", store.Present, true, Attributes{}), cl("admin", store.Present, true, Attributes{})},
			pin:     &Pin{Actor: "admin:ops", Reason: "left the company", At: day1},
			enabled: false, rule: RulePinned,
			reason: `disabled: pinned by admin admin:ops on 2026-11-20 ("left the company")`,
		},
		{
			name:    "rule 1 without a reason",
			pin:     &Pin{Actor: "admin:ops", At: day1},
			enabled: false, rule: RulePinned,
			reason: `disabled: pinned by admin admin:ops on 2026-11-20`,
		},
		{
			name:    "rule 2: an authoritative deactivation beats an authoritative presence",
			claims:  []Claim{cl("file:hr", store.Present, true, Attributes{}), cl("scim:okta", store.Deactivated, true, Attributes{})},
			enabled: false, rule: RuleDeactivated,
			reason: "disabled: deactivated by scim:okta on 2026-11-20",
		},
		{
			name:    "rule 2 names every deactivating source, in precedence order",
			claims:  []Claim{cl("ldap:corp", store.Deactivated, true, Attributes{}), cl("scim:okta", store.Deactivated, true, Attributes{})},
			enabled: false, rule: RuleDeactivated,
			reason: "disabled: deactivated by scim:okta on 2026-11-20; by ldap:corp on 2026-11-20",
		},
		{
			name:    "rule 2 does not apply to an attributes-only source",
			claims:  []Claim{cl("ldap:corp", store.Deactivated, false, Attributes{}), cl("file:hr", store.Present, true, Attributes{})},
			enabled: true, rule: RulePresent,
			reason: "enabled: listed by file:hr",
		},
		{
			name:    "rule 3: any authoritative presence enables",
			claims:  []Claim{cl("file:hr", store.Present, true, Attributes{}), cl("scim:okta", store.Present, true, Attributes{}), cl("saml", store.Present, false, Attributes{})},
			enabled: true, rule: RulePresent,
			reason: "enabled: listed by scim:okta, file:hr",
		},
		{
			name:    "rule 3: the admin's own claim from a manual invite counts",
			claims:  []Claim{cl("admin", store.Present, true, Attributes{}), hrWithdrawn},
			enabled: true, rule: RulePresent,
			reason: "enabled: listed by admin",
		},
		{
			name:    "rule 4: every authoritative source withdrew",
			claims:  []Claim{hrWithdrawn, cl("saml", store.Present, false, Attributes{})},
			enabled: false, rule: RuleUnlisted,
			reason: "disabled: no source lists this person any more (withdrawn by file:hr in run 42 on 2026-11-20)",
		},
		{
			name:    "rule 4: only attributes-only sources list the person",
			claims:  []Claim{cl("saml", store.Present, false, Attributes{})},
			enabled: false, rule: RuleUnlisted,
			reason: "disabled: listed only by attributes-only sources (saml)",
		},
		{
			name:    "rule 4: no claims at all",
			enabled: false, rule: RuleUnlisted,
			reason: "disabled: no source lists this person",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Resolve(tc.claims, tc.pin, nil)
			if r.Enabled != tc.enabled || r.Rule != tc.rule || r.Reason != tc.reason {
				t.Fatalf("Resolve = enabled %v, rule %d, %q\nwant      enabled %v, rule %d, %q", r.Enabled, r.Rule, r.Reason, tc.enabled, tc.rule, tc.reason)
			}
		})
	}
}

func TestResolveAttributePrecedence(t *testing.T) {
	claims := []Claim{
		cl("saml", store.Present, false, Attributes{GivenName: "saml-given", FamilyName: "saml-family", DisplayName: "saml-display", Title: "saml-title", Location: "saml-loc", Role: "saml-role"}),
		cl("file:hr", store.Present, true, Attributes{GivenName: "file-given", FamilyName: "file-family", DisplayName: "file-display", Title: "file-title", Department: "file-dept"}),
		cl("ldap:corp", store.Present, true, Attributes{GivenName: "ldap-given", FamilyName: "ldap-family", DisplayName: "ldap-display", Groups: []string{"ldap-group"}}),
		cl("scim:okta", store.Present, true, Attributes{GivenName: "scim-given", FamilyName: "scim-family", Custom: map[string]string{"cost_center": "scim-cc", "empty": ""}}),
		cl("admin", store.Present, true, Attributes{GivenName: "admin-given", Custom: map[string]string{"cost_center": "admin-cc"}}),
		// A withdrawn claim's attributes no longer count, whatever its rank.
		cl("scim:azure", store.Withdrawn, true, Attributes{FamilyName: "withdrawn-family", EmployeeID: "withdrawn-id"}),
		// A deactivated source still lists the person: its attributes count.
		cl("ldap:old", store.Deactivated, false, Attributes{EmployeeID: "ldap-old-id"}),
	}
	want := Attributes{GivenName: "admin-given", FamilyName: "scim-family", DisplayName: "ldap-display", Title: "file-title",
		Department: "file-dept", Location: "saml-loc", Role: "saml-role", EmployeeID: "ldap-old-id", Groups: []string{"ldap-group"},
		Custom: map[string]string{"cost_center": "admin-cc"}}
	wantFrom := map[string]string{"email": "admin", "given_name": "admin", "family_name": "scim:okta", "display_name": "ldap:corp",
		"title": "file:hr", "department": "file:hr", "location": "saml", "role": "saml", "employee_id": "ldap:old",
		"groups": "ldap:corp", "custom.cost_center": "admin"}

	// Resolve is a pure function of the set of claims: their order must not matter.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(claims)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		r := Resolve(shuffled, nil, nil)
		if !reflect.DeepEqual(r.Attributes, want) {
			t.Fatalf("shuffle %d: attributes\n got %+v\nwant %+v", i, r.Attributes, want)
		}
		if !reflect.DeepEqual(r.From, wantFrom) {
			t.Fatalf("shuffle %d: sources\n got %v\nwant %v", i, r.From, wantFrom)
		}
		if r.Email != "admin@example.com" {
			t.Fatalf("email = %q, want the admin claim's", r.Email)
		}
		// A batch resolves without the sources of each value, and gets
		// the same result otherwise; the claims are not reordered in place.
		before := slices.Clone(shuffled)
		lean := resolve(shuffled, Decisions{}, Policy{}, false)
		if lean.From != nil || !reflect.DeepEqual(lean.Attributes, want) || lean.Email != r.Email || lean.Enabled != r.Enabled || lean.Reason != r.Reason {
			t.Fatalf("shuffle %d: resolve without sources = %+v, want %+v without From", i, lean, r)
		}
		if !reflect.DeepEqual(shuffled, before) {
			t.Fatalf("shuffle %d: resolve reordered its argument", i)
		}
	}
	// One claim is resolved as it is.
	one := Resolve(claims[1:2], nil, nil)
	if one.Attributes.Title != "file-title" || one.From["title"] != "file:hr" || !one.Enabled {
		t.Fatalf("one claim: %+v", one)
	}
}

func TestResolveTenantPrecedence(t *testing.T) {
	claims := []Claim{
		cl("scim:okta", store.Present, true, Attributes{Department: "scim-dept", Title: "scim-title"}),
		cl("file:hr", store.Present, true, Attributes{Department: "file-dept"}),
	}
	r := Resolve(claims, nil, []string{KindAdmin, KindFile, KindSCIM, KindLDAP, KindSAML})
	if r.Attributes.Department != "file-dept" || r.From["department"] != "file:hr" {
		t.Fatalf("with file before scim: department %q from %q", r.Attributes.Department, r.From["department"])
	}
	if r.Attributes.Title != "scim-title" {
		t.Fatalf("an attribute the file lacks still comes from scim: %q", r.Attributes.Title)
	}
}

func TestResolveSameKindOrderedByName(t *testing.T) {
	claims := []Claim{
		cl("scim:zeta", store.Present, true, Attributes{Title: "zeta"}),
		cl("scim:alpha", store.Present, true, Attributes{Title: "alpha"}),
	}
	if got := Resolve(claims, nil, nil).Attributes.Title; got != "alpha" {
		t.Fatalf("title = %q, want scim:alpha's", got)
	}
}

func TestStatusOf(t *testing.T) {
	now := day1
	invite := &store.Invite{SentAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
	expired := &store.Invite{SentAt: now.Add(-8 * 24 * time.Hour), ExpiresAt: now}
	tests := []struct {
		card Card
		want Status
	}{
		{Card{Enabled: false, FirstLoginAt: now}, Disabled},
		{Card{Enabled: true, FirstLoginAt: now.Add(-time.Hour), Invite: expired}, Active},
		{Card{Enabled: true, Invite: invite}, InvitePending},
		{Card{Enabled: true, Invite: expired}, InviteExpired},
		{Card{Enabled: true}, Provisioned},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.card, now); got != tc.want {
			t.Errorf("StatusOf(%+v) = %s, want %s", tc.card, got, tc.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, display, norm, err string }{
		{"  Ann.Lee@Example.COM ", "Ann.Lee@Example.COM", "ann.lee@example.com", ""},
		{"a+tag@sub.example.org", "a+tag@sub.example.org", "a+tag@sub.example.org", ""},
		{"", "", "", `invalid email "": empty`},
		{"Ann <ann@example.com>", "", "", `invalid email "Ann <ann@example.com>": not a plain address like name@example.com`},
		{"ann@localhost", "", "", `invalid email "ann@localhost": domain must be a host name such as example.com`},
		{"ann.example.com", "", "", `invalid email "ann.example.com": not a plain address like name@example.com`},
		{"ann@@example.com", "", "", `invalid email "ann@@example.com": not a plain address like name@example.com`},
	} {
		display, norm, err := NormalizeEmail(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if display != tc.display || norm != tc.norm || gotErr != tc.err {
			t.Errorf("NormalizeEmail(%q) = %q, %q, %q; want %q, %q, %q", tc.in, display, norm, gotErr, tc.display, tc.norm, tc.err)
		}
	}
}

// TestResolveLastKnown: a card that no authoritative source lists any more
// keeps the attributes its sources last gave, marked as last known with
// the source and the time it stopped listing the person; a card some
// authoritative source still lists does not.
func TestResolveLastKnown(t *testing.T) {
	day2 := day1.Add(24 * time.Hour)
	hr := cl("file:hr", store.Withdrawn, true, Attributes{GivenName: "Ann", FamilyName: "Lee", Department: "Research", Role: "editor"})
	hr.StateSince = day2
	scim := cl("scim:okta", store.Withdrawn, true, Attributes{Title: "Chemist", Department: "Labs"})
	tests := []struct {
		name   string
		claims []Claim
		pin    *Pin
		want   Attributes
		last   *store.LastKnown
	}{
		{
			name:   "every source withdrew: the last attributes stay, in precedence order",
			claims: []Claim{hr, scim},
			want:   Attributes{GivenName: "Ann", FamilyName: "Lee", Title: "Chemist", Department: "Labs", Role: "editor"},
			last:   &store.LastKnown{Source: "scim:okta", At: day1},
		},
		{
			name:   "an attributes-only source still listing fills first; the withdrawn fill the rest",
			claims: []Claim{hr, cl("saml", store.Present, false, Attributes{GivenName: "Annie"})},
			want:   Attributes{GivenName: "Annie", FamilyName: "Lee", Department: "Research", Role: "editor"},
			last:   &store.LastKnown{Source: "file:hr", At: day2},
		},
		{
			name:   "pinned with every source withdrawn: the last attributes stay",
			claims: []Claim{hr},
			pin:    &Pin{Actor: "admin:ops", At: day2},
			want:   hr.Attributes,
			last:   &store.LastKnown{Source: "file:hr", At: day2},
		},
		{
			name:   "an authoritative source still lists the person: withdrawn claims do not count",
			claims: []Claim{hr, cl("scim:okta", store.Present, true, Attributes{Title: "Chemist"})},
			want:   Attributes{Title: "Chemist"},
		},
		{
			name:   "deactivated, not withdrawn: its attributes are current, not last known",
			claims: []Claim{cl("file:hr", store.Deactivated, true, Attributes{Department: "Research"})},
			want:   Attributes{Department: "Research"},
		},
		{
			name:   "groups are not kept: a person no source lists is in no group",
			claims: []Claim{cl("scim:okta", store.Withdrawn, true, Attributes{Title: "Chemist", Groups: []string{"Eng"}})},
			want:   Attributes{Title: "Chemist"},
			last:   &store.LastKnown{Source: "scim:okta", At: day1},
		},
		{
			name:   "withdrawn claims without attributes: nothing is last known",
			claims: []Claim{cl("file:hr", store.Withdrawn, true, Attributes{})},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Resolve(tc.claims, tc.pin, nil)
			if !reflect.DeepEqual(r.Attributes, tc.want) {
				t.Errorf("attributes\n got %+v\nwant %+v", r.Attributes, tc.want)
			}
			if !reflect.DeepEqual(r.LastKnown, tc.last) {
				t.Errorf("last known = %+v, want %+v", r.LastKnown, tc.last)
			}
			if lean := resolve(tc.claims, Decisions{Pin: tc.pin}, Policy{}, false); !reflect.DeepEqual(lean.LastKnown, r.LastKnown) || !reflect.DeepEqual(lean.Attributes, r.Attributes) {
				t.Errorf("resolve without sources differs: %+v", lean)
			}
		})
	}
}
