package saml

import (
	"fmt"
	"unicode/utf8"
)

// Reason names why a login was refused: a stable word for metrics, logs,
// the audit trail and tests. People see a plain page, never the reason's
// detail.
type Reason string

// Reasons a response or a login is refused. Each failure kind has its own,
// so a dashboard tells a misconfigured IdP certificate from an attack.
const (
	// The response could not be read: not base64, not well-formed XML (or
	// XML that does not survive a round trip), not a samlp:Response, no
	// assertion.
	ReasonMalformed Reason = "malformed"
	// The IdP answered with a status other than Success (the person
	// cancelled, the IdP refused).
	ReasonIdPStatus Reason = "idp_status"
	// Neither the response nor the assertion carries a signature.
	ReasonUnsigned Reason = "unsigned"
	// A signature does not verify with the IdP's certificates: another
	// key, or content changed after signing.
	ReasonBadSignature Reason = "bad_signature"
	// More than one assertion, or an assertion somewhere other than
	// directly under the response: the shape XML signature wrapping needs.
	ReasonSignatureWrapping Reason = "signature_wrapping"
	// A signature made with SHA-1 (RSA-SHA1, a SHA-1 digest…) at a tenant
	// that has not opted in with allow_sha1.
	ReasonWeakSignature Reason = "weak_signature"
	// An encrypted assertion this SP has no key for, or cannot decrypt.
	ReasonUndecryptable Reason = "undecryptable"
	// The assertion has no Issuer (crewjam/saml v0.5.1 panics on these).
	ReasonMissingIssuer Reason = "missing_issuer"
	// The response or assertion Issuer is not the tenant's IdP.
	ReasonWrongIssuer Reason = "wrong_issuer"
	// The assertion's audience is not this SP.
	ReasonWrongAudience Reason = "wrong_audience"
	// The response's Destination is not this SP's ACS URL.
	ReasonWrongDestination Reason = "wrong_destination"
	// The bearer confirmation's Recipient is not this SP's ACS URL.
	ReasonWrongRecipient Reason = "wrong_recipient"
	// The assertion was meant for another tenant of this rosterd (its
	// audience, destination or recipient is that tenant's SP).
	ReasonWrongTenant Reason = "wrong_tenant"
	// NotOnOrAfter (of the conditions or the confirmation) passed more
	// than the clock skew ago, or the assertion was issued too long ago.
	ReasonExpired Reason = "expired"
	// NotBefore (or IssueInstant) lies more than the clock skew ahead.
	ReasonNotYetValid Reason = "not_yet_valid"
	// InResponseTo names no request this SP issued to this browser.
	ReasonUnknownRequest Reason = "unknown_request"
	// A response without a request (IdP-initiated) at a tenant that does
	// not allow them.
	ReasonIdPInitiated Reason = "idp_initiated_not_allowed"
	// The assertion id was used before, on this replica or another.
	ReasonReplay Reason = "replay"
	// No bearer subject confirmation.
	ReasonNoBearer Reason = "no_bearer_confirmation"
	// No usable email: no emailAddress NameID and no email attribute.
	ReasonNoEmail Reason = "no_email"
	// The validation code panicked (a library bug met by a hostile or
	// broken response); the request is refused, not crashed.
	ReasonPanic Reason = "validation_panic"
	// The person's card is disabled.
	ReasonCardDisabled Reason = "card_disabled"
	// No card for this person and the tenant does not create cards just in
	// time.
	ReasonUnknownPerson Reason = "unknown_person"
	// The person's card waits for an admin's approval (tenant policy
	// approval: new_cards or jit_only), perhaps made by this very login.
	// Not a failure of the person's: they see a page that says so.
	ReasonPendingApproval Reason = "pending_approval"
)

// Refusal is a login refused for Reason. Detail is for logs and the audit
// trail (ids and values that do not name the person); never for the page.
type Refusal struct {
	Reason Reason
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return "saml: login refused: " + string(r.Reason)
	}
	return "saml: login refused: " + string(r.Reason) + ": " + r.Detail
}

// Bounds of what a refusal quotes: a refused response is anyone's, and
// its values go to the log and the audit trail.
const (
	// maxQuoted bounds each value quoted (a string, an error's text).
	maxQuoted = 128
	// maxListed bounds the values quoted of a list (audiences).
	maxListed = 4
	// maxDetail bounds the whole detail.
	maxDetail = 1024
)

// refuse builds a refusal whose detail quotes args cut to maxQuoted bytes
// each (lists to maxListed values), and the whole to maxDetail.
func refuse(r Reason, format string, args ...any) *Refusal {
	for i, a := range args {
		switch a := a.(type) {
		case string:
			args[i] = clip(a, maxQuoted)
		case []string:
			list := make([]string, 0, min(len(a), maxListed+1))
			for j, s := range a {
				if j == maxListed {
					list = append(list, fmt.Sprintf("… %d more", len(a)-maxListed))
					break
				}
				list = append(list, clip(s, maxQuoted))
			}
			args[i] = list
		case error:
			args[i] = clip(a.Error(), maxQuoted)
		}
	}
	return &Refusal{Reason: r, Detail: clip(fmt.Sprintf(format, args...), maxDetail)}
}

// clip cuts s to at most n bytes, at a rune boundary, marking the cut
// with "…" (within the n).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
