package config

import (
	"fmt"
	"reflect"
	"strings"
)

// tenantDoc is the path one tenant is decoded at, as if it were the
// file's first tenant, so that its defaults and validation are the file's
// own; DecodeTenant strips it from the problems it reports.
const tenantDoc = "tenants[0]"

// DecodeTenant reads one tenant's settings as the admin API receives them,
// a JSON (or YAML) mapping of the keys a tenants[] entry of the file takes,
// onto a copy of base (nil: a new tenant): a key given replaces that key's
// whole value, a key left out keeps base's. Decoding, defaults and
// validation are the file's own, with every problem at once; a problem's
// Path is relative to the document ("saml.idp_metadata_url"). Keys that
// name files (*_file) are refused: the API does not read the server's
// disk. ${NAME} is not expanded. Its feeds with source: upload are
// checked against dropBox, the daemon's drop box, as DecodeFeed's are.
// The error is an *Error.
func DecodeTenant(data []byte, base *Tenant, dropBox *DropBox) (*Tenant, error) {
	fail := func(problems []Problem) (*Tenant, error) {
		for i := range problems {
			p := strings.TrimPrefix(problems[i].Path, tenantDoc)
			problems[i].Path, problems[i].Line = strings.TrimPrefix(p, "."), 0
		}
		return nil, &Error{Problems: problems}
	}
	if len(data) > MaxFileSize {
		return fail([]Problem{{Message: fmt.Sprintf("document is larger than %d MiB", MaxFileSize>>20)}})
	}
	root, problems := parseDocument(data)
	if len(problems) > 0 {
		return fail(problems)
	}
	t := &Tenant{}
	// A base's keys count as written, so that its explicit zeros stay
	// zeros; but a key the document gives replaces the whole value, whose
	// left-out keys take their defaults again.
	baseLines := map[string]int{}
	if base != nil {
		t = base.Clone()
		markWritten(reflect.ValueOf(t).Elem(), tenantDoc, baseLines)
	}
	c := &Config{lines: map[string]int{}}
	if dropBox != nil {
		c.DropBox = *dropBox
	} else {
		c.DropBox.Enabled = &[]bool{false}[0]
	}
	broken := map[string]bool{}
	if root != nil {
		d := &decoder{lookupEnv: func(string) (string, bool) { return "", false }, lines: c.lines, broken: broken}
		d.decode(root, reflect.ValueOf(t).Elem(), tenantDoc)
		if d.nodes > maxNodes {
			return fail(d.problems)
		}
		problems = append(problems, d.problems...)
	}
	for p := range c.lines {
		if key := p[strings.LastIndexAny(p, ".]")+1:]; strings.HasSuffix(key, "_file") {
			problems = append(problems, Problem{Path: p, Message: "files are not read through the API: give the value itself"})
			broken[p] = true
		}
	}
	given := map[string]bool{}
	for p := range c.lines {
		given[topKey(p)] = true
	}
	for p := range baseLines {
		if _, ok := c.lines[p]; !ok && !given[topKey(p)] {
			c.lines[p] = 0
		}
	}
	c.tenantDefaults(tenantDoc, t)
	v := &validator{c: c, credentials: map[string]string{}}
	v.tenant(tenantDoc, t)
	for _, p := range v.problems {
		if !repeats(p, broken) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fail(problems)
	}
	return t, nil
}

// markWritten records every field of v under path as written, keeping the
// lines already known.
func markWritten(v reflect.Value, path string, lines map[string]int) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			markWritten(v.Elem(), path, lines)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := range v.Len() {
				markWritten(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lines)
			}
		}
	case reflect.Struct:
		if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
			return
		}
		for _, f := range yamlFields(v.Type()) {
			p := joinPath(path, f.name)
			if _, ok := lines[p]; !ok {
				lines[p] = 0
			}
			markWritten(v.FieldByIndex(f.index), p, lines)
		}
	}
}

// ValidateTenant checks one tenant with the file's rules; problems' paths
// are relative to the tenant. The error is an *Error.
func ValidateTenant(t *Tenant) error {
	v := &validator{c: &Config{}, credentials: map[string]string{}}
	v.tenant(tenantDoc, t)
	if len(v.problems) == 0 {
		return nil
	}
	for i := range v.problems {
		v.problems[i].Path = strings.TrimPrefix(strings.TrimPrefix(v.problems[i].Path, tenantDoc), ".")
	}
	return &Error{Problems: v.problems}
}

// Clone returns a deep copy of the tenant.
func (t *Tenant) Clone() *Tenant {
	c := *t
	c.Precedence = cloneSlice(t.Precedence)
	c.AllowedReturnURLs = cloneSlice(t.AllowedReturnURLs)
	c.Domains = cloneSlice(t.Domains)
	c.SSODomains = cloneSlice(t.SSODomains)
	c.Roles = cloneSlice(t.Roles)
	c.RoleRules = cloneSlice(t.RoleRules)
	c.Relations = cloneSlice(t.Relations)
	c.AutoInvite = clonePtr(t.AutoInvite)
	c.SCIM = make([]SCIMConnection, len(t.SCIM))
	for i, s := range t.SCIM {
		s.Tokens = cloneSlice(s.Tokens)
		s.Authoritative = clonePtr(s.Authoritative)
		c.SCIM[i] = s
	}
	if t.SCIM == nil {
		c.SCIM = nil
	}
	if t.SAML != nil {
		s := *t.SAML
		s.Attributes = cloneMap(t.SAML.Attributes)
		s.SignRequests = clonePtr(t.SAML.SignRequests)
		c.SAML = &s
	}
	if t.Feeds != nil {
		c.Feeds = make([]Feed, len(t.Feeds))
		for i := range t.Feeds {
			c.Feeds[i] = *t.Feeds[i].Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of the feed.
func (f *Feed) Clone() *Feed {
	c := *f
	c.Authoritative = clonePtr(f.Authoritative)
	c.RunMissedOnStart = clonePtr(f.RunMissedOnStart)
	c.File.Columns = cloneMap(f.File.Columns)
	c.File.InactiveValues = cloneSlice(f.File.InactiveValues)
	c.File.Archive = clonePtr(f.File.Archive)
	c.File.Upload.AuthorizedKeys = cloneSlice(f.File.Upload.AuthorizedKeys)
	c.LDAP.Groups = cloneSlice(f.LDAP.Groups)
	c.LDAP.Attributes = cloneMap(f.LDAP.Attributes)
	return &c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s)) // an empty list stays empty, not nil
	copy(out, s)
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ValidateSCIMConnectionName checks a SCIM connection's name by the file's
// rule; the error is an *Error at path "name".
func ValidateSCIMConnectionName(name string) error {
	v := &validator{c: &Config{}, credentials: map[string]string{}}
	v.name("name", name, map[string]string{}, "SCIM connection")
	if len(v.problems) > 0 {
		return &Error{Problems: v.problems}
	}
	return nil
}

// topKey is the tenant's own key a path is under: "saml" for
// "tenants[0].saml.clock_skew".
func topKey(p string) string {
	p = strings.TrimPrefix(strings.TrimPrefix(p, tenantDoc), ".")
	if i := strings.IndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return p
}
