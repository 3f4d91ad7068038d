package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func testValidator(t testing.TB) *Validator {
	idp, _ := testKeys(t)
	return &Validator{
		SP:          Endpoint{Tenant: "acme", EntityID: spEntity, ACSURL: spACS},
		Others:      []Endpoint{{Tenant: "globex", EntityID: otherEntity, ACSURL: otherACS}},
		IdPEntityID: idpEntity,
		IdPCerts:    []*x509.Certificate{idp.Cert},
		ClockSkew:   3 * time.Minute,
		MaxAge:      5 * time.Minute,
		Now:         func() time.Time { return fixNow },
	}
}

func TestValidateAccepts(t *testing.T) {
	v := testValidator(t)
	for _, tc := range []struct {
		name string
		o    respOpts
	}{
		{"signed assertion", respOpts{}},
		{"signed response", respOpts{signResponse: true}},
		{"both signed", respOpts{signAssertion: true, signResponse: true}},
		{"skew tolerated", respOpts{notBefore: fixNow.Add(2 * time.Minute), issueInstant: fixNow.Add(2 * time.Minute)}},
		{"just expired within the skew", respOpts{notOnOrAfter: fixNow.Add(-2 * time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := v.Validate(buildResponse(t, tc.o, fixNow), requestID)
			if err != nil {
				t.Fatal(err)
			}
			if a.ID != "id-assertion-1" || a.NameID != "ann@example.com" || a.NameIDFormat != emailNameIDFormat ||
				a.InResponseTo != requestID || a.Issuer != idpEntity || a.Attributes["firstName"][0] != "Ann" || a.SessionIndex != "session-1" {
				t.Fatalf("assertion %+v", a)
			}
			if want := orTime(tc.o.issueInstant, fixNow).Add(8 * time.Minute); !a.Expires.Equal(want) {
				t.Fatalf("Expires %s, want %s (issued + max age + skew)", a.Expires, want)
			}
		})
	}
}

// TestValidateRefuses: one fixture per refusal, each asserted by its reason.
func TestValidateRefuses(t *testing.T) {
	_, evil := testKeys(t)
	v := testValidator(t)
	idpInit := *v
	idpInit.AllowIDPInitiated = true
	secondAssertion := func(r *etree.Element) {
		// Signature wrapping: a forged, unsigned assertion next to the
		// signed one.
		forged := makeAssertion(respOpts{id: "id-forged", email: "mallory@example.com"}, fixNow)
		r.AddChild(forged)
	}
	for _, tc := range []struct {
		name      string
		o         respOpts
		raw       string // instead of o
		requestID string
		v         *Validator
		want      Reason
	}{
		{name: "unsigned response and assertion", o: respOpts{unsigned: true}, want: ReasonUnsigned},
		{name: "assertion signed by another key", o: respOpts{key: &evil}, want: ReasonBadSignature},
		{name: "response signed by another key", o: respOpts{signResponse: true, key: &evil}, want: ReasonBadSignature},
		{name: "content changed after signing", o: respOpts{after: func(r *etree.Element) {
			r.FindElement("./Assertion/Subject/NameID").SetText("mallory@example.com")
		}}, want: ReasonBadSignature},
		{name: "wrapping: second unsigned assertion", o: respOpts{after: secondAssertion}, want: ReasonSignatureWrapping},
		{name: "wrapping: signed response, assertion added", o: respOpts{signResponse: true, after: secondAssertion}, want: ReasonSignatureWrapping},
		{name: "wrapping: signed assertion moved into Extensions", o: respOpts{after: func(r *etree.Element) {
			signed := r.FindElement("./Assertion")
			r.RemoveChild(signed)
			r.CreateElement("samlp:Extensions").AddChild(signed)
			r.AddChild(makeAssertion(respOpts{id: "id-forged"}, fixNow))
		}}, want: ReasonSignatureWrapping},
		{name: "wrapping: only assertion nested in Extensions", o: respOpts{after: func(r *etree.Element) {
			signed := r.FindElement("./Assertion")
			r.RemoveChild(signed)
			r.CreateElement("samlp:Extensions").AddChild(signed)
		}}, want: ReasonSignatureWrapping},
		{name: "wrong assertion issuer", o: respOpts{issuer: "https://evil.example.com/"}, want: ReasonWrongIssuer},
		{name: "wrong response issuer", o: respOpts{respIssuer: "https://evil.example.com/"}, want: ReasonWrongIssuer},
		{name: "no issuer", o: respOpts{issuer: "-"}, want: ReasonMissingIssuer},
		{name: "wrong audience", o: respOpts{audience: "https://other-sp.example.com/"}, want: ReasonWrongAudience},
		{name: "second AudienceRestriction not naming this SP", o: respOpts{modify: func(a *etree.Element) {
			a.FindElement("./Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://other-sp.example.com/")
		}}, want: ReasonWrongAudience},
		{name: "second AudienceRestriction naming another tenant", o: respOpts{modify: func(a *etree.Element) {
			a.FindElement("./Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(otherEntity)
		}}, want: ReasonWrongTenant},
		{name: "empty AudienceRestriction next to ours", o: respOpts{modify: func(a *etree.Element) {
			a.FindElement("./Conditions").CreateElement("saml:AudienceRestriction")
		}}, want: ReasonWrongAudience},
		{name: "bearer confirmation without NotOnOrAfter", o: respOpts{modify: func(a *etree.Element) {
			scd := a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData")
			scd.RemoveAttr("NotOnOrAfter")
		}}, want: ReasonNoBearer},
		{name: "assertion signed with RSA-SHA1", o: respOpts{sigMethod: dsig.RSASHA1SignatureMethod}, want: ReasonWeakSignature},
		{name: "response signed with RSA-SHA1", o: respOpts{signResponse: true, sigMethod: dsig.RSASHA1SignatureMethod}, want: ReasonWeakSignature},
		{name: "wrong recipient", o: respOpts{recipient: "https://other-sp.example.com/acs"}, want: ReasonWrongRecipient},
		{name: "wrong destination", o: respOpts{destination: "https://other-sp.example.com/acs"}, want: ReasonWrongDestination},
		{name: "signed response without destination", o: respOpts{signResponse: true, destination: "-"}, want: ReasonWrongDestination},
		{name: "another tenant's assertion", o: respOpts{audience: otherEntity, recipient: otherACS, destination: otherACS}, want: ReasonWrongTenant},
		{name: "another tenant's audience only", o: respOpts{audience: otherEntity}, want: ReasonWrongTenant},
		{name: "expired beyond the skew", o: respOpts{notOnOrAfter: fixNow.Add(-3*time.Minute - time.Second)}, want: ReasonExpired},
		{name: "issued too long ago", o: respOpts{issueInstant: fixNow.Add(-8*time.Minute - time.Second)}, want: ReasonExpired},
		{name: "not yet valid beyond the skew", o: respOpts{notBefore: fixNow.Add(3*time.Minute + time.Second)}, want: ReasonNotYetValid},
		{name: "issued in the future beyond the skew", o: respOpts{issueInstant: fixNow.Add(4 * time.Minute)}, want: ReasonNotYetValid},
		{name: "InResponseTo unknown", o: respOpts{inResponseTo: "id-never-issued"}, want: ReasonUnknownRequest},
		{name: "InResponseTo without a request cookie", o: respOpts{}, requestID: "-", want: ReasonUnknownRequest},
		{name: "InResponseTo unknown, IdP-initiated allowed", o: respOpts{inResponseTo: "id-never-issued"}, v: &idpInit, want: ReasonUnknownRequest},
		{name: "IdP-initiated dressed up: InResponseTo on the unsigned response only", o: respOpts{inResponseTo: "-", after: func(r *etree.Element) {
			r.CreateAttr("InResponseTo", requestID)
		}}, want: ReasonUnknownRequest},
		{name: "IdP-initiated not allowed", o: respOpts{inResponseTo: "-"}, requestID: "-", want: ReasonIdPInitiated},
		{name: "IdP error status", o: respOpts{status: "urn:oasis:names:tc:SAML:2.0:status:Responder"}, want: ReasonIdPStatus},
		{name: "not XML", raw: "<samlp:Response", want: ReasonMalformed},
		{name: "not a response", raw: `<foo xmlns="urn:x"/>`, want: ReasonMalformed},
		{name: "encrypted without a key", o: respOpts{after: func(r *etree.Element) {
			a := r.FindElement("./Assertion")
			r.RemoveChild(a)
			enc := r.CreateElement("saml:EncryptedAssertion")
			enc.CreateElement("xenc:EncryptedData").CreateAttr("xmlns:xenc", nsEnc)
		}}, want: ReasonUndecryptable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			val := v
			if tc.v != nil {
				val = tc.v
			}
			raw := []byte(tc.raw)
			if tc.raw == "" {
				raw = buildResponse(t, tc.o, fixNow)
			}
			rid := requestID
			if tc.requestID == "-" {
				rid = ""
			}
			a, err := val.Validate(raw, rid)
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("Validate = %+v, %v; want refusal %s", a, err, tc.want)
			}
			if ref.Reason != tc.want {
				t.Fatalf("refused for %s (%s), want %s", ref.Reason, ref.Detail, tc.want)
			}
		})
	}
}

