package ldapfeed

import (
	"encoding/binary"
	"fmt"
	"github.com/rosterd/rosterd/config"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// DefaultAttributes returns the default mapping of our attribute names to
// LDAP attribute names, for AD or OpenLDAP. A value may list several LDAP
// attributes separated by commas: the first with a value wins. Besides the
// store.Attributes names (given_name … employee_id, role,
// custom.<name>) it holds:
//
//   - id: the immutable id that keys the claim (entryUUID, objectGUID);
//   - email: the address (mail; on AD mail, then userPrincipalName);
//   - manager: an attribute holding the manager's DN, read into
//     manager_email;
//   - disabled: an attribute whose value (anything but FALSE, 0, no)
//     deactivates the person; "" for none.
//
// A feed's attributes override these key by key; an empty value removes a key.
func DefaultAttributes(activeDirectory bool) map[string]string {
	if activeDirectory {
		return map[string]string{
			"id": "objectGUID", "email": "mail,userPrincipalName",
			"given_name": "givenName", "family_name": "sn", "display_name": "displayName",
			"title": "title", "department": "department", "location": "physicalDeliveryOfficeName",
			"employee_id": "employeeID", "manager": "manager",
		}
	}
	return map[string]string{
		"id": "entryUUID", "email": "mail",
		"given_name": "givenName", "family_name": "sn", "display_name": "displayName",
		"title": "title", "department": "departmentNumber,ou", "employee_id": "employeeNumber",
		"manager": "manager", "disabled": "pwdAccountLockedTime",
	}
}

// Attribute names the AD rules read on every directory.
const (
	attrUAC            = "userAccountControl"
	attrAccountExpires = "accountExpires"
	uacAccountDisable  = 0x2
)

// mapping is a feed's attribute mapping, checked.
type mapping struct {
	ad       bool
	id       string
	email    []string
	manager  string
	disabled string
	fields   []field // by name
}

// field is a card attribute (store.Attributes JSON name or custom.<x>) and
// the LDAP attributes that fill it, first first.
type field struct {
	name string
	ldap []string
}

// fieldNames are the card attributes an LDAP attribute may fill; the
// configuration checks the same list.
var fieldNames = config.LDAPFieldNames

func newMapping(ad bool, override map[string]string) (*mapping, error) {
	m := DefaultAttributes(ad)
	for k, v := range override {
		if strings.TrimSpace(v) == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	split := func(v string) []string {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	mp := &mapping{ad: ad}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := split(m[k])
		switch {
		case k == "id":
			if len(v) != 1 {
				return nil, fmt.Errorf("attributes.id names one LDAP attribute, not %q", m[k])
			}
			mp.id = v[0]
		case k == "email":
			mp.email = v
		case k == "manager":
			mp.manager = v[0]
		case k == "disabled":
			mp.disabled = v[0]
		case slices.Contains(fieldNames, k), strings.HasPrefix(k, "custom.") && len(k) > len("custom."):
			mp.fields = append(mp.fields, field{k, v}) // k in order
		default:
			return nil, fmt.Errorf("attributes: unknown name %q (want id, email, manager, disabled, %s or custom.<name>)", k, strings.Join(fieldNames, ", "))
		}
	}
	if mp.id == "" {
		return nil, fmt.Errorf("attributes.id is required: the directory's immutable id (entryUUID, objectGUID)")
	}
	if len(mp.email) == 0 {
		return nil, fmt.Errorf("attributes.email is required")
	}
	return mp, nil
}

// requested lists the LDAP attributes a search asks for.
func (m *mapping) requested() []string {
	set := map[string]bool{m.id: true, attrUAC: true}
	if m.ad {
		set[attrAccountExpires] = true
	}
	for _, e := range m.email {
		set[e] = true
	}
	for _, f := range m.fields {
		for _, a := range f.ldap {
			set[a] = true
		}
	}
	if m.manager != "" {
		set[m.manager] = true
	}
	if m.disabled != "" {
		set[m.disabled] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// first returns the first non-empty value of the first of names that has
// one. Names are compared as go-ldap's GetEqualFoldAttributeValues does,
// after a look at their lengths: attribute descriptions are ASCII (RFC
// 4512), so names of different lengths differ, and most of the dozen names
// looked up in each entry are told apart without folding.
func first(e *ldap.Entry, names ...string) string {
	for _, n := range names {
		for _, a := range e.Attributes {
			if len(a.Name) != len(n) || !strings.EqualFold(a.Name, n) {
				continue
			}
			for _, v := range a.Values {
				if v = strings.TrimSpace(v); v != "" {
					return v
				}
			}
			break // the first attribute of the name, as go-ldap's lookup
		}
	}
	return ""
}

// entryKey returns the entry's immutable id: objectGUID as a canonical GUID
// string, entryUUID (or another text attribute) lowercased.
func (m *mapping) entryKey(e *ldap.Entry) (string, error) {
	if strings.EqualFold(m.id, "objectGUID") {
		raw := e.GetEqualFoldRawAttributeValues(m.id)
		if len(raw) == 0 {
			return "", fmt.Errorf("no objectGUID")
		}
		return FormatGUID(raw[0])
	}
	v := first(e, m.id)
	if v == "" {
		return "", fmt.Errorf("no %s", m.id)
	}
	if err := checkText(v); err != nil {
		return "", fmt.Errorf("id (%s) %w", m.id, err)
	}
	return strings.ToLower(v), nil
}

// FormatGUID renders AD's 16-byte objectGUID as the canonical string
// Windows shows ("{…}" without the braces): the first three groups are
// little-endian on the wire.
func FormatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID of %d bytes, want 16", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16]), nil
}

// adEpochOffset is the number of 100 ns intervals from 1601-01-01 (AD's
// FILETIME epoch) to 1970-01-01.
const adEpochOffset = 116444736000000000

// AccountExpired reads AD's accountExpires (100 ns intervals since 1601, 0
// or 0x7FFFFFFFFFFFFFFF for never) and reports whether it is at or before
// now.
func AccountExpired(v string, now time.Time) (bool, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("accountExpires %q: %w", v, err)
	}
	if n <= 0 || n == 1<<63-1 {
		return false, nil
	}
	// Compared in AD's own unit: as a time.Duration from 1970 it would
	// overflow past the year 2262, and AD takes dates up to 9999.
	nowTicks := now.Unix()*1e7 + int64(now.Nanosecond()/100) + adEpochOffset
	return n <= nowTicks, nil
}

// AccountDisabled reads userAccountControl and reports bit 0x2.
func AccountDisabled(v string) (bool, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("userAccountControl %q: %w", v, err)
	}
	return n&uacAccountDisable != 0, nil
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return false
	}
	return true
}

