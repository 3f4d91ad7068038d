package saml

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	xrv "github.com/mattermost/xml-roundtrip-validator"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// XML namespaces of SAML 2.0 and XML-DSig.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsEnc       = "http://www.w3.org/2001/04/xmlenc#"

	statusSuccess     = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearerMethod      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	emailNameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
)

// Endpoint is one service provider of this rosterd: its entity id (the
// audience IdPs write) and its ACS URL (destination and recipient).
type Endpoint struct {
	Tenant   string
	EntityID string
	ACSURL   string
}

// Validator checks a tenant's SAML responses. It is pure: no HTTP, no
// store; the replay check and the identity come after it. Build one per
// tenant and metadata version; it is safe for concurrent use.
type Validator struct {
	// SP is this tenant's service provider.
	SP Endpoint
	// Others are the other tenants' service providers, so that an
	// assertion meant for one of them is refused as ReasonWrongTenant.
	Others []Endpoint
	// IdPEntityID is the issuer every response and assertion must name.
	IdPEntityID string
	// IdPCerts are the IdP's signing certificates (from its metadata).
	IdPCerts []*x509.Certificate
	// DecryptionKey decrypts encrypted assertions; nil refuses them.
	DecryptionKey crypto.PrivateKey
	// ClockSkew is the tolerance on every time in the assertion.
	ClockSkew time.Duration
	// MaxAge bounds the time from IssueInstant to now (before the skew).
	// It must be positive: it also bounds how long the replay cache keeps
	// an assertion's id.
	MaxAge time.Duration
	// AllowIDPInitiated accepts responses that answer no request.
	AllowIDPInitiated bool
	// AllowSHA1 accepts signatures made with SHA-1 (RSA-SHA1 and SHA-1
	// digests), for old ADFS; refused as ReasonWeakSignature otherwise.
	AllowSHA1 bool
	// Now is the clock; tests pin it.
	Now func() time.Time
}

// Assertion is what a valid response says about the person.
type Assertion struct {
	ID           string
	Issuer       string
	NameID       string
	NameIDFormat string
	SessionIndex string
	// InResponseTo is the request answered; "" for IdP-initiated logins.
	InResponseTo string
	IssueInstant time.Time
	// Expires is the end of the assertion's validity, skew included: the
	// replay cache keeps its id until then.
	Expires    time.Time
	Attributes map[string][]string
}

