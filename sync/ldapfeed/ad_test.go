package ldapfeed

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/config"
)

// The AD rules, on entries as AD sends them (recorded shapes, built here).

var adNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// filetime is t as accountExpires: 100 ns intervals since 1601.
func filetime(t time.Time) string { return fmt.Sprint(t.UnixNano()/100 + adEpochOffset) }

// guid is objectGUID {6f1b0d5e-3c2a-4b1f-9a8e-0123456789ab} as AD sends it.
var guid = []byte{0x5e, 0x0d, 0x1b, 0x6f, 0x2a, 0x3c, 0x1f, 0x4b, 0x9a, 0x8e, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab}

const guidString = "6f1b0d5e-3c2a-4b1f-9a8e-0123456789ab"

func adEntry(dn string, g []byte, attrs map[string][]string) *ldap.Entry {
	e := ldap.NewEntry(dn, attrs)
	if g != nil {
		e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "objectGUID", Values: []string{string(g)}, ByteValues: [][]byte{g}})
	}
	return e
}

func guidN(n byte) []byte {
	g := append([]byte(nil), guid...)
	g[15] = n
	return g
}

func TestFormatGUID(t *testing.T) {
	if s, err := FormatGUID(guid); err != nil || s != guidString {
		t.Fatalf("%q, %v", s, err)
	}
	if _, err := FormatGUID(guid[:15]); err == nil {
		t.Fatal("15 bytes accepted")
	}
}

func TestADRules(t *testing.T) {
	mp, err := newMapping(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		attrs       map[string][]string
		deactivated bool
		email       string
		flag        string
	}{
		{"normal account", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"512"}, "accountExpires": {"9223372036854775807"}}, false, "ann@corp.example", ""},
		{"disabled bit", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"514"}}, true, "ann@corp.example", ""},
		{"disabled with other bits", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"66050"}}, true, "ann@corp.example", ""},
		{"password never expires, enabled", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"66048"}}, false, "ann@corp.example", ""},
		{"expired yesterday", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"512"}, "accountExpires": {filetime(adNow.Add(-24 * time.Hour))}}, true, "ann@corp.example", ""},
		{"expires tomorrow", map[string][]string{"mail": {"ann@corp.example"}, "accountExpires": {filetime(adNow.Add(24 * time.Hour))}}, false, "ann@corp.example", ""},
		{"never expires (0)", map[string][]string{"mail": {"ann@corp.example"}, "accountExpires": {"0"}}, false, "ann@corp.example", ""},
		{"upn when no mail", map[string][]string{"userPrincipalName": {"ann@corp.example"}}, false, "ann@corp.example", ""},
		{"no email", map[string][]string{"sAMAccountName": {"ann"}}, false, "", "no email"},
		{"bad uac", map[string][]string{"mail": {"ann@corp.example"}, "userAccountControl": {"x"}}, false, "", "userAccountControl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _, flag := mp.record(adEntry("CN=Ann,OU=Staff,DC=corp,DC=example", guid, tc.attrs), adNow)
			if tc.flag != "" {
				if flag == nil || !strings.Contains(flag.Reason, tc.flag) || flag.Line != "CN=Ann,OU=Staff,DC=corp,DC=example" || flag.Key != guidString {
					t.Fatalf("flag %+v, want %q", flag, tc.flag)
				}
				return
			}
			if flag != nil {
				t.Fatalf("flagged: %+v", flag)
			}
			if rec.Key != guidString || rec.Deactivated != tc.deactivated || rec.Email != tc.email {
				t.Fatalf("record %+v", rec)
			}
		})
	}
	// No objectGUID: flagged by DN alone.
	if _, _, flag := mp.record(adEntry("CN=X,DC=corp,DC=example", nil, map[string][]string{"mail": {"x@corp.example"}}), adNow); flag == nil || flag.Key != "" || !strings.Contains(flag.Reason, "objectGUID") {
		t.Fatalf("no guid: %+v", flag)
	}
}

