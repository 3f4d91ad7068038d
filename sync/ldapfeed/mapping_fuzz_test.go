package ldapfeed

import (
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// fuzzEntry builds an entry from the fuzzer's input: spec holds
// "name: value" lines (a name may repeat, and may carry options such as
// AD's range retrieval, member;range=0-1499); guid, uac and expires, when
// not empty, are objectGUID's bytes, userAccountControl and accountExpires.
// The input is capped: a directory sends an entry of bounded size.
func fuzzEntry(dn, spec string, guid []byte, uac, expires string) *ldap.Entry {
	e := &ldap.Entry{DN: dn}
	add := func(name, v string) {
		for _, a := range e.Attributes {
			if a.Name == name {
				a.Values, a.ByteValues = append(a.Values, v), append(a.ByteValues, []byte(v))
				return
			}
		}
		e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: name, Values: []string{v}, ByteValues: [][]byte{[]byte(v)}})
	}
	for i, line := range strings.Split(spec, "\n") {
		if i == 64 {
			break
		}
		if name, v, ok := strings.Cut(line, ":"); ok {
			add(strings.TrimSpace(name), strings.TrimPrefix(v, " "))
		}
	}
	if len(guid) > 0 {
		add("objectGUID", string(guid))
	}
	if uac != "" {
		add(attrUAC, uac)
	}
	if expires != "" {
		add(attrAccountExpires, expires)
	}
	return e
}

// expiredAt is the reference for accountExpires, in exact integers: the
// value is 100 ns intervals since 1601, 0 and 2^63-1 mean never.
func expiredAt(v string, now time.Time) (expired, ok bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return false, false
	}
	if n <= 0 || n == 1<<63-1 {
		return false, true
	}
	at := new(big.Int).Mul(big.NewInt(n-adEpochOffset), big.NewInt(100)) // ns since 1970
	return at.Cmp(big.NewInt(now.UnixNano())) <= 0, true
}

// FuzzMapping maps fuzzed entries, on AD and OpenLDAP, with the key from
// objectGUID or from a text attribute. Properties: no panic; a mapped
// record has a key, an email NormalizeEmail takes as it is, and only
// UTF-8 text without NUL (what the stores keep as sent) — else the entry
// is flagged; the AD rules agree with a reference (the disabled bit, and
// accountExpires computed exactly); and mapping the same entry again gives
// the same result.
func FuzzMapping(f *testing.F) {
	ad := "mail: ann@corp.example\ngivenName: Ann\nsn: Lee\ntitle: CFO\nmanager: CN=Bob,OU=Staff,DC=corp,DC=example\nemployeeID: 00042"
	f.Add(true, false, "CN=Ann,OU=Staff,DC=corp,DC=example", ad, guid, "512", "9223372036854775807")
	f.Add(true, false, "CN=Ann,OU=Staff,DC=corp,DC=example", ad, guid, "514", "0")
	f.Add(true, false, "CN=Ann", "userPrincipalName: ann@corp.example\nmember;range=0-1499: CN=X\nmember;range=1500-*: CN=Y", guid, "66050", filetime(adNow.Add(-time.Hour)))
	f.Add(true, false, "CN=Ann", "mail;range=0-*: ann@corp.example\nMAIL: Ann@Corp.Example", guid[:15], "0x2", "-1")
	f.Add(true, false, "CN=Ann", ad, guid, "", "2650467743999999999")           // 9999-12-31: AD's "end of" far future
	f.Add(true, false, "CN=Ann", ad, guid, "-2147483646", "116444736000000001") // 1970 and a bit; a negative UAC
	f.Add(true, false, "CN=Ann", "mail: ann@corp.example\ntitle: \xff\xfe", guid, "512", "")
	f.Add(true, false, "CN=Ann", "mail: ann@corp.example\ndepartment: R\x00D", guid, "512", "")
	f.Add(false, false, "uid=ann,ou=people,dc=example,dc=com", "entryUUID: 6F1B0D5E-3C2A-4B1F-9A8E-0123456789AB\nmail: ann@example.com\ndepartmentNumber: R&D\nou: Staff\npwdAccountLockedTime: 000001010000Z", []byte(nil), "", "")
	f.Add(false, false, "uid=ann", "entryUUID: x\nmail: \"ann lee\"@example.com\nmail: second@example.com", []byte(nil), "2", "")
	f.Add(false, true, "uid=ann", "employeeNumber: 00\xc042\nmail: ann@example.com", []byte(nil), "", "")
	f.Add(false, true, "uid=ann", "employeeNumber: 0042\nmail: Ann Lee <ann@example.com>", []byte(nil), "", "")
	f.Add(false, false, "uid=ann", "entryUUID: u1\nmail:  \n mail: ann@example.com\n: empty name", []byte(nil), "512", "")

	now := adNow
	f.Fuzz(func(t *testing.T, activeDirectory, textID bool, dn, spec string, guidBytes []byte, uac, expires string) {
		if len(dn)+len(spec)+len(guidBytes)+len(uac)+len(expires) > 4096 {
			t.Skip("larger than an entry rosterd reads")
		}
		override := map[string]string{"custom.cost_center": "extensionAttribute1", "role": "employeeType"}
		if textID {
			override["id"] = "employeeNumber"
		}
		mp, err := newMapping(activeDirectory, override)
		if err != nil {
			t.Fatal(err)
		}
		rec, mgr, flag := mp.record(fuzzEntry(dn, spec, guidBytes, uac, expires), now)
		again, mgr2, flag2 := mp.record(fuzzEntry(dn, spec, guidBytes, uac, expires), now)
		if !reflect.DeepEqual(rec, again) || mgr != mgr2 || !reflect.DeepEqual(flag, flag2) {
			t.Fatalf("two mappings of one entry differ:\n%+v %q %+v\n%+v %q %+v", rec, mgr, flag, again, mgr2, flag2)
		}
		if flag != nil {
			if flag.Reason == "" || flag.Line != dn {
				t.Fatalf("flag without a reason or the DN: %+v", flag)
			}
			return
		}
		if rec.Key == "" || rec.Line != dn {
			t.Fatalf("record without a key or the DN: %+v", rec)
		}
		if display, _, err := directory.NormalizeEmail(rec.Email); err != nil || display != rec.Email {
			t.Fatalf("record with email %q: NormalizeEmail gives %q, %v", rec.Email, display, err)
		}
		texts := []string{rec.Key, rec.Email}
		for _, name := range store.TextAttributes {
			texts = append(texts, *rec.Attributes.Text(name))
		}
		for _, v := range rec.Attributes.Custom {
			texts = append(texts, v)
		}
		for _, v := range texts {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("record holds %q, not UTF-8 text without NUL: %+v", v, rec)
			}
		}
		e := fuzzEntry(dn, spec, guidBytes, uac, expires)
		if off, err := AccountDisabled(first(e, attrUAC)); err == nil && off && !rec.Deactivated {
			t.Fatalf("userAccountControl %q has the disabled bit, record is active", first(e, attrUAC))
		}
		if activeDirectory && mp.disabled == "" {
			want, ok := expiredAt(first(e, attrAccountExpires), now)
			off, _ := AccountDisabled(first(e, attrUAC))
			if ok && rec.Deactivated != (want || off) {
				t.Fatalf("accountExpires %q at %v: deactivated %t, want %t (disabled bit %t)", first(e, attrAccountExpires), now, rec.Deactivated, want || off, off)
			}
		}
	})
}

