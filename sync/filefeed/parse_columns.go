package filefeed

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// rosterField is what a roster column fills. The header row is mapped to
// one rosterField per column once; rows are then read by index.
type rosterField uint8

const (
	fieldNone rosterField = iota // an unknown header: the column is ignored
	fieldEmail
	fieldGivenName
	fieldFamilyName
	fieldDisplayName
	fieldTitle
	fieldDepartment
	fieldLocation
	fieldEmployeeID
	fieldManagerEmail
	fieldRole
	fieldGroups
	fieldStatus
	fieldCustom // "custom.<name>": Attributes.Custom[name]
)

// rosterAttributes are the attribute names a feed's columns may map to:
// store.Attributes' JSON names, "email", "status", and "custom.<name>".
var rosterAttributes = map[string]rosterField{
	"email":         fieldEmail,
	"given_name":    fieldGivenName,
	"family_name":   fieldFamilyName,
	"display_name":  fieldDisplayName,
	"title":         fieldTitle,
	"department":    fieldDepartment,
	"location":      fieldLocation,
	"employee_id":   fieldEmployeeID,
	"manager_email": fieldManagerEmail,
	"role":          fieldRole,
	"groups":        fieldGroups,
	"status":        fieldStatus,
}

const customPrefix = "custom."

// relationPrefix maps a column to a named relation: "relation.parent" holds
// the parent's email (the directory checks the name against the tenant's).
const relationPrefix = "relation."

// extensible reports whether attr is custom.<name> or relation.<name>.
func extensible(attr string) bool {
	for _, prefix := range []string{customPrefix, relationPrefix} {
		if name, ok := strings.CutPrefix(attr, prefix); ok && strings.TrimSpace(name) != "" {
			return true
		}
	}
	return false
}

// rosterDefaultHeaders are the headers recognised without configuration, per
// attribute, in the order Template and error messages list them (the first
// is the one Template writes). "Name" alone is deliberately absent: HR files
// use it for the full name, the family name and the login alike.
var rosterDefaultHeaders = []struct {
	attr    string
	headers []string
}{
	{"email", []string{"Email", "Work Email", "E-mail Address", "Email Address", "Mail"}},
	{"given_name", []string{"First Name", "Given Name"}},
	{"family_name", []string{"Last Name", "Surname", "Family Name"}},
	{"display_name", []string{"Display Name", "Full Name"}},
	{"title", []string{"Title", "Job Title"}},
	{"department", []string{"Department"}},
	{"location", []string{"Location", "Office"}},
	{"employee_id", []string{"Employee ID", "Employee Number"}},
	{"manager_email", []string{"Manager Email", "Manager"}},
	{"role", []string{"Role"}},
	{"groups", []string{"Groups"}},
	{"status", []string{"Status"}},
}

// rosterDefaultIndex maps a normalized default header to its attribute.
var rosterDefaultIndex = func() map[string]string {
	m := map[string]string{}
	for _, d := range rosterDefaultHeaders {
		for _, h := range d.headers {
			m[normalizeHeader(h)] = d.attr
		}
	}
	return m
}()