func TestADMapping(t *testing.T) {
	mp, err := newMapping(true, map[string]string{"custom.cost_center": "extensionAttribute1", "location": ""})
	if err != nil {
		t.Fatal(err)
	}
	rec, mgr, flag := mp.record(adEntry("CN=Ann,OU=Staff,DC=corp,DC=example", guid, map[string][]string{
		"mail": {"Ann.Lee@corp.example"}, "givenName": {"Ann"}, "sn": {"Lee"}, "displayName": {"Ann Lee"}, "title": {"CFO"},
		"department": {"Finance"}, "physicalDeliveryOfficeName": {"Oslo"}, "employeeID": {"00042"}, "extensionAttribute1": {"CC-7"},
		"manager": {"CN=Bob,OU=Staff,DC=corp,DC=example"},
	}), adNow)
	if flag != nil {
		t.Fatal(flag)
	}
	a := rec.Attributes
	if rec.Email != "Ann.Lee@corp.example" || a.GivenName != "Ann" || a.FamilyName != "Lee" || a.DisplayName != "Ann Lee" || a.Title != "CFO" ||
		a.Department != "Finance" || a.Location != "" || a.EmployeeID != "00042" || a.Custom["cost_center"] != "CC-7" || mgr != "CN=Bob,OU=Staff,DC=corp,DC=example" {
		t.Fatalf("%+v, manager %q", rec, mgr)
	}
	if _, err := newMapping(true, map[string]string{"shoe_size": "x"}); err == nil {
		t.Fatal("unknown name accepted")
	}
}

// fakeAD answers searches from recorded entries: the people search (paged,
// per the paging control), base searches of groups (range retrieval, at
// most rangeSize values per answer, as AD's MaxValRange) and of managers.
type fakeAD struct {
	people    []*ldap.Entry
	pageSize  int
	groups    map[string][]string // DN → member DNs
	rangeSize int
	others    map[string]*ldap.Entry // DN → entry, for base lookups
	nested    map[string]string      // group DN → the group it is nested in (at any depth: AD's chain)
	searches  []string
	noPaging  bool
	failPage  int   // fail the people search on this page (1-based)
	failWith  error // with this
	referrals []string
}

func (f *fakeAD) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	f.searches = append(f.searches, req.BaseDN+" "+strings.Join(req.Attributes, ","))
	if req.Scope == ldap.ScopeBaseObject {
		if members, ok := f.groups[req.BaseDN]; ok {
			attr := req.Attributes[0]
			name, rng, _ := strings.Cut(attr, ";range=")
			var lo int
			fmt.Sscanf(rng, "%d-", &lo)
			hi := min(lo+f.rangeSize, len(members))
			got := "*"
			if hi < len(members) {
				got = fmt.Sprint(hi - 1)
			}
			e := ldap.NewEntry(req.BaseDN, map[string][]string{fmt.Sprintf("%s;range=%d-%s", name, lo, got): members[lo:hi]})
			return &ldap.SearchResult{Entries: []*ldap.Entry{e}}, nil
		}
		if e, ok := f.others[req.BaseDN]; ok {
			return &ldap.SearchResult{Entries: []*ldap.Entry{e}}, nil
		}
		return nil, ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("no such object"))
	}
	paging := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
	if strings.Contains(req.Filter, "objectClass=group") { // the groups nested in a group
		var res ldap.SearchResult
		for dn, parent := range f.nested {
			if strings.Contains(req.Filter, ldap.EscapeFilter(parent)) {
				res.Entries = append(res.Entries, ldap.NewEntry(dn, nil))
			}
		}
		res.Controls = append(res.Controls, ldap.NewControlPaging(paging.PagingSize))
		return &res, nil
	}
	start := 0
	if len(paging.Cookie) > 0 {
		fmt.Sscan(string(paging.Cookie), &start)
	}
	page := start/f.pageSize + 1
	if page == f.failPage {
		return nil, f.failWith
	}
	end := min(start+f.pageSize, len(f.people))
	res := &ldap.SearchResult{Entries: f.people[start:end], Referrals: f.referrals}
	if !f.noPaging {
		c := ldap.NewControlPaging(uint32(f.pageSize))
		if end < len(f.people) {
			c.SetCookie([]byte(fmt.Sprint(end)))
		}
		res.Controls = append(res.Controls, c)
	}
	return res, nil
}

func adPeople(n int) []*ldap.Entry {
	var out []*ldap.Entry
	for i := range n {
		attrs := map[string][]string{"mail": {fmt.Sprintf("p%d@corp.example", i)}}
		if i > 0 {
			attrs["manager"] = []string{"CN=P0,OU=Staff,DC=corp,DC=example"}
		}
		if i == 2 {
			attrs["manager"] = []string{"cn=Boss,OU=Board,DC=corp,DC=example"} // outside the search
		}
		if i == 3 {
			attrs["manager"] = []string{"CN=Gone,OU=Staff,DC=corp,DC=example"} // deleted
		}
		out = append(out, adEntry(fmt.Sprintf("CN=P%d,OU=Staff,DC=corp,DC=example", i), guidN(byte(i)), attrs))
	}
	return out
}

