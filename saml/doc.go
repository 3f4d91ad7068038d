// Package saml is rosterd's SAML 2.0 service provider: one SP per tenant
// under /saml/{tenant}/ (metadata, login, acs), the validation of the IdP's
// responses, the replay cache, and the one-time login codes that hand a
// logged-in person to the platform.
//
// Read Validator first: it is pure (no HTTP, no store) and refuses every
// response it does not accept with a *Refusal whose Reason names the one
// check that failed (unsigned, bad_signature, signature_wrapping,
// wrong_issuer, wrong_audience, wrong_destination, wrong_recipient,
// wrong_tenant, expired, not_yet_valid, unknown_request, weak_signature,
// idp_initiated_not_allowed, missing_issuer, …). Then Server.serveACS: the
// replay check in the store (so a replay to another replica is refused
// too), the identity, directory.Service.RecordLogin (source "saml"), and
// the login code.
//
// What it must never do: write cards itself (the directory does), log an
// assertion or a person's attributes (ids, reasons and references only),
// show a person why a login failed beyond "contact your administrator"
// (the page carries a reference that finds the log line), or redirect to a
// URL that is not the tenant's app_callback_url or one of its
// allowed_return_urls.
//
// Decisions worth knowing:
//   - crewjam/saml builds the metadata and the AuthnRequests (HTTP-Redirect,
//     signed with RSA-SHA256); responses are validated here, on etree and
//     goxmldsig directly. crewjam v0.5.1's response parser reads time from
//     package globals (no per-tenant skew, no pinned clock in tests),
//     panics on an assertion without Issuer, and reports every failure as
//     one opaque error; a per-failure reason needs its own checks anyway.
//     Validation still runs under recover (ReasonPanic).
//   - Exactly one assertion, directly under the response, and only what a
//     signature covered is read (goxmldsig returns the signed element):
//     every known signature-wrapping shape is refused as such.
//   - The request cookie (AuthnRequest id and return_to, HMAC-signed with
//     a key derived from the SP key, so any replica can read it) is
//     Secure and SameSite=None when public_url is HTTPS; it lives
//     request_cookie_lifetime (default 5 minutes, for slow MFA), which
//     also bounds an assertion's age.
//   - The SP key pair comes from cert_file/key_file, or is generated on
//     first start and kept in the store (saml_key_pairs), so replicas
//     share it. The private key is stored sealed (internal/secretbox,
//     AES-256-GCM, bound to the tenant) under the key-encryption key the
//     wiring passes in Options.Secrets; a key an older rosterd stored in
//     the clear is sealed in place on the first start.
//   - Anyone can post to an ACS, so a refusal cannot grow the audit trail
//     at will: the values it quotes are cut to 128 bytes (lists to four),
//     and refusals that reach no card are audited per tenant and source
//     address (IPv4 address, IPv6 /64) through a token bucket, 20 at once
//     then one per 3 s. Past it they are answered, logged and counted
//     (rosterd_saml_refusal_audits_dropped_total), not audited.
//   - Every AudienceRestriction must name this SP; a bearer confirmation
//     must carry NotOnOrAfter; SHA-1 in a signature (RSA-SHA1 or a SHA-1
//     digest) is refused as weak_signature unless the tenant sets
//     allow_sha1 (old ADFS).
//   - return_to and IdP-initiated RelayState are compared as the browser
//     resolves them: decoded, dot segments removed; encoded slashes,
//     empty segments and a climb above the root are refused.
//   - A failed metadata refresh keeps the last good metadata; /readyz
//     reports it (check "saml") and rosterd_saml_idp_metadata_stale is 1.
//   - Login codes: rlc_ + 256 random bits, stored as SHA-256, 60 s, one
//     redemption (a single UPDATE … RETURNING), bound to their tenant.
package saml
