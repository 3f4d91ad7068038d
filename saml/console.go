package saml

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/directory"
)

// Handoff ends the logins the web console starts with StartLogin, in
// place of the redirect to the platform with a login code.
type Handoff interface {
	// ConsoleLogin: a sign-in to the console, recorded like any login
	// (the card is enabled, and now active). purpose is StartLogin's.
	ConsoleLogin(w http.ResponseWriter, r *http.Request, purpose string, card directory.Card)
	// ConsoleTest: an IT admin's test of the connection (a purpose with
	// the TestPurpose prefix). Nothing is recorded: no card changes and no
	// login code; the result says what arrived, or why it was refused.
	ConsoleTest(w http.ResponseWriter, r *http.Request, purpose string, res TestResult)
}

// TestPurpose starts the purpose of a test login.
const TestPurpose = "test:"

func isTest(purpose string) bool { return strings.HasPrefix(purpose, TestPurpose) }

// TestResult is what a test login brought: the assertion's subject and
// attributes, what rosterd makes of them, or the refusal.
type TestResult struct {
	Tenant       string
	Issuer       string
	NameID       string
	NameIDFormat string
	// Attributes are the assertion's, by the IdP's names, sorted.
	Attributes []TestAttribute
	// Login is the mapping's result (email and our attributes) when the
	// assertion was accepted.
	Login directory.Login
	// Reason and Refusal say why it was refused ("" when accepted):
	// Refusal in words for the IT admin, who is setting the IdP up and
	// needs more than "contact your administrator".
	Reason  Reason
	Refusal string
	// Ref finds the log line.
	Ref string
}

// TestAttribute is one attribute of a test login's assertion.
type TestAttribute struct {
	Name   string
	Values []string
}

// HandOffTo makes h end the logins StartLogin starts. Call it before
// the server serves.
func (s *Server) HandOffTo(h Handoff) { s.handoff = h }

// StartLogin starts a login for the console: like /saml/{tenant}/login,
// but its end goes to the Handoff with purpose (TestPurpose… for a test of
// the connection). A tenant without SAML gets a page that says so.
func (s *Server) StartLogin(w http.ResponseWriter, r *http.Request, tenant, purpose string) {
	p, err := s.providerFor(r.Context(), tenant)
	if err != nil {
		s.logger.Warn("SAML settings of the tenant do not load", "tenant", tenant, "err", err)
		page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Single sign-on of this organization is not set up correctly: "+err.Error(), "")
		return
	}
	if p == nil {
		page(w, http.StatusNotFound, "Sign-in unavailable", "This organization has no single sign-on set up.", "")
		return
	}
	s.startLogin(w, r, p, "", purpose)
}

// tested hands a test login's outcome to the console: err is the
// validation's (or the replay check's).
func (s *Server) tested(w http.ResponseWriter, r *http.Request, p *provider, purpose string, a *Assertion, err error, ref string) {
	res := TestResult{Tenant: p.cfg.Tenant, Ref: ref}
	var refusal *Refusal
	if a != nil {
		res.Issuer, res.NameID, res.NameIDFormat = a.Issuer, a.NameID, a.NameIDFormat
		for _, name := range slices.Sorted(maps.Keys(a.Attributes)) {
			res.Attributes = append(res.Attributes, TestAttribute{Name: name, Values: a.Attributes[name]})
		}
	}
	switch {
	case errors.As(err, &refusal):
	case err != nil:
		s.failed(w, p, ref, "recording the assertion id", err)
		return
	default:
		res.Login, refusal = p.identity(a)
		// What RecordLogin would refuse, a test refuses too.
		if refusal == nil {
			if _, _, err := directory.NormalizeEmail(res.Login.Email); err != nil {
				refusal = &Refusal{Reason: ReasonNoEmail, Detail: "the email the IdP sent is not valid: " + err.Error()}
			}
		}
	}
	outcome := "test_success"
	if refusal != nil {
		res.Reason, res.Refusal = refusal.Reason, refusal.Error()
		outcome = "test_refused"
	}
	s.logins.WithLabelValues(p.cfg.Tenant, outcome).Inc()
	s.logger.Info("saml test login", "tenant", p.cfg.Tenant, "reason", string(res.Reason), "ref", ref)
	s.handoff.ConsoleTest(w, r, purpose, res)
}