// TestAccountExpiresFarFuture: AD's accountExpires beyond the year 2262
// (time.Duration's reach from 1970; AD's date picker goes to 9999) is a
// date in the future, not an overflow that deactivates the person.
func TestAccountExpiresFarFuture(t *testing.T) {
	for _, v := range []string{"2650467743999999999", "9223372036854775806", "2000000000000000000"} {
		if exp, err := AccountExpired(v, adNow); err != nil || exp {
			t.Errorf("accountExpires %s: expired %t, %v; want a future date", v, exp, err)
		}
	}
	for _, v := range []string{"1", "116444736000000000", filetime(adNow), filetime(adNow.Add(-time.Nanosecond * 100))} {
		if exp, err := AccountExpired(v, adNow); err != nil || !exp {
			t.Errorf("accountExpires %s: expired %t, %v; want expired", v, exp, err)
		}
	}
	if exp, _ := AccountExpired(filetime(adNow.Add(100*time.Nanosecond)), adNow); exp {
		t.Error("accountExpires 100 ns from now: expired")
	}
}

// TestMappingFlagsNonText: a value that is not UTF-8 text (a binary
// attribute mapped to a card attribute, a directory holding Latin-1) or
// holds a NUL is flagged with the attribute's name, not stored mangled
// (JSON turns invalid bytes into U+FFFD, so every run would update the
// card again) or sent to PostgreSQL, which refuses it in text.
func TestMappingFlagsNonText(t *testing.T) {
	ad, err := newMapping(true, map[string]string{"custom.badge": "extensionAttribute2"})
	if err != nil {
		t.Fatal(err)
	}
	byNumber, err := newMapping(false, map[string]string{"id": "employeeNumber"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		mp    *mapping
		attrs map[string][]string
		want  string
	}{
		{"Latin-1 title", ad, map[string][]string{"mail": {"ann@corp.example"}, "title": {"Direct\xf8r"}}, "title (title)"},
		{"NUL in a custom attribute", ad, map[string][]string{"mail": {"ann@corp.example"}, "extensionAttribute2": {"A\x00B"}}, "custom.badge (extensionAttribute2)"},
		{"binary id", byNumber, map[string][]string{"mail": {"ann@example.com"}, "employeeNumber": {"\x00\x01\xfe"}}, "employeeNumber"},
		{"Latin-1 id", byNumber, map[string][]string{"mail": {"ann@example.com"}, "employeeNumber": {"N\xba42"}}, "employeeNumber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _, flag := tc.mp.record(adEntry("CN=Ann,OU=Staff,DC=corp,DC=example", guid, tc.attrs), adNow)
			if flag == nil || !strings.Contains(flag.Reason, tc.want) || !strings.Contains(flag.Reason, "UTF-8") {
				t.Fatalf("record %+v, flag %+v; want flagged naming %s", rec, flag, tc.want)
			}
			if strings.ContainsAny(flag.Reason, "\x00\xf8\xba") {
				t.Errorf("flag quotes the value: %q", flag.Reason)
			}
		})
	}
}
