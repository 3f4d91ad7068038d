package saml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// maxFuzzResponse bounds a fuzzed response; the ACS reads at most
// maxResponseSize, and the seeds are a few kilobytes.
const maxFuzzResponse = 64 << 10

// FuzzValidate: at a fixed clock, with the fixture's IdP key, Validate
// never panics, and accepts nothing but one of the seeds' correctly
// signed, in-time, right-audience assertions, read as signed. The seeds
// also hold signed assertions that must never be accepted (wrong
// audience, expired, SHA-1, no NotOnOrAfter…) and the refusal fixtures.
func FuzzValidate(f *testing.F) {
	_, evil := testKeys(f)
	v := testValidator(f)
	good := map[string]bool{}
	add := func(ok bool, id string, o respOpts) {
		o.id = id
		if ok {
			good[id] = true
		}
		f.Add(buildResponse(f, o, fixNow))
	}
	add(true, "id-good-assertion", respOpts{})
	add(true, "id-good-response", respOpts{signResponse: true})
	add(true, "id-good-both", respOpts{signAssertion: true, signResponse: true})
	add(false, "id-bad-audience", respOpts{audience: "https://other-sp.example.com/"})
	add(false, "id-bad-tenant", respOpts{audience: otherEntity, recipient: otherACS, destination: otherACS})
	add(false, "id-bad-expired", respOpts{notOnOrAfter: fixNow.Add(-time.Hour)})
	add(false, "id-bad-future", respOpts{notBefore: fixNow.Add(time.Hour)})
	add(false, "id-bad-old", respOpts{issueInstant: fixNow.Add(-time.Hour)})
	add(false, "id-bad-recipient", respOpts{recipient: "https://other-sp.example.com/acs"})
	add(false, "id-bad-sha1", respOpts{sigMethod: dsig.RSASHA1SignatureMethod})
	add(false, "id-bad-sha1-response", respOpts{signResponse: true, sigMethod: dsig.RSASHA1SignatureMethod})
	add(false, "id-bad-evil", respOpts{key: &evil})
	add(false, "id-bad-no-issuer", respOpts{issuer: "-"})
	add(false, "id-bad-unsigned", respOpts{unsigned: true})
	add(false, "id-bad-idp-initiated", respOpts{inResponseTo: "-"})
	add(false, "id-bad-request", respOpts{inResponseTo: "id-other-request"})
	add(false, "id-bad-second-restriction", respOpts{modify: func(a *etree.Element) {
		a.FindElement("./Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://x.example.com/")
	}})
	add(false, "id-bad-no-notonorafter", respOpts{modify: func(a *etree.Element) {
		a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").RemoveAttr("NotOnOrAfter")
	}})
	add(false, "id-bad-wrapped", respOpts{after: func(r *etree.Element) {
		r.AddChild(makeAssertion(respOpts{id: "id-forged", email: "mallory@example.com"}, fixNow))
	}})
	add(false, "id-bad-extensions", respOpts{after: func(r *etree.Element) {
		signed := r.FindElement("./Assertion")
		r.RemoveChild(signed)
		r.CreateElement("samlp:Extensions").AddChild(signed)
		r.AddChild(makeAssertion(respOpts{id: "id-forged"}, fixNow))
	}})
	add(false, "id-bad-encrypted", respOpts{after: func(r *etree.Element) {
		r.RemoveChild(r.FindElement("./Assertion"))
		r.CreateElement("saml:EncryptedAssertion").CreateElement("xenc:EncryptedData").CreateAttr("xmlns:xenc", nsEnc)
	}})
	f.Add([]byte(`<samlp:Response xmlns:samlp="` + nsProtocol + `"/>`))
	f.Add([]byte("<samlp:Response"))

	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > maxFuzzResponse {
			t.Skip()
		}
		a, err := v.Validate(raw, requestID)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("Validate returned %T, not a *Refusal: %v", err, err)
			}
			if len(ref.Detail) > maxDetail {
				t.Fatalf("refusal detail of %d bytes", len(ref.Detail))
			}
			return
		}
		// Accepted: it must be a good seed's assertion, as signed.
		if !good[a.ID] {
			t.Fatalf("accepted assertion %q, which no good seed signed", a.ID)
		}
		if a.Issuer != idpEntity || a.NameID != "ann@example.com" || a.NameIDFormat != emailNameIDFormat ||
			a.InResponseTo != requestID || len(a.Attributes) != 2 || fmt.Sprint(a.Attributes["firstName"]) != "[Ann]" ||
			fmt.Sprint(a.Attributes["lastName"]) != "[Lee]" || a.SessionIndex != "session-1" {
			t.Fatalf("accepted assertion %+v differs from what was signed", a)
		}
		if !a.IssueInstant.Equal(fixNow.Truncate(time.Millisecond)) || !a.Expires.After(fixNow) {
			t.Fatalf("accepted assertion issued %s, expires %s", a.IssueInstant, a.Expires)
		}
	})
}

// FuzzParseIdPMetadata: metadata parsing never panics, refuses what is
// over maxMetadataSize, and what it accepts is usable: an entity id, a
// signing certificate, an HTTP-Redirect SSO URL.
func FuzzParseIdPMetadata(f *testing.F) {
	idp, _ := testKeys(f)
	md := idpMetadata(f, idpEntity, "https://idp.example.com/sso", idp.Cert)
	f.Add(md)
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
		strings.TrimPrefix(string(md), `<?xml version="1.0"?>`) + `</md:EntitiesDescriptor>`))
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`))
	f.Add(bytes.Replace(md, []byte("use=\"signing\""), []byte("use=\"encryption\""), 1))
	f.Add(bytes.Replace(md, []byte("<ds:X509Certificate>"), []byte("<ds:X509Certificate>!!"), 1))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntitiesDescriptor/></md:EntitiesDescriptor>`))
	f.Add([]byte("<"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseIdPMetadata(data)
		if err != nil {
			return
		}
		if len(data) > maxMetadataSize {
			t.Fatalf("accepted %d bytes of metadata, over %d", len(data), maxMetadataSize)
		}
		if got.EntityID == "" || len(got.Certs) == 0 || got.SSOURL == "" || got.Descriptor == nil {
			t.Fatalf("accepted metadata without what a login needs: %+v", got)
		}
	})
}