func TestValidateIdPInitiated(t *testing.T) {
	v := testValidator(t)
	v.AllowIDPInitiated = true
	a, err := v.Validate(buildResponse(t, respOpts{inResponseTo: "-"}, fixNow), "")
	if err != nil || a.InResponseTo != "" {
		t.Fatalf("IdP-initiated with it allowed: %+v, %v", a, err)
	}
}

// TestValidateSHA1OptIn: a tenant with allow_sha1 (old ADFS) accepts an
// RSA-SHA1 signature; still only a valid one.
func TestValidateSHA1OptIn(t *testing.T) {
	_, evil := testKeys(t)
	v := testValidator(t)
	v.AllowSHA1 = true
	for _, o := range []respOpts{{sigMethod: dsig.RSASHA1SignatureMethod}, {signResponse: true, sigMethod: dsig.RSASHA1SignatureMethod}} {
		if a, err := v.Validate(buildResponse(t, o, fixNow), requestID); err != nil || a.NameID != "ann@example.com" {
			t.Fatalf("SHA-1 with allow_sha1: %+v, %v", a, err)
		}
	}
	o := respOpts{sigMethod: dsig.RSASHA1SignatureMethod, key: &evil}
	var ref *Refusal
	if _, err := v.Validate(buildResponse(t, o, fixNow), requestID); !errors.As(err, &ref) || ref.Reason != ReasonBadSignature {
		t.Fatalf("SHA-1 by another key with allow_sha1: %v, want bad_signature", err)
	}
}

