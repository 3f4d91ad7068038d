package directory

import (
	"net/mail"
	"strings"
)

// TextEntry is one address found in pasted text.
type TextEntry struct {
	// Line is the 1-based line it was on; Text the entry as pasted.
	Line int
	Text string
	// Person holds the email and, from "Name <email>", the names.
	Person Person
	// Err: the entry is not an address.
	Err error
}

// ParsePeopleText reads people pasted from a spreadsheet or a mail
// client's To: line: entries separated by newlines, commas, semicolons
// or (bare addresses) blanks, each a bare address, `Name <email>`, or
// `"Last, First" <email>` (net/mail's RFC 5322 form: a comma inside
// quotes does not split). A name with a comma is "Last, First"; any
// other is split at its last blank into given and family name.
func ParsePeopleText(text string) []TextEntry {
	var out []TextEntry
	for n, line := range strings.Split(text, "\n") {
		for _, item := range splitEntries(strings.TrimSuffix(line, "\r")) {
			if !strings.ContainsAny(item, `<"`) {
				// Bare addresses, perhaps several split by blanks.
				for _, f := range strings.Fields(item) {
					e := TextEntry{Line: n + 1, Text: f, Person: Person{Email: f}}
					if _, _, err := NormalizeEmail(f); err != nil {
						e.Err = err
					}
					out = append(out, e)
				}
				continue
			}
			e := TextEntry{Line: n + 1, Text: item}
			addr, err := mail.ParseAddress(item)
			if err != nil {
				e.Err = &InvalidEmailError{Email: item, Reason: "not an address or Name <address>: " + err.Error()}
				e.Person.Email = item
				out = append(out, e)
				continue
			}
			e.Person.Email = addr.Address
			if _, _, err := NormalizeEmail(addr.Address); err != nil {
				e.Err = err
			}
			e.Person.Attributes.GivenName, e.Person.Attributes.FamilyName = splitName(addr.Name)
			out = append(out, e)
		}
	}
	return out
}

// splitEntries splits a line at commas and semicolons outside quotes and
// angle brackets, dropping empty entries.
func splitEntries(line string) []string {
	var (
		out     []string
		start   int
		quoted  bool
		angle   bool
		escaped bool
	)
	flush := func(end int) {
		if s := strings.TrimSpace(line[start:end]); s != "" {
			out = append(out, s)
		}
		start = end + 1
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"' && !angle:
			quoted = !quoted
		case c == '<' && !quoted:
			angle = true
		case c == '>' && !quoted:
			angle = false
		case (c == ',' || c == ';' || c == '\t') && !quoted && !angle:
			flush(i)
		}
	}
	flush(len(line))
	return out
}

// splitName: "Last, First" → (First, Last); "Mary Ann Smith" → (Mary Ann,
// Smith); one word is a given name.
func splitName(name string) (given, family string) {
	name = strings.Join(strings.Fields(name), " ")
	if last, first, ok := strings.Cut(name, ","); ok {
		return strings.TrimSpace(first), strings.TrimSpace(last)
	}
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}
