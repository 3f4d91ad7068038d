// Package scim is rosterd's SCIM 2.0 server (RFC 7643/7644) for identity
// providers — Entra ID, Okta, OneLogin, JumpCloud, Google — at
// /scim/{tenant}/v2/.
//
// It stands on github.com/elimity-com/scim for routing, schema validation
// and error bodies, and on github.com/scim2/filter-parser for filter and
// PATCH path syntax, and adds what those leave out:
// bearer-token auth per tenant connection, PATCH application, filters
// translated into store queries, ETags and If-Match, Location headers,
// attributes/excludedAttributes, a truthful ServiceProviderConfig, and a
// layer that accepts the bodies real IdPs send (Entra's "False" strings,
// its string-valued manager, a PatchOp without schemas).
//
// What a connection sees is its own claims: a SCIM User is a card as the
// connection's claim (source "scim:<connection>") states it, with the card's
// id. Writes go through the directory service as claims — POST and PUT as
// present or deactivated (active:false), DELETE as withdrawn, after which
// the resource answers 404 while the card lives on for the other sources.
// A POST for an email whose card exists without this connection's claim
// adopts that card. Groups are the connection's; their membership is part
// of each member's claim (its groups attribute), so a membership change is
// a card change like any other.
//
// Decisions worth knowing:
//   - externalId is the IdP's to choose and need not be unique (RFC 7643
//     §3.1); rosterd keys users by id and userName, never by externalId.
//   - The resource returned is what the IdP sent (kept as the claim's raw
//     record), so an IdP that compares what it reads with what it wrote
//     sees no drift; the card's resolved attributes may differ.
//   - meta.version is the card's version: a change by another source
//     changes the ETag too.
//   - An unknown member id in a group PATCH is ignored and logged.
//   - A filter, and a PATCH path, is bounded in size and depth before any
//     parser reads it, and its syntax errors are explained in rosterd's
//     words, not the parser's (filtercheck.go).
//
// Read Server first, then users.go and patch.go.
package scim
