// Package peertest runs Microsoft's published SCIM test collection
// (shared/peers/scim-entra-reference/PostmanCollection.json, beside the
// repository) with newman against a real rosterd process serving
// /scim/{tenant}/v2/. It holds no code outside its test; see newman_test.go
// for the harness and COLLECTION.md for what the collection asks of the
// server.
//
// newman is pinned in package.json and installed with
//
//	cd scim/peertest && npm ci
//
// which .ci/run does when it is missing.
package peertest