// normalizeHeader folds a header for matching: case, spaces, hyphens and
// underscores do not count, so "E-mail Address", "email address" and
// "EMAIL_ADDRESS" are one header (and "employee_id" is "Employee ID"). A
// byte order mark left in a first header cell does not count either.
func normalizeHeader(h string) string {
	var b strings.Builder
	b.Grow(len(h))
	for _, r := range h {
		if unicode.IsSpace(r) || r == '-' || r == '_' || r == '\uFEFF' {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// customHeader is the attribute a header "custom.<name>" fills by default,
// "custom.<name>", or "" for any other header. The prefix is matched in
// any case ("Custom.Region" too); the name is kept as the header spells it
// (custom attribute names are case-sensitive, and the card export writes
// them as stored). relation.<name> has no such default: a relation is
// checked against the tenant's declared names, and the export writes the
// relations in one cell.
func customHeader(h string) string {
	if len(h) <= len(customPrefix) || !strings.EqualFold(h[:len(customPrefix)], customPrefix) {
		return ""
	}
	name := h[len(customPrefix):]
	if strings.TrimSpace(name) == "" {
		return ""
	}
	return customPrefix + name
}

// attributeLabel is how messages name an attribute: "email", "employee id",
// "custom.cost_center".
func attributeLabel(attr string) string {
	if extensible(attr) {
		return attr
	}
	return strings.ReplaceAll(attr, "_", " ")
}

// rosterColumnPlan is the configured side of header mapping, prepared once
// per Parse from ParseOptions.
type rosterColumnPlan struct {
	// configured maps a normalized configured header to its attribute.
	configured map[string]string
	// configuredHeader is the header text as configured, per attribute.
	configuredHeader map[string]string
	// key is "email" or "employee_id".
	key string
	// ignored are the normalized headers configured as IgnoreColumn.
	ignored map[string]bool
	// optional: configured headers the file lacks are dropped rather than
	// required (an import's remembered mapping, ParseOptions.ColumnsOptional).
	optional bool
	// header is how each non-empty header cell of the last mapHeader mapped.
	header []HeaderColumn
}

func newRosterColumnPlan(opt ParseOptions) (*rosterColumnPlan, error) {
	cp := &rosterColumnPlan{
		configured:       map[string]string{},
		configuredHeader: map[string]string{},
		key:              opt.Key,
		ignored:          map[string]bool{},
		optional:         opt.ColumnsOptional,
	}
	switch cp.key {
	case "":
		cp.key = "email"
	case "email", "employee_id":
	default:
		return nil, fmt.Errorf("key %q: want email or employee_id", opt.Key)
	}
	add := func(what, header, attr string) error {
		n := normalizeHeader(header)
		if n == "" {
			return fmt.Errorf("%s: empty header", what)
		}
		if attr == IgnoreColumn {
			if prev, ok := cp.configured[n]; ok || cp.ignored[n] {
				return fmt.Errorf("%s: header %q is already mapped to %s", what, header, cmp.Or(prev, IgnoreColumn))
			}
			cp.ignored[n] = true
			return nil
		}
		if cp.ignored[n] {
			return fmt.Errorf("%s: header %q is already mapped to %s", what, header, IgnoreColumn)
		}
		if _, ok := rosterAttributes[attr]; !ok {
			if !extensible(attr) {
				return fmt.Errorf("%s: unknown attribute %q (want status, custom.<name>, relation.<name> or one of email, given_name, family_name, display_name, title, department, location, employee_id, manager_email, role, groups)", what, attr)
			}
		}
		if prev, ok := cp.configured[n]; ok {
			return fmt.Errorf("%s: header %q is already mapped to %s", what, header, prev)
		}
		if prev, ok := cp.configuredHeader[attr]; ok {
			return fmt.Errorf("%s: attribute %q is already mapped from column %q", what, attr, prev)
		}
		cp.configured[n] = attr
		cp.configuredHeader[attr] = header
		return nil
	}
	for _, header := range slices.Sorted(maps.Keys(opt.Columns)) {
		if err := add(fmt.Sprintf("columns[%q]", header), header, opt.Columns[header]); err != nil {
			return nil, err
		}
	}
	if opt.StatusColumn != "" {
		if h, ok := cp.configuredHeader["status"]; ok {
			return nil, fmt.Errorf("status column %q: columns already map %q to status; set one, not both", opt.StatusColumn, h)
		}
		if err := add("status column", opt.StatusColumn, "status"); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// rosterColumn is one mapped column of a file.
type rosterColumn struct {
	index  int
	field  rosterField
	attr   string // "email", "custom.cost_center", …
	header string // as the file spells it
}

// mapHeader maps a file's header row. The rules, in order:
//
//   - A header the feed configures (Columns, StatusColumn) maps to its
//     attribute, and an attribute that is configured is read from its
//     configured header only: the defaults for it are ignored, so a file
//     with both "Email" and the configured "Work Email" reads "Work Email".
//   - Otherwise a header matching a default (rosterDefaultHeaders) maps to
//     that attribute, and a header "custom.<name>" to the custom attribute
//     <name> as spelled (customHeader: what the card export writes, so an
//     exported file imports back without a mapping); any other header is
//     ignored.
//   - Two columns for one attribute: the first (leftmost) is read. For the
//     key and the email this is an error instead — picking the wrong one of
//     "Email" and "Work Email" would key every person wrongly — and the
//     message says to configure the column. For other attributes the later
//     column is reported as a Flag on the header's line (the snapshot's
//     Flagged lists it first) and ignored.
//   - Required: the email column, the employee id column when the key is
//     employee_id, and every configured column (a configured column that
//     disappears from the export would otherwise silently clear the
//     attribute of every person, or, for status, enable everyone who left).
//
// It returns the mapped columns in file order, the width of the header
// (one past its last non-empty cell) and the header notes.
func (cp *rosterColumnPlan) mapHeader(header []string) (cols []rosterColumn, width int, notes []string, err error) {
	byAttr := map[string]int{} // attribute → index into cols
	var ambiguous *ColumnError
	if cp.optional {
		cp.dropAbsent(header)
	}
	cp.header = cp.header[:0]
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		width = i + 1
		n := normalizeHeader(h)
		hc := HeaderColumn{Column: i + 1, Header: h}
		ignore := func(reason string) {
			hc.Ignored, hc.Reason, hc.By = true, reason, ""
			cp.header = append(cp.header, hc)
		}
		if cp.ignored[n] {
			ignore("ignored by the column mapping")
			continue
		}
		attr, ok := cp.configured[n]
		hc.By = "columns"
		if !ok {
			attr, hc.By = rosterDefaultIndex[n], "default"
			if attr == "" {
				attr = customHeader(h)
			}
			if attr == "" {
				ignore("no card field of that name; map it in columns (to a field, custom.<name> or relation.<name>) to read it")
				continue
			}
			if from, configured := cp.configuredHeader[attr]; configured {
				ignore(fmt.Sprintf("%s is read from column %q, as the column mapping says", attributeLabel(attr), from))
				continue
			}
		}
		if first, dup := byAttr[attr]; dup {
			if (attr == "email" || attr == cp.key) && ambiguous == nil {
				ambiguous = &ColumnError{Attribute: attr, Found: []string{cols[first].header, h}}
			}
			note := fmt.Sprintf("column %q ignored: %s is read from column %q", h, attributeLabel(attr), cols[first].header)
			notes = append(notes, note)
			ignore(note)
			continue
		}
		hc.Target = attr
		cp.header = append(cp.header, hc)
		c := rosterColumn{index: i, attr: attr, header: h}
		if extensible(attr) {
			c.field = fieldCustom
		} else {
			c.field = rosterAttributes[attr]
		}
		byAttr[attr] = len(cols)
		cols = append(cols, c)
	}
	if ambiguous != nil {
		return nil, 0, nil, ambiguous
	}
	required := []string{cp.key}
	if cp.key != "email" {
		required = append(required, "email")
	}
	for _, attr := range slices.Sorted(maps.Keys(cp.configuredHeader)) {
		if !slices.Contains(required, attr) {
			required = append(required, attr)
		}
	}
	for _, attr := range required {
		if _, ok := byAttr[attr]; ok {
			continue
		}
		ce := &ColumnError{Attribute: attr}
		if h, ok := cp.configuredHeader[attr]; ok {
			ce.LookedFor = []string{h}
		} else {
			for _, d := range rosterDefaultHeaders {
				if d.attr == attr {
					ce.LookedFor = d.headers
				}
			}
		}
		return nil, 0, nil, ce
	}
	return cols, width, notes, nil
}

// ColumnError is a header row the feed cannot use: a required column is
// missing (Found is empty), or two columns could both be the key or the
// email (Found names them).
type ColumnError struct {
	// Attribute is the attribute the column would fill: "email",
	// "employee_id", "status", "custom.cost_center".
	Attribute string
	// LookedFor are the headers that would have matched.
	LookedFor []string
	// Found are the ambiguous columns, as the file spells them.
	Found []string
}

func (e *ColumnError) Error() string {
	if len(e.Found) > 1 {
		return fmt.Sprintf("columns %q and %q both look like the %s column; name the one to use in the feed's columns",
			e.Found[0], e.Found[1], attributeLabel(e.Attribute))
	}
	quoted := make([]string, len(e.LookedFor))
	for i, h := range e.LookedFor {
		quoted[i] = fmt.Sprintf("%q", h)
	}
	return fmt.Sprintf("no %s column (looked for: %s)", attributeLabel(e.Attribute), strings.Join(quoted, ", "))
}

// dropAbsent forgets the configured headers the header row lacks, so that
// a remembered mapping applies to the columns a file has and the defaults
// read the rest.
func (cp *rosterColumnPlan) dropAbsent(header []string) {
	present := map[string]bool{}
	for _, h := range header {
		present[normalizeHeader(strings.TrimSpace(h))] = true
	}
	for n, attr := range cp.configured {
		if !present[n] {
			delete(cp.configured, n)
			delete(cp.configuredHeader, attr)
		}
	}
	for n := range cp.ignored {
		if !present[n] {
			delete(cp.ignored, n)
		}
	}
}
