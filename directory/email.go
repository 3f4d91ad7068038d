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
	addr, perr := mail.ParseAddress(display)
	if perr != nil || addr.Address != display || addr.Name != "" {
		return "", "", &InvalidEmailError{Email: s, Reason: "not a plain address like name@example.com"}
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
