package admin

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/ldaptest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/ldapfeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// scimTok2 is the SCIM token of a second connection, entra.
const scimTok2 = "scim-token-entra"

// rolesLDIF is a directory with nested groups: Staff holds ann and the
// group Seniors, Seniors holds bea (so bea is Staff through nesting) and
// Staff again (a cycle); Clients holds cat and dan. ann's manager is cat.
func rolesLDIF() string {
	g := "ou=groups," + ldaptest.Suffix
	person := func(uid, extra string) string {
		return fmt.Sprintf("dn: uid=%[1]s,%[2]s\nobjectClass: inetOrgPerson\nuid: %[1]s\ncn: %[1]s\nsn: %[1]s\ngivenName: %[1]s\nmail: %[1]s@acme.example\n%[3]s\n",
			uid, ldaptest.People, extra)
	}
	return person("ann", "manager: uid=cat,"+ldaptest.People+"\n") + person("bea", "") + person("cat", "") + person("dan", "") +
		fmt.Sprintf(`dn: %[1]s
objectClass: organizationalUnit
ou: groups

dn: cn=Staff,%[1]s
objectClass: groupOfNames
cn: Staff
member: uid=ann,%[2]s
member: cn=Seniors,%[1]s

dn: cn=Seniors,%[1]s
objectClass: groupOfNames
cn: Seniors
member: uid=bea,%[2]s
member: cn=Staff,%[1]s

dn: cn=Clients,%[1]s
objectClass: groupOfNames
cn: Clients
member: uid=cat,%[2]s
member: uid=dan,%[2]s
`, g, ldaptest.People)
}

// newRolesEnv is the daemon's HTTP surface (admin API and SCIM) over st,
// for a tenant acme configured as a file would be: roles with mapping
// rules, a parent relation, two SCIM connections (okta, entra) and, when s
// is not nil, an LDAP feed "corp" reading the slapd s and a file feed
// "sis" reading the folder dropDir.
func newRolesEnv(t *testing.T, st store.Backend, s *ldaptest.Server, dropDir string) *env {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	feedsYAML := ""
	if s != nil {
		feedsYAML = fmt.Sprintf(`
    feeds:
      - name: corp
        kind: ldap
        url: %[2]s
        bind_dn: %[3]s
        bind_password: %[4]s
        ca_file: %[5]s
        base_dn: %[6]s
        groups: ["cn=Staff,ou=groups,%[1]s", "cn=Clients,ou=groups,%[1]s"]
      - name: sis
        kind: file
        source: dir://%[7]s/*.csv
        stable_for: 0s
        columns: {Parent: relation.parent}
`, ldaptest.Suffix, s.URL, s.ReaderDN, s.ReaderPassword, s.CAFile, ldaptest.People, dropDir)
	}
	tenants := tenanttest.FromYAML(t, st, fmt.Sprintf(`
tenants:
  - id: acme
    name: Acme
    safety: {max_disable_percent: 100, max_disable_count: 1000, min_snapshot_ratio: 0}
    roles: [admin, staff, client]
    default_role: client
    role_rules:
      - {source: ldap, group: "CN=Staff,ou=groups,%[1]s", role: staff}
      - {source: scim, group: rosterd-admins, role: admin}
    relations: [parent]
    sso_domains: [corp.acme.example]%[2]s`, ldaptest.Suffix, feedsYAML))
	svc := directory.NewService(st, nil, directory.WithPolicies(tenants), directory.WithClock(clk.Now))
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: rwKey},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: scimTok},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "entra", Secret: scimTok2},
	})
	acmeT, ok := tenants.Lookup("acme")
	if !ok {
		t.Fatal("no tenant acme")
	}
	feeds := map[string]Feed{}
	for _, f := range acmeT.Feeds() {
		var run reconcile.Feed
		switch f.Kind {
		case "ldap":
			run = ldapfeed.NewFeed("acme", f.Feed, acmeT.Limits(), nil)
		case "file":
			run = filefeed.NewFeed("acme", f.Feed, acmeT.Limits(), clk.Now)
		}
		feeds["acme/"+f.Name] = Feed{Location: time.UTC, Run: run}
	}
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	api := New(keys, tenants, logger, reg)
	api.With(Services{Directory: svc, Store: st, Runner: &reconcile.Runner{Dir: svc, Store: st, Now: clk.Now},
		Feeds: feeds, Events: st, Registry: tenants, Keys: keys, PublicURL: ts.URL})
	api.Mount(srv)
	sc, err := scim.New(svc, keys, tenants, logger, reg, scim.Options{PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	sc.Mount(srv)
	ts.Config.Handler = srv.Handler()
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, dir: svc, store: st, clock: clk}
}