func TestADCollectManagersRangeGroups(t *testing.T) {
	people := adPeople(7)
	var big []string
	for i := range 3200 {
		big = append(big, fmt.Sprintf("CN=X%d,OU=Other,DC=corp,DC=example", i))
	}
	big = append(big, "cn=p5,ou=staff,dc=corp,dc=example") // DN case differs from the entry's
	f := &fakeAD{people: people, pageSize: 3, rangeSize: 1500,
		groups: map[string][]string{"CN=All Staff,OU=Groups,DC=corp,DC=example": big,
			"CN=Interns,OU=Groups,DC=corp,DC=example": {"CN=P6,OU=Staff,DC=corp,DC=example"}},
		nested: map[string]string{"CN=Interns,OU=Groups,DC=corp,DC=example": "CN=All Staff,OU=Groups,DC=corp,DC=example"},
		others: map[string]*ldap.Entry{"cn=Boss,OU=Board,DC=corp,DC=example": ldap.NewEntry("cn=Boss,OU=Board,DC=corp,DC=example", map[string][]string{"mail": {"boss@corp.example"}})}}
	cfg := config.LDAPFeed{URL: "ldaps://dc1.corp.example", BaseDN: "OU=Staff,DC=corp,DC=example", ActiveDirectory: true,
		Groups: []string{"CN=All Staff,OU=Groups,DC=corp,DC=example"}}
	mp, _ := newMapping(true, nil)
	pages := 0
	snap, err := collect(f, mp, cfg, "(objectClass=user)", ldap.ScopeWholeSubtree, 3, 0, adNow, func(p, _ int) { pages = p })
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || len(snap.Records) != 7 {
		t.Fatalf("%d pages, %d records", pages, len(snap.Records))
	}
	ranges := 0
	for _, s := range f.searches {
		if strings.Contains(s, "member;range=") {
			ranges++
		}
	}
	if ranges != 4 { // 0-1499, 1500-2999, 3000-*; the nested group's 0-*
		t.Fatalf("%d range searches: %v", ranges, f.searches)
	}
	byEmail := map[string]int{}
	for i, r := range snap.Records {
		byEmail[r.Email] = i
	}
	rec := func(email string) (string, []string) {
		r := snap.Records[byEmail[email]]
		return r.Attributes.ManagerEmail, r.Attributes.Groups
	}
	if m, _ := rec("p1@corp.example"); m != "p0@corp.example" {
		t.Fatalf("manager in the snapshot: %q", m)
	}
	if m, _ := rec("p2@corp.example"); m != "boss@corp.example" {
		t.Fatalf("manager looked up: %q", m)
	}
	if m, _ := rec("p3@corp.example"); m != "" {
		t.Fatalf("deleted manager: %q", m)
	}
	if _, g := rec("p5@corp.example"); len(g) != 1 || g[0] != "All Staff" {
		t.Fatalf("groups of the member past the first range: %v", g)
	}
	if _, g := rec("p6@corp.example"); len(g) != 1 || g[0] != "All Staff" {
		t.Fatalf("groups of the member of a nested group: %v", g)
	}
	if _, g := rec("p4@corp.example"); len(g) != 0 {
		t.Fatalf("groups of a non-member: %v", g)
	}
}