// TestWeakAlgorithm: every SHA-1 algorithm of XML-DSig is weak, and only
// those.
func TestWeakAlgorithm(t *testing.T) {
	for alg, want := range map[string]bool{
		"http://www.w3.org/2000/09/xmldsig#rsa-sha1":          true,
		"http://www.w3.org/2000/09/xmldsig#dsa-sha1":          true,
		"http://www.w3.org/2000/09/xmldsig#hmac-sha1":         true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1":   true,
		"http://www.w3.org/2000/09/xmldsig#sha1":              true,
		" http://www.w3.org/2000/09/xmldsig#SHA1 ":            true,
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   false,
		"http://www.w3.org/2001/04/xmlenc#sha256":             false,
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   false,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": false,
	} {
		if got := weakAlgorithm(alg); got != want {
			t.Errorf("weakAlgorithm(%q) = %v, want %v", alg, got, want)
		}
	}
}

func TestParseIdPMetadata(t *testing.T) {
	idp, _ := testKeys(t)
	md, err := ParseIdPMetadata(idpMetadata(t, idpEntity, "https://idp.example.com/sso", idp.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if md.EntityID != idpEntity || md.SSOURL != "https://idp.example.com/sso" || len(md.Certs) != 1 || !md.Certs[0].Equal(idp.Cert) {
		t.Fatalf("metadata %+v", md)
	}
	wrapped := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
		strings.TrimPrefix(string(idpMetadata(t, idpEntity, "https://idp.example.com/sso", idp.Cert)), `<?xml version="1.0"?>`) + `</md:EntitiesDescriptor>`
	if md, err := ParseIdPMetadata([]byte(wrapped)); err != nil || md.EntityID != idpEntity {
		t.Fatalf("EntitiesDescriptor: %+v, %v", md, err)
	}
	if _, err := ParseIdPMetadata([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`)); err == nil {
		t.Fatal("metadata without an IdP accepted")
	}
}

// TestIdPMetadataBounded: metadata over maxMetadataSize is refused, from
// a file as from a URL, however well-formed.
func TestIdPMetadataBounded(t *testing.T) {
	idp, _ := testKeys(t)
	md := idpMetadata(t, idpEntity, "https://idp.example.com/sso", idp.Cert)
	big := append(bytes.Clone(md), []byte("<!--"+strings.Repeat("x", maxMetadataSize)+"-->")...)
	if _, err := ParseIdPMetadata(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("ParseIdPMetadata of %d bytes: %v, want refused as too large", len(big), err)
	}
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	src := &metadataSource{tenant: "acme", file: path}
	if err := src.load(context.Background(), fixNow); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("metadata file of %d bytes: %v, want refused as too large", len(big), err)
	}
	if _, err := ParseIdPMetadata(md); err != nil {
		t.Fatal(err)
	}
}
