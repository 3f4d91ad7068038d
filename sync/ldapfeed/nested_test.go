package ldapfeed

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/ldaptest"
)

// nestedGroupsLDIF: Staff holds u00000, u00001 and Seniors; Seniors holds
// u00002, Staff again (a cycle) and Deep (a groupOfUniqueNames) holding
// u00003; Clients holds u00004, u00005 and a member whose entry is gone;
// u00006 is in no group.
func nestedGroupsLDIF(w io.Writer) error {
	if err := writePeople(w, 0, 7, nil); err != nil {
		return err
	}
	g := "ou=groups," + ldaptest.Suffix
	_, err := fmt.Fprintf(w, `dn: %[1]s
objectClass: organizationalUnit
ou: groups

dn: cn=Staff,%[1]s
objectClass: groupOfNames
cn: Staff
member: %[2]s
member: %[3]s
member: cn=Seniors,%[1]s

dn: cn=Seniors,%[1]s
objectClass: groupOfNames
cn: Seniors
member: %[4]s
member: cn=Staff,%[1]s
member: cn=Deep,%[1]s

dn: cn=Deep,%[1]s
objectClass: groupOfUniqueNames
cn: Deep
uniqueMember: %[5]s

dn: cn=Clients,%[1]s
objectClass: groupOfNames
cn: Clients
member: %[6]s
member: %[7]s
member: uid=gone,%[8]s

`, g, personDN(0), personDN(1), personDN(2), personDN(3), personDN(4), personDN(5), ldaptest.People)
	return err
}

// OpenLDAP has no LDAP_MATCHING_RULE_IN_CHAIN: the feed walks the groups
// itself, through a cycle and a dangling member, and keeps only the
// members of the configured groups.
func TestSlapdNestedGroups(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: nestedGroupsLDIF})
	cfg := feedCfg(s)
	cfg.Groups = []string{"cn=Staff,ou=groups," + ldaptest.Suffix, "cn=Clients,ou=groups," + ldaptest.Suffix}
	o := &options{tenant: "acme", feed: "corp", cfg: cfg, now: time.Now}
	snap, err := o.fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range snap.Records {
		got[strings.TrimSuffix(r.Email, "@example.com")] = strings.Join(r.Attributes.Groups, ",")
	}
	want := map[string]string{"u00000": "Staff", "u00001": "Staff", "u00002": "Staff", "u00003": "Staff", "u00004": "Clients", "u00005": "Clients"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records and their groups:\n got %v\nwant %v", got, want)
	}

	// A configured group that is not there fails the run: it never means
	// that its members left.
	cfg.Groups = append(cfg.Groups, "cn=Nobody,ou=groups,"+ldaptest.Suffix)
	o = &options{tenant: "acme", feed: "corp", cfg: cfg, now: time.Now}
	if _, err := o.fetch(ctx); err == nil || !strings.Contains(err.Error(), "cn=Nobody") {
		t.Fatalf("missing group: %v", err)
	}
}

// A nesting deeper than maxGroupDepth fails the run, naming the group.
func TestSlapdGroupsTooDeep(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{WriteLDIF: func(w io.Writer) error {
		if err := writePeople(w, 0, 1, nil); err != nil {
			return err
		}
		g := "ou=groups," + ldaptest.Suffix
		fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalUnit\nou: groups\n\n", g)
		for i := 0; i <= maxGroupDepth+1; i++ {
			member := fmt.Sprintf("cn=g%d,%s", i+1, g)
			if i == maxGroupDepth+1 {
				member = personDN(0)
			}
			if _, err := fmt.Fprintf(w, "dn: cn=g%d,%s\nobjectClass: groupOfNames\ncn: g%d\nmember: %s\n\n", i, g, i, member); err != nil {
				return err
			}
		}
		return nil
	}})
	cfg := feedCfg(s)
	cfg.Groups = []string{"cn=g0,ou=groups," + ldaptest.Suffix}
	o := &options{tenant: "acme", feed: "corp", cfg: cfg, now: time.Now}
	if _, err := o.fetch(ctx); err == nil || !strings.Contains(err.Error(), "levels deep") || !strings.Contains(err.Error(), "cn=g0") {
		t.Fatalf("too deep: %v", err)
	}
}