// listEmails is the sorted emails of every page of a card list query.
func (e *env) listEmails(query string) []string {
	e.t.Helper()
	var out []string
	r := e.must(200, "GET", acme+"/cards?"+query+"&limit=1000", nil)
	for _, c := range r.Body["cards"].([]any) {
		out = append(out, fmt.Sprint(c.(map[string]any)["email"]))
	}
	if r.Body["next"] != nil {
		e.t.Fatalf("GET cards?%s: more than one page", query)
	}
	slices.Sort(out)
	return out
}

// TestEndToEndRolesFromLDAPSCIMAndFile: every channel feeds roles, groups
// and relations over HTTP, on both backends: an LDAP feed against slapd
// with nested groups (members of Staff, through Seniors too, are staff;
// the rest take the default role), a SCIM group rosterd-admins (admin), a
// file with Role, Parent and Groups columns; and the card list's filters
// select exactly the expected cards.
func TestEndToEndRolesFromLDAPSCIMAndFile(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{LDIF: rolesLDIF()})
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		drop := t.TempDir()
		e := newRolesEnv(t, st, s, drop)

		// LDAP.
		e.runFeed("corp")
		roleOf := func(email string) (string, string, []string) {
			t.Helper()
			c := e.must(200, "GET", acme+"/cards/"+e.cardID(email), nil).Body
			a := c["attributes"].(map[string]any)
			var groups []string
			if gs, ok := a["groups"].([]any); ok {
				for _, g := range gs {
					groups = append(groups, fmt.Sprint(g))
				}
			}
			return fmt.Sprint(a["role"]), fmt.Sprint(c["role_source"]), groups
		}
		for email, want := range map[string]string{"ann@acme.example": "staff", "bea@acme.example": "staff",
			"cat@acme.example": "client", "dan@acme.example": "client"} {
			role, from, groups := roleOf(email)
			if role != want {
				t.Errorf("%s: role %q from %q, want %q", email, role, from, want)
			}
			wantGroup := map[string]string{"staff": "Staff", "client": "Clients"}[want]
			if !slices.Contains(groups, wantGroup) {
				t.Errorf("%s: groups %v, want %s among them", email, groups, wantGroup)
			}
			if want == "staff" && !strings.Contains(from, "rule 1") || want == "client" && from != directory.RoleFromDefault {
				t.Errorf("%s: role source %q", email, from)
			}
		}

		// SCIM: a member of rosterd-admins is admin.
		u := e.scim("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "boss@acme.example", "active": true, "emails": []map[string]any{{"value": "boss@acme.example", "primary": true}}})
		if u.Status != 201 {
			t.Fatalf("SCIM user: %d %s", u.Status, u.Raw)
		}
		if role, _, _ := roleOf("boss@acme.example"); role != "client" {
			t.Fatalf("boss before the group: %s", role)
		}
		g := e.scim("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "rosterd-admins", "members": []map[string]any{{"value": u.Body["id"]}}})
		if g.Status != 201 {
			t.Fatalf("SCIM group: %d %s", g.Status, g.Raw)
		}
		if role, from, _ := roleOf("boss@acme.example"); role != "admin" || !strings.Contains(from, "rule 2") {
			t.Fatalf("boss in rosterd-admins: role %q from %q", role, from)
		}

		// A file with Role, Parent and Groups columns.
		csv := "Email,Role,Parent,Groups\n" +
			"kid@acme.example,Client,ann@acme.example,\n" +
			"tutor@acme.example,Staff,,Staff;Tutors\n" +
			"wizard@acme.example,Wizard,,\n"
		if err := os.WriteFile(filepath.Join(drop, "sis.csv"), []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		run := e.runFeed("sis")
		// The unknown role refuses its row; the others apply.
		if c := run.Body["counts"].(map[string]any); c["refused"] != float64(1) || c["applied"] != float64(2) {
			t.Errorf("sis run: %s", run.Raw)
		}
		if got := e.listEmails("q=wizard"); len(got) != 0 {
			t.Errorf("a card for the row with an unknown role: %v", got)
		}
		if role, _, _ := roleOf("kid@acme.example"); role != "client" {
			t.Errorf("kid: role %s", role)
		}
		if role, _, groups := roleOf("tutor@acme.example"); role != "staff" || !slices.Contains(groups, "Staff") || !slices.Contains(groups, "Tutors") {
			t.Errorf("tutor: role %s, groups %v", role, groups)
		}
		kid := e.must(200, "GET", acme+"/cards/"+e.cardID("kid@acme.example"), nil)
		if rel := kid.Body["attributes"].(map[string]any)["relations"].(map[string]any); rel["parent"] != "ann@acme.example" {
			t.Errorf("kid's relations: %s", kid.Raw)
		}
		if p := kid.Body["links"].(map[string]any)["parent"].(map[string]any); p["card_id"] != e.cardID("ann@acme.example") {
			t.Errorf("kid's parent link: %s", kid.Raw)
		}

		// Stats count by role and by group, over the cards the filters
		// select; sort, cursor, limit and unknown names are refused.
		for query, want := range map[string]string{
			"":                           "roles map[admin:1 client:3 staff:3] groups map[Clients:2 Staff:3 Tutors:1 rosterd-admins:1] total 7",
			"?role=staff":                "roles map[staff:3] groups map[Staff:3 Tutors:1] total 3",
			"?group=Staff&assigned=true": "roles map[staff:1] groups map[Staff:1] total 1",
			"?group=Nobody":              "roles map[] groups map[] total 0",
		} {
			r := e.must(200, "GET", acme+"/cards/stats"+query, nil)
			if got := fmt.Sprintf("roles %v groups %v total %v", r.Body["roles"], r.Body["groups"], r.Body["total"]); got != want {
				t.Errorf("GET cards/stats%s = %s, want %s", query, got, want)
			}
		}
		for _, bad := range []string{"sort=email", "limit=5", "cursor=x", "groups=Staff", "role=staff&role=admin"} {
			r := e.do("GET", acme+"/cards/stats?"+bad, rwKey, nil)
			if r.Status != 400 {
				t.Errorf("GET cards/stats?%s: %d %s, want 400", bad, r.Status, r.Raw)
			}
		}

		for query, want := range map[string]string{
			"role=staff&group=Staff&assigned=false": "[bea@acme.example tutor@acme.example]",
			"role=staff&group=Staff":                "[ann@acme.example bea@acme.example tutor@acme.example]",
			"role=staff&group=Staff&assigned=true":  "[ann@acme.example]",
			"role=admin":                            "[boss@acme.example]",
			"role=client&group=Clients":             "[cat@acme.example dan@acme.example]",
			"relation.parent=ann@acme.example":      "[kid@acme.example]",
		} {
			if got := fmt.Sprint(e.listEmails(query)); got != want {
				t.Errorf("GET cards?%s = %s, want %s", query, got, want)
			}
		}
	})
}