// record maps one entry. A nil flag means rec is valid; managerDN is the
// raw manager DN, still to be resolved to an email.
func (m *mapping) record(e *ldap.Entry, now time.Time) (rec reconcile.Record, managerDN string, flag *reconcile.Flag) {
	rec.Line = e.DN
	key, err := m.entryKey(e)
	if err != nil {
		return rec, "", &reconcile.Flag{Line: e.DN, Reason: err.Error()}
	}
	rec.Key = key
	raw := first(e, m.email...)
	if raw == "" {
		return rec, "", &reconcile.Flag{Line: e.DN, Key: key, Reason: "no email (" + strings.Join(m.email, ", ") + ")"}
	}
	display, _, err := directory.NormalizeEmail(raw)
	if err != nil {
		return rec, "", &reconcile.Flag{Line: e.DN, Key: key, Reason: fmt.Sprintf("invalid email %q: %v", raw, err)}
	}
	rec.Email = display
	if v := first(e, attrUAC); v != "" {
		off, err := AccountDisabled(v)
		if err != nil {
			return rec, "", &reconcile.Flag{Line: e.DN, Key: key, Reason: err.Error()}
		}
		rec.Deactivated = rec.Deactivated || off
	}
	if m.ad {
		exp, err := AccountExpired(first(e, attrAccountExpires), now)
		if err != nil {
			return rec, "", &reconcile.Flag{Line: e.DN, Key: key, Reason: err.Error()}
		}
		rec.Deactivated = rec.Deactivated || exp
	}
	if m.disabled != "" && truthy(first(e, m.disabled)) {
		rec.Deactivated = true
	}
	for _, f := range m.fields {
		if v := first(e, f.ldap...); v != "" {
			if err := checkText(v); err != nil {
				return rec, "", &reconcile.Flag{Line: e.DN, Key: key, Reason: fmt.Sprintf("%s (%s) %v", f.name, strings.Join(f.ldap, ", "), err)}
			}
			rec.Attributes.Set(f.name, v) // a card attribute or custom.<name>
		}
	}
	if m.manager != "" {
		managerDN = first(e, m.manager)
	}
	return rec, managerDN, nil
}

// checkText says why v cannot be kept as a card's text, or nil: bytes
// that are not UTF-8 (a binary attribute, a directory holding Latin-1),
// which JSON would turn into U+FFFD and PostgreSQL refuses, or a NUL,
// which PostgreSQL refuses in text. The value itself is not quoted: it
// may be anything.
func checkText(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("is not UTF-8 text (a binary attribute, or another character set?)")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("holds a NUL character, not UTF-8 text")
	}
	return nil
}

// normDN is the form DNs are compared in: parsed and printed again,
// lowercased; the input lowercased when it does not parse.
func normDN(dn string) string {
	if d, err := ldap.ParseDN(dn); err == nil {
		return strings.ToLower(d.String())
	}
	return strings.ToLower(strings.TrimSpace(dn))
}

// rdnValue is the value of a DN's first RDN ("Sales" of "cn=Sales,ou=g,…").
func rdnValue(dn string) string {
	if d, err := ldap.ParseDN(dn); err == nil && len(d.RDNs) > 0 && len(d.RDNs[0].Attributes) > 0 {
		return d.RDNs[0].Attributes[0].Value
	}
	return dn
}
