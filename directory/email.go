package directory

import (
	"fmt"
	"net/mail"
	"strings"
)

// InvalidEmailError says why an address was refused.
type InvalidEmailError struct {
	Email  string
	Reason string
}

func (e *InvalidEmailError) Error() string {
	return fmt.Sprintf("invalid email %q: %s", e.Email, e.Reason)
}

// NormalizeEmail validates an address and returns its display form (trimmed)
// and its matching form (trimmed and case-folded). Cards are unique per
// tenant by the matching form: "Ann.Lee@Example.com" and "ann.lee@example.com "
// are one person, as every identity provider in practice treats them,
// although RFC 5321 lets a local part be case-sensitive.
func NormalizeEmail(s string) (display, norm string, err error) {
	display = strings.TrimSpace(s)
	if display == "" {
		return "", "", &InvalidEmailError{Email: s, Reason: "empty"}
	}
	if len(display) > 254 {
		return "", "", &InvalidEmailError{Email: s, Reason: "longer than 254 characters"}
	}
	if !plainAddress(display) {
		addr, perr := mail.ParseAddress(display)
		if perr != nil || addr.Address != display || addr.Name != "" {
			return "", "", &InvalidEmailError{Email: s, Reason: "not a plain address like name@example.com"}
		}
	}
	local, domain, _ := strings.Cut(display, "@")
	switch {
	case local == "":
		return "", "", &InvalidEmailError{Email: s, Reason: "no local part before @"}
	case !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "["):
		return "", "", &InvalidEmailError{Email: s, Reason: "domain must be a host name such as example.com"}
	}
	return display, strings.ToLower(display), nil
}

// plainAddress reports whether s is an address net/mail would take as it
// is, by a quick look: letters, digits and ._%+- before one @, letters,
// digits, . and - after it, no dot at either end of a part or twice in a
// row. Almost every address is one; the others go through net/mail.
func plainAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' || s[i-1] == '@' || s[i+1] == '@' {
				return false
			}
		case (c == '_' || c == '%' || c == '+') && i < at:
		case c == '@' && i == at:
		default:
			return false
		}
	}
	return true
}
