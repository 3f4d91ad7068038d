// Package ratelimit bounds what one source can make rosterd do or keep:
// a token bucket per key (a tenant, a form) and source address. A source
// is an IPv4 address or an IPv6 /64 (one host owns all of a /64) as
// http.Request.RemoteAddr has it: behind a reverse proxy that is the
// proxy, as X-Forwarded-For is anyone's to write.
//
// The buckets are bounded too: at max sources, buckets that have refilled
// (and so say nothing a new bucket would not) are forgotten; when none
// has, a new source is refused until one has.
package ratelimit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limiter is the token buckets of one limit.
type Limiter struct {
	now   func() time.Time
	burst float64
	every time.Duration // one token back per every
	max   int

	mu      sync.Mutex
	buckets map[limitKey]*bucket
}

type limitKey struct {
	key    string
	source netip.Prefix
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New is a Limiter of burst tokens per key and source, one back per
// every, remembering at most max sources.
func New(now func() time.Time, burst int, every time.Duration, max int) *Limiter {
	return &Limiter{now: now, burst: float64(burst), every: every, max: max, buckets: map[limitKey]*bucket{}}
}

// Allow takes a token for key and the request's remote address
// (host:port, as http.Request.RemoteAddr has it): false when there is
// none left.
func (l *Limiter) Allow(key, remoteAddr string) bool {
	k := limitKey{key: key, source: sourceOf(remoteAddr)}
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

func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// forgetFull drops the buckets that have refilled to the burst.
func (l *Limiter) forgetFull(now time.Time) {
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