func TestGroupScopeFilter(t *testing.T) {
	o := &options{cfg: config.LDAPFeed{ActiveDirectory: true, Groups: []string{"CN=Sales (EU),OU=G,DC=corp,DC=example"}}}
	f, err := o.filter()
	if err != nil || f != `(&(&(objectCategory=person)(objectClass=user))(|(memberOf:1.2.840.113556.1.4.1941:=CN=Sales \28EU\29,OU=G,DC=corp,DC=example)))` {
		t.Fatalf("%s, %v", f, err)
	}
	// OpenLDAP: no memberOf clause (direct groups only there); collect
	// keeps the members of the groups it walked.
	o = &options{cfg: config.LDAPFeed{Filter: "uid=*", Groups: []string{"cn=a,dc=x", "cn=b,dc=x"}}}
	if f, err := o.filter(); err != nil || f != "(uid=*)" {
		t.Fatalf("%s, %v", f, err)
	}
	o = &options{cfg: config.LDAPFeed{Filter: "(&(uid=*)"}}
	if _, err := o.filter(); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestSearchFailuresNameTheirCause(t *testing.T) {
	mp, _ := newMapping(true, nil)
	cfg := config.LDAPFeed{URL: "ldaps://dc1", BaseDN: "DC=corp,DC=example", ActiveDirectory: true}
	for _, tc := range []struct {
		name string
		edit func(f *fakeAD)
		want error
		text string
	}{
		{"size limit", func(f *fakeAD) {
			f.failPage, f.failWith = 2, ldap.NewError(ldap.LDAPResultSizeLimitExceeded, errors.New("Size Limit Exceeded"))
		}, ErrSizeLimit, "page 2 after 3 entries"},
		{"time limit", func(f *fakeAD) {
			f.failPage, f.failWith = 1, ldap.NewError(ldap.LDAPResultTimeLimitExceeded, errors.New("Time Limit Exceeded"))
		}, ErrTimeLimit, "page 1 after 0 entries"},
		{"timeout", func(f *fakeAD) {
			f.failPage, f.failWith = 2, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection timed out"))
		}, ErrTimeout, "page 2"},
		{"connection lost", func(f *fakeAD) {
			f.failPage, f.failWith = 3, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
		}, ErrConnection, "page 3 after 6 entries"},
		{"cookie rejected", func(f *fakeAD) {
			f.failPage, f.failWith = 2, ldap.NewError(ldap.LDAPResultUnwillingToPerform, errors.New("paged results cookie is invalid"))
		}, ErrPaging, "page 2"},
		{"paging control lost", func(f *fakeAD) { f.noPaging = true }, ErrPaging, "no paging control"},
		{"referral result", func(f *fakeAD) {
			f.failPage, f.failWith = 1, ldap.NewError(ldap.LDAPResultReferral, errors.New("Referral"))
		}, ErrReferral, "page 1"},
		{"continuation reference", func(f *fakeAD) {
			f.referrals = []string{"ldap://other.example/DC=other,DC=example"}
		}, ErrReferral, "ldap://other.example/DC=other,DC=example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAD{people: adPeople(7), pageSize: 3}
			tc.edit(f)
			_, err := collect(f, mp, cfg, "(objectClass=user)", ldap.ScopeWholeSubtree, 3, 0, adNow, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "nothing is withdrawn") {
				t.Fatalf("got %v; want %v, %q", err, tc.want, tc.text)
			}
		})
	}
	// AD's references to its DNS and configuration partitions are ignored.
	f := &fakeAD{people: adPeople(7), pageSize: 3, referrals: []string{
		"ldap://DomainDnsZones.corp.example/DC=DomainDnsZones,DC=corp,DC=example",
		"ldap://corp.example/CN=Configuration,DC=corp,DC=example"}}
	if snap, err := collect(f, mp, cfg, "(objectClass=user)", ldap.ScopeWholeSubtree, 3, 0, adNow, nil); err != nil || len(snap.Records) != 7 {
		t.Fatalf("AD partition references: %v", err)
	}
}

func TestOpenLDAPDisabledAttribute(t *testing.T) {
	mp, err := newMapping(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := ldap.NewEntry("uid=a,ou=people,dc=example,dc=com", map[string][]string{"entryUUID": {"0B1D1C3E-1111-4222-8333-444455556666"}, "mail": {"a@example.com"}, "pwdAccountLockedTime": {"000001010000Z"}, "ou": {"Sales"}})
	rec, _, flag := mp.record(e, adNow)
	if flag != nil || !rec.Deactivated || rec.Key != "0b1d1c3e-1111-4222-8333-444455556666" || rec.Attributes.Department != "Sales" {
		t.Fatalf("%+v %+v", rec, flag)
	}
	mp, _ = newMapping(false, map[string]string{"disabled": "employeeStatus"})
	e = ldap.NewEntry("uid=a,ou=people,dc=example,dc=com", map[string][]string{"entryUUID": {"x"}, "mail": {"a@example.com"}, "employeeStatus": {"FALSE"}})
	if rec, _, _ := mp.record(e, adNow); rec.Deactivated {
		t.Fatal("employeeStatus FALSE deactivated")
	}
}
