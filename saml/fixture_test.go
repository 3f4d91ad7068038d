package saml

// Signed SAML responses made in the test, with a test key: the fixtures of
// every refusal. Each knob breaks one thing.

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"html"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// testKeys are RSA-2048 pairs made once per test binary (generation is slow).
var (
	keysOnce sync.Once
	idpKP    KeyPair // the tenant's IdP
	evilKP   KeyPair // someone else's key
)

func testKeys(t testing.TB) (KeyPair, KeyPair) {
	t.Helper()
	keysOnce.Do(func() {
		for _, kp := range []*KeyPair{&idpKP, &evilKP} {
			c, k, err := GenerateKeyPair("test IdP", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				panic(err)
			}
			if *kp, err = ParseKeyPair(c, k); err != nil {
				panic(err)
			}
		}
	})
	return idpKP, evilKP
}

// respOpts describe one response. The zero values of the knobs make a
// valid SP-initiated response for spEndpoint at fixNow.
type respOpts struct {
	id           string
	issuer       string // assertion issuer; "-" leaves the element out
	respIssuer   string // response issuer; "-" leaves it out
	audience     string
	recipient    string
	destination  string // "-" leaves it out
	inResponseTo string // "-" leaves it out (IdP-initiated)
	email        string
	issueInstant time.Time
	notBefore    time.Time
	notOnOrAfter time.Time
	status       string
	// signing: which elements, with which key (default the IdP's).
	signAssertion, signResponse bool
	unsigned                    bool
	key                         *KeyPair
	// sigMethod is the signature method (default RSA-SHA256); its hash
	// is the digest's too.
	sigMethod string
	// modify runs on the assertion before it is signed.
	modify func(a *etree.Element)
	// after runs on the signed response (wrapping, tampering).
	after func(resp *etree.Element)
}

const (
	idpEntity   = "https://idp.example.com/metadata"
	spEntity    = "https://rosterd.example.com/saml/acme/metadata"
	spACS       = "https://rosterd.example.com/saml/acme/acs"
	otherEntity = "https://rosterd.example.com/saml/globex/metadata"
	otherACS    = "https://rosterd.example.com/saml/globex/acs"
	requestID   = "id-request-1"
)

var fixNow = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func sign(t testing.TB, el *etree.Element, kp KeyPair, method ...string) *etree.Element {
	t.Helper()
	m := dsig.RSASHA256SignatureMethod
	if len(method) > 0 && method[0] != "" {
		m = method[0]
	}
	ctx, err := dsig.NewSigningContext(kp.Key, [][]byte{kp.Cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(m); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func makeAssertion(o respOpts, now time.Time) *etree.Element {
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsAssertion)
	a.CreateAttr("ID", or(o.id, "id-assertion-1"))
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", ts(orTime(o.issueInstant, now)))
	if o.issuer != "-" {
		a.CreateElement("saml:Issuer").SetText(or(o.issuer, idpEntity))
	}
	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", emailNameIDFormat)
	nid.SetText(or(o.email, "ann@example.com"))
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", bearerMethod)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if o.inResponseTo != "-" {
		scd.CreateAttr("InResponseTo", or(o.inResponseTo, requestID))
	}
	scd.CreateAttr("NotOnOrAfter", ts(now.Add(90*time.Second)))
	scd.CreateAttr("Recipient", or(o.recipient, spACS))
	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", ts(orTime(o.notBefore, now.Add(-time.Minute))))
	cond.CreateAttr("NotOnOrAfter", ts(orTime(o.notOnOrAfter, now.Add(5*time.Minute))))
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(or(o.audience, spEntity))
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", ts(now))
	as.CreateAttr("SessionIndex", "session-1")
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
	st := a.CreateElement("saml:AttributeStatement")
	for name, val := range map[string]string{"firstName": "Ann", "lastName": "Lee"} {
		at := st.CreateElement("saml:Attribute")
		at.CreateAttr("Name", name)
		at.CreateElement("saml:AttributeValue").SetText(val)
	}
	return a
}

// buildResponse returns the response XML.
func buildResponse(t testing.TB, o respOpts, now time.Time) []byte {
	t.Helper()
	kp := idpKP
	if o.key != nil {
		kp = *o.key
	}
	if !o.signAssertion && !o.signResponse && !o.unsigned {
		o.signAssertion = true
	}
	a := makeAssertion(o, now)
	if o.modify != nil {
		o.modify(a)
	}
	if o.signAssertion {
		a = sign(t, a, kp, o.sigMethod)
	}
	r := etree.NewElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", nsProtocol)
	r.CreateAttr("xmlns:saml", nsAssertion)
	r.CreateAttr("ID", "id-response-"+or(o.id, "1"))
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", ts(now))
	if o.destination != "-" {
		r.CreateAttr("Destination", or(o.destination, spACS))
	}
	if o.inResponseTo != "-" {
		r.CreateAttr("InResponseTo", or(o.inResponseTo, requestID))
	}
	if o.respIssuer != "-" {
		r.CreateElement("saml:Issuer").SetText(or(o.respIssuer, idpEntity))
	}
	r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", or(o.status, statusSuccess))
	r.AddChild(a)
	if o.signResponse {
		r = sign(t, r, kp, o.sigMethod)
	}
	if o.after != nil {
		o.after(r)
	}
	doc := etree.NewDocument()
	doc.SetRoot(r)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// idpMetadata is the metadata of the test IdP (the idpKP key).
func idpMetadata(t testing.TB, entityID, ssoURL string, cert *x509.Certificate) []byte {
	t.Helper()
	return fmt.Appendf(nil, `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`, entityID, base64.StdEncoding.EncodeToString(cert.Raw), ssoURL)
}

// form is an HTML form as an IdP's auto-submitting page has it.
type form struct {
	action string
	fields map[string]string
}

var (
	formRE  = regexp.MustCompile(`(?is)<form[^>]*\saction\s*=\s*"([^"]*)"`)
	inputRE = regexp.MustCompile(`(?is)<input[^>]*>`)
	nameRE  = regexp.MustCompile(`(?is)\sname\s*=\s*"([^"]*)"`)
	valueRE = regexp.MustCompile(`(?is)\svalue\s*=\s*"([^"]*)"`)
)

// parseForm reads the first form of a page, as a browser would submit it.
func parseForm(page string) (form, bool) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return form{}, false
	}
	f := form{action: html.UnescapeString(m[1]), fields: map[string]string{}}
	for _, in := range inputRE.FindAllString(page, -1) {
		n := nameRE.FindStringSubmatch(in)
		if n == nil {
			continue
		}
		v := ""
		if m := valueRE.FindStringSubmatch(in); m != nil {
			v = html.UnescapeString(m[1])
		}
		f.fields[html.UnescapeString(n[1])] = v
	}
	return f, true
}

// pubEqual reports whether two certificates share a public key.
func pubEqual(a, b *x509.Certificate) bool {
	pa, ok1 := a.PublicKey.(*rsa.PublicKey)
	pb, ok2 := b.PublicKey.(*rsa.PublicKey)
	return ok1 && ok2 && pa.Equal(pb)
}
