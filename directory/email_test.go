package directory

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
)

// normalizeSlow is NormalizeEmail with every address through net/mail.
func normalizeSlow(s string) (string, string, error) {
	display := strings.TrimSpace(s)
	if display == "" || len(display) > 254 {
		return "", "", errors.New("length")
	}
	addr, err := mail.ParseAddress(display)
	if err != nil || addr.Address != display || addr.Name != "" {
		return "", "", errors.New("not plain")
	}
	local, domain, _ := strings.Cut(display, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", "", errors.New("parts")
	}
	return display, strings.ToLower(display), nil
}

func checkNormalizeLikeNetMail(t *testing.T, s string) {
	d, n, err := NormalizeEmail(s)
	wd, wn, werr := normalizeSlow(s)
	if (err == nil) != (werr == nil) || d != wd || n != wn {
		t.Fatalf("NormalizeEmail(%q) = %q, %q, %v; through net/mail %q, %q, %v", s, d, n, err, wd, wn, werr)
	}
}

var emailSeeds = []string{
	"ann@example.com", "Ann.Lee@Example.COM", " ann@example.com ", "a.b.c@d.e.f", "a+tag@x.io", "a_b%c-d@x-y.io",
	".ann@example.com", "ann.@example.com", "an..n@example.com", "ann@.example.com", "ann@example.com.", "ann@example..com",
	"ann@example", "@example.com", "ann@", "ann", "a@b@c.com", "ann@exa_mple.com", "ann@-example.com", "ann@example-.com",
	"Ann <ann@example.com>", `"ann lee"@example.com`, "ann@[1.2.3.4]", "ann(c)@example.com", "ann lee@example.com",
	"ann@ex%ample.com", "ann+@example.com", "-@example.com", "ann@example.c-m", "ünn@example.com", "ann@xn--bcher-kva.example",
}

func TestNormalizeEmailAsNetMailDoes(t *testing.T) {
	for _, s := range emailSeeds {
		checkNormalizeLikeNetMail(t, s)
	}
	for _, s := range []string{"ann@example.com", "Ann.Lee@Example.COM", "a+tag@x.io"} {
		if !plainAddress(strings.TrimSpace(s)) {
			t.Fatalf("%q takes the slow path", s)
		}
	}
}

// FuzzNormalizeEmail: the quick look at plain addresses accepts and refuses
// exactly what net/mail does.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(checkNormalizeLikeNetMail)
}