// Validate checks a decoded SAML response (XML). requestID is the id of the
// AuthnRequest this browser's request cookie names, "" when it has none.
// Every failure is a *Refusal.
func (v *Validator) Validate(raw []byte, requestID string) (*Assertion, error) {
	now := v.Now()
	if err := xrv.Validate(bytes.NewReader(raw)); err != nil {
		return nil, refuse(ReasonMalformed, "XML does not round-trip: %v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, refuse(ReasonMalformed, "not XML: %v", err)
	}
	resp := doc.Root()
	if resp == nil || resp.Tag != "Response" || resp.NamespaceURI() != nsProtocol {
		return nil, refuse(ReasonMalformed, "the document is not a samlp:Response")
	}

	// Exactly one assertion, directly under the response. Wrapping attacks
	// move the signed assertion elsewhere (Extensions, an Object of the
	// signature, a second place next to it) and put a forged one where a
	// careless reader looks; refusing every other shape closes them all.
	var found []*etree.Element
	walk(resp, func(el *etree.Element) {
		if (el.Tag == "Assertion" || el.Tag == "EncryptedAssertion") && el.NamespaceURI() == nsAssertion {
			found = append(found, el)
		}
	})
	switch {
	case len(found) == 0:
		return nil, refuse(ReasonMalformed, "the response holds no assertion")
	case len(found) > 1:
		return nil, refuse(ReasonSignatureWrapping, "the response holds %d assertions", len(found))
	case found[0].Parent() != resp:
		return nil, refuse(ReasonSignatureWrapping, "the assertion is not a child of the response")
	}

	if code := statusCode(resp); code != statusSuccess {
		return nil, refuse(ReasonIdPStatus, "status %s", code)
	}

	// The response's signature, when it has one, covers the assertion too.
	// From here on only what a signature covered is read: the element the
	// validator returns, never the document it was handed.
	responseSigned := false
	if child(resp, nsDSig, "Signature") != nil {
		signed, err := v.verify(resp, now)
		if err != nil {
			return nil, err
		}
		resp, responseSigned = signed, true
	}
	if iss := child(resp, nsAssertion, "Issuer"); iss != nil && strings.TrimSpace(iss.Text()) != v.IdPEntityID {
		return nil, refuse(ReasonWrongIssuer, "response issuer %q is not the IdP %q", strings.TrimSpace(iss.Text()), v.IdPEntityID)
	}
	if dest := resp.SelectAttrValue("Destination", ""); dest != "" && dest != v.SP.ACSURL {
		if other, ok := v.other(func(e Endpoint) bool { return e.ACSURL == dest }); ok {
			return nil, refuse(ReasonWrongTenant, "destination is tenant %q's ACS", other)
		}
		return nil, refuse(ReasonWrongDestination, "destination %q is not %q", dest, v.SP.ACSURL)
	} else if dest == "" && responseSigned {
		return nil, refuse(ReasonWrongDestination, "a signed response must name its destination")
	}

	assertion := child(resp, nsAssertion, "Assertion")
	if enc := child(resp, nsAssertion, "EncryptedAssertion"); enc != nil {
		dec, err := v.decrypt(enc)
		if err != nil {
			return nil, err
		}
		assertion = dec
	}
	if assertion == nil {
		return nil, refuse(ReasonMalformed, "the response holds no assertion")
	}
	if child(assertion, nsDSig, "Signature") != nil {
		signed, err := v.verify(assertion, now)
		if err != nil {
			return nil, err
		}
		assertion = signed
	} else if !responseSigned {
		return nil, refuse(ReasonUnsigned, "neither the response nor the assertion is signed")
	}
	return v.check(resp, assertion, responseSigned, requestID, now)
}

// check reads a signed assertion and checks what it says.
func (v *Validator) check(resp, el *etree.Element, responseSigned bool, requestID string, now time.Time) (*Assertion, error) {
	a := &Assertion{ID: el.SelectAttrValue("ID", ""), Attributes: map[string][]string{}}
	if a.ID == "" {
		return nil, refuse(ReasonMalformed, "the assertion has no ID")
	}
	iss := child(el, nsAssertion, "Issuer")
	if iss == nil || strings.TrimSpace(iss.Text()) == "" {
		return nil, refuse(ReasonMissingIssuer, "assertion %s has no Issuer", a.ID)
	}
	a.Issuer = strings.TrimSpace(iss.Text())
	if a.Issuer != v.IdPEntityID {
		return nil, refuse(ReasonWrongIssuer, "assertion issuer %q is not the IdP %q", a.Issuer, v.IdPEntityID)
	}
	var err error
	if a.IssueInstant, err = parseTime(el.SelectAttrValue("IssueInstant", "")); err != nil {
		return nil, refuse(ReasonMalformed, "IssueInstant: %v", err)
	}

	// Audience.
	cond := child(el, nsAssertion, "Conditions")
	if cond == nil {
		return nil, refuse(ReasonWrongAudience, "the assertion has no Conditions, so no audience")
	}
	// Every AudienceRestriction must name this SP (SAML core §2.5.1.4: the
	// restrictions all hold at once, the audiences of one are a choice).
	restrictions := children(cond, nsAssertion, "AudienceRestriction")
	if len(restrictions) == 0 {
		return nil, refuse(ReasonWrongAudience, "the assertion has no AudienceRestriction")
	}
	for i, ar := range restrictions {
		var audiences []string
		for _, au := range children(ar, nsAssertion, "Audience") {
			audiences = append(audiences, strings.TrimSpace(au.Text()))
		}
		if contains(audiences, v.SP.EntityID) {
			continue
		}
		if other, ok := v.other(func(e Endpoint) bool { return contains(audiences, e.EntityID) }); ok {
			return nil, refuse(ReasonWrongTenant, "audience is tenant %q's SP", other)
		}
		return nil, refuse(ReasonWrongAudience, "AudienceRestriction %d of %d, audiences %q, does not name %q", i+1, len(restrictions), audiences, v.SP.EntityID)
	}

	// Subject and its bearer confirmation.
	subj := child(el, nsAssertion, "Subject")
	if subj == nil {
		return nil, refuse(ReasonMalformed, "the assertion has no Subject")
	}
	if n := child(subj, nsAssertion, "NameID"); n != nil {
		a.NameID = strings.TrimSpace(n.Text())
		a.NameIDFormat = n.SelectAttrValue("Format", "")
	}
	var data *etree.Element
	for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
		if sc.SelectAttrValue("Method", "") == bearerMethod {
			data = child(sc, nsAssertion, "SubjectConfirmationData")
			break
		}
	}
	if data == nil {
		return nil, refuse(ReasonNoBearer, "no bearer SubjectConfirmationData")
	}
	// SAML profiles §4.1.4.2: a bearer confirmation bounds its own life;
	// without it only MaxAge would, and the IdP meant none.
	if data.SelectAttr("NotOnOrAfter") == nil {
		return nil, refuse(ReasonNoBearer, "the bearer SubjectConfirmationData has no NotOnOrAfter")
	}
	if rcpt := data.SelectAttrValue("Recipient", ""); rcpt != v.SP.ACSURL {
		if other, ok := v.other(func(e Endpoint) bool { return e.ACSURL == rcpt }); ok {
			return nil, refuse(ReasonWrongTenant, "recipient is tenant %q's ACS", other)
		}
		return nil, refuse(ReasonWrongRecipient, "recipient %q is not %q", rcpt, v.SP.ACSURL)
	}

	// Times, each with the skew.
	skew := v.ClockSkew
	if a.IssueInstant.After(now.Add(skew)) {
		return nil, refuse(ReasonNotYetValid, "issued at %s, after now %s plus the skew", a.IssueInstant.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	// Past Expires the assertion is refused whatever else it says, so the
	// replay cache need keep its id no longer.
	a.Expires = a.IssueInstant.Add(v.MaxAge + skew)
	if !a.Expires.After(now) {
		return nil, refuse(ReasonExpired, "issued at %s, more than %s before now %s", a.IssueInstant.Format(time.RFC3339), v.MaxAge+skew, now.Format(time.RFC3339))
	}
	for _, w := range []struct {
		el   *etree.Element
		what string
	}{{cond, "Conditions"}, {data, "SubjectConfirmationData"}} {
		if s := w.el.SelectAttrValue("NotBefore", ""); s != "" {
			t, err := parseTime(s)
			if err != nil {
				return nil, refuse(ReasonMalformed, "%s NotBefore: %v", w.what, err)
			}
			if t.After(now.Add(skew)) {
				return nil, refuse(ReasonNotYetValid, "%s NotBefore %s is after now %s plus the skew", w.what, s, now.Format(time.RFC3339))
			}
		}
		if s := w.el.SelectAttrValue("NotOnOrAfter", ""); s != "" {
			t, err := parseTime(s)
			if err != nil {
				return nil, refuse(ReasonMalformed, "%s NotOnOrAfter: %v", w.what, err)
			}
			if !t.Add(skew).After(now) {
				return nil, refuse(ReasonExpired, "%s NotOnOrAfter %s is before now %s minus the skew", w.what, s, now.Format(time.RFC3339))
			}
		}
	}

	// Which request this answers. Only a signed value counts: an unsigned
	// response's InResponseTo must agree with its signed assertion's, or
	// anyone could dress an IdP-initiated assertion up as the answer to
	// their own request.
	a.InResponseTo = data.SelectAttrValue("InResponseTo", "")
	if r := resp.SelectAttrValue("InResponseTo", ""); r != a.InResponseTo {
		switch {
		case responseSigned && a.InResponseTo == "":
			a.InResponseTo = r
		case r != "":
			return nil, refuse(ReasonUnknownRequest, "the response and its assertion answer different requests")
		}
	}
	switch {
	case a.InResponseTo == "" && !v.AllowIDPInitiated:
		return nil, refuse(ReasonIdPInitiated, "a response to no request, and this tenant does not allow IdP-initiated login")
	case a.InResponseTo != "" && (requestID == "" || a.InResponseTo != requestID):
		return nil, refuse(ReasonUnknownRequest, "InResponseTo %q is no request this SP issued to this browser", a.InResponseTo)
	}

	for _, as := range children(el, nsAssertion, "AttributeStatement") {
		for _, at := range children(as, nsAssertion, "Attribute") {
			name := at.SelectAttrValue("Name", "")
			for _, val := range children(at, nsAssertion, "AttributeValue") {
				a.Attributes[name] = append(a.Attributes[name], strings.TrimSpace(val.Text()))
			}
			if fn := at.SelectAttrValue("FriendlyName", ""); fn != "" && fn != name {
				a.Attributes[fn] = a.Attributes[name]
			}
		}
	}
	if st := child(el, nsAssertion, "AuthnStatement"); st != nil {
		a.SessionIndex = st.SelectAttrValue("SessionIndex", "")
	}
	return a, nil
}

// verify checks the enveloped signature of el against the IdP's
// certificates and returns the element as signed.
func (v *Validator) verify(el *etree.Element, now time.Time) (*etree.Element, error) {
	if len(v.IdPCerts) == 0 {
		return nil, refuse(ReasonBadSignature, "the IdP's metadata holds no signing certificate")
	}
	// The element is checked detached, with the namespaces it inherits
	// declared on it, as it was when it was signed.
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err == nil {
		ctx, err = ctx.SubContext(el)
	}
	var detached *etree.Element
	if err == nil {
		detached, err = etreeutils.NSDetatch(ctx, el)
	}
	if err != nil {
		return nil, refuse(ReasonMalformed, "namespaces of %s: %v", el.Tag, err)
	}
	// SHA-1 is refused unless the tenant opted in: every Signature in the
	// element is checked, not only the one dsig picks, so a second
	// signature cannot carry a weak algorithm past this check.
	if !v.AllowSHA1 {
		// Only a signature's own algorithms count: an EncryptedKey's
		// RSA-OAEP names a SHA-1 DigestMethod in the same namespace.
		var weak string
		walk(detached, func(e *etree.Element) {
			if e.Tag != "Signature" || e.NamespaceURI() != nsDSig {
				return
			}
			for _, si := range children(e, nsDSig, "SignedInfo") {
				algs := children(si, nsDSig, "SignatureMethod")
				for _, ref := range children(si, nsDSig, "Reference") {
					algs = append(algs, children(ref, nsDSig, "DigestMethod")...)
				}
				for _, m := range algs {
					if alg := m.SelectAttrValue("Algorithm", ""); weak == "" && weakAlgorithm(alg) {
						weak = alg
					}
				}
			}
		})
		if weak != "" {
			return nil, refuse(ReasonWeakSignature, "%s: signed with %q, SHA-1; set allow_sha1 for this tenant to accept it", el.Tag, weak)
		}
	}
	// A KeyInfo without a certificate (a bare RSAKeyValue) names a key
	// dsig cannot check against the metadata; dropping it makes dsig try
	// the metadata's certificate instead, as crewjam/saml does.
	if sig := child(detached, nsDSig, "Signature"); sig != nil {
		if ki := child(sig, nsDSig, "KeyInfo"); ki != nil && ki.FindElement(".//X509Certificate") == nil {
			sig.RemoveChild(ki)
		}
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: v.IdPCerts})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	signed, err := vc.Validate(detached)
	if err != nil {
		if errors.Is(err, dsig.ErrMissingSignature) {
			return nil, refuse(ReasonUnsigned, "%s: the signature does not reference it", el.Tag)
		}
		return nil, refuse(ReasonBadSignature, "%s: %v", el.Tag, err)
	}
	return signed, nil
}

// decrypt opens an EncryptedAssertion with the SP's encryption key.
func (v *Validator) decrypt(enc *etree.Element) (*etree.Element, error) {
	if v.DecryptionKey == nil {
		return nil, refuse(ReasonUndecryptable, "the assertion is encrypted and this SP has no encryption key")
	}
	data := child(enc, nsEnc, "EncryptedData")
	if data == nil {
		return nil, refuse(ReasonUndecryptable, "EncryptedAssertion without EncryptedData")
	}
	var key any = v.DecryptionKey
	if ek := enc.FindElement("./EncryptedKey"); ek != nil {
		k, err := xmlenc.Decrypt(v.DecryptionKey, ek)
		if err != nil {
			return nil, refuse(ReasonUndecryptable, "the content key: %v", err)
		}
		key = k
	}
	plain, err := xmlenc.Decrypt(key, data)
	if err != nil {
		return nil, refuse(ReasonUndecryptable, "%v", err)
	}
	if err := xrv.Validate(bytes.NewReader(plain)); err != nil {
		return nil, refuse(ReasonMalformed, "decrypted XML does not round-trip: %v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(plain); err != nil {
		return nil, refuse(ReasonMalformed, "decrypted assertion: %v", err)
	}
	el := doc.Root()
	if el == nil || el.Tag != "Assertion" || el.NamespaceURI() != nsAssertion {
		return nil, refuse(ReasonMalformed, "the decrypted element is not an assertion")
	}
	var nested int
	walk(el, func(e *etree.Element) {
		if e != el && (e.Tag == "Assertion" || e.Tag == "EncryptedAssertion") && e.NamespaceURI() == nsAssertion {
			nested++
		}
	})
	if nested > 0 {
		return nil, refuse(ReasonSignatureWrapping, "the decrypted assertion holds %d more", nested)
	}
	return el, nil
}

func (v *Validator) other(match func(Endpoint) bool) (string, bool) {
	for _, e := range v.Others {
		if match(e) {
			return e.Tenant, true
		}
	}
	return "", false
}

func statusCode(resp *etree.Element) string {
	if st := child(resp, nsProtocol, "Status"); st != nil {
		if sc := child(st, nsProtocol, "StatusCode"); sc != nil {
			return sc.SelectAttrValue("Value", "")
		}
	}
	return ""
}

func walk(el *etree.Element, fn func(*etree.Element)) {
	fn(el)
	for _, c := range el.ChildElements() {
		walk(c, fn)
	}
}

func child(el *etree.Element, ns, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseTime reads an xs:dateTime as SAML writes it (UTC, "Z").
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t2, err2 := time.Parse("2006-01-02T15:04:05.999999999", s); err2 == nil {
			return t2.UTC(), nil
		}
		return time.Time{}, fmt.Errorf("not a dateTime: %q", s)
	}
	return t.UTC(), nil
}

// weakAlgorithm reports whether an XML-DSig SignatureMethod or
// DigestMethod algorithm hashes with SHA-1: rsa-sha1, dsa-sha1, hmac-sha1,
// ecdsa-sha1, and the sha1 digest all end so.
func weakAlgorithm(alg string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSpace(alg)), "sha1")
}
