package saml

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// auditLimiter rate-limits the audit lines of refusals that reach no card,
// per tenant and source address: anyone can post to an ACS, and each post
// must not be able to add a line to the audit trail. A token bucket per
// (tenant, source); a source is an IPv4 address or an IPv6 /64 (one host
// owns all of a /64) as http.Request.RemoteAddr has it: behind a reverse
// proxy that is the proxy, as X-Forwarded-For is anyone's to write. Past
// the limit a refusal is still answered, logged and counted, just not
// audited.
//
// The buckets are bounded too: at max sources, buckets that have refilled
// (and so say nothing a new bucket would not) are forgotten; when none
// has, a new source is not audited until one has.
type auditLimiter struct {
	now   func() time.Time
	burst float64
	every time.Duration // one token back per every
	max   int

	mu      sync.Mutex
	buckets map[limitKey]*bucket
}

type limitKey struct {
	tenant string
	source netip.Prefix
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Defaults: a burst of 20 audit lines per tenant and source, then one
// every 3 s (20 a minute); at most 10 000 sources remembered.
const (
	defaultAuditBurst   = 20
	defaultAuditEvery   = 3 * time.Second
	defaultAuditSources = 10_000
)

func newAuditLimiter(now func() time.Time, burst int, every time.Duration, max int) *auditLimiter {
	return &auditLimiter{now: now, burst: float64(burst), every: every, max: max, buckets: map[limitKey]*bucket{}}
}

// allow takes a token for tenant and the request's remote address
// (host:port, as http.Request.RemoteAddr has it).
func (l *auditLimiter) allow(tenant, remoteAddr string) bool {
	k := limitKey{tenant: tenant, source: sourceOf(remoteAddr)}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.forgetFull(now)
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[k] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *auditLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// forgetFull drops the buckets that have refilled to the burst.
func (l *auditLimiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// sourceOf is the source a remote address counts as: the address for
// IPv4, its /64 for IPv6, and one shared source for anything unreadable.
func sourceOf(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
