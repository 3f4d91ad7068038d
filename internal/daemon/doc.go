// Package daemon is the process surface every rosterd channel is mounted on:
// the process logger, the HTTP server with per-route metrics and request
// logs, /healthz, /readyz, /metrics, and graceful shutdown.
//
// Read [Server] first: [NewServer] builds it, [Server.Handle] mounts a
// channel's handler on a net/http pattern, [Server.AddReadinessCheck] adds
// what /readyz waits for, and [Server.Run] serves until the context is
// cancelled. [NewLogger] builds the *slog.Logger the rest of the process is
// given. [WriteJSON] and [WriteError] are the response helpers of the JSON
// APIs; the 404, 405 and 500 answers of this package use the same error body:
//
//	{"error":{"code":"not_found","message":"…"}}
//
// What it owns:
//
//   - Metrics rosterd_http_requests_total{route,method,code},
//     rosterd_http_request_duration_seconds{route,method} and
//     rosterd_http_panics_total{route}. The route label is the pattern as
//     registered ("GET /api/v1/tenants/{t}/cards"), or "unmatched" for
//     requests no pattern took; unusual methods count as "other". Labels
//     never hold a raw path, so their number stays bounded.
//   - One request log line per request ("http request": method, route,
//     status, duration, bytes, remote), at info, or debug for the probe and
//     scrape routes. remote is the peer address; behind a proxy it is the
//     proxy's (forwarding headers are not trusted here).
//   - Recovery from handler panics: logged with the stack, counted, answered
//     500 if nothing was written yet, otherwise the connection is cut so the
//     client cannot take a truncated body for a whole one.
//   - The shutdown order: not ready, stop accepting, let in-flight requests
//     finish until the deadline.
//
// What it must never do:
//
//   - Know anything of SCIM, SAML, cards or tenants; channels bring their
//     handlers and checks.
//   - Log a request's query string, path values, headers or body: they carry
//     login codes, emails and bearer tokens.
//   - Use a global logger, registry or mux (no http.DefaultServeMux, no
//     prometheus.DefaultRegisterer): everything is passed in, so tests and
//     several servers in one process stay apart.
package daemon
