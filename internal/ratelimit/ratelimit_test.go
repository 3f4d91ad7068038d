package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
)

// TestLimiter: a burst per key and source, a source being an address
// (any port) or an IPv6 /64, and tokens that come back with time.
func TestLimiter(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	l := New(clk.Now, 3, 10*time.Second, 100)
	allowed := func(tenant, addr string, n int) int {
		got := 0
		for range n {
			if l.Allow(tenant, addr) {
				got++
			}
		}
		return got
	}
	if n := allowed("acme", "192.0.2.1:1000", 10); n != 3 {
		t.Fatalf("burst of 10 from one address: %d allowed, want 3", n)
	}
	// Another port of that address is the same source; another address or
	// another tenant is not.
	if n := allowed("acme", "192.0.2.1:2000", 1); n != 0 {
		t.Fatalf("another port of a limited address: %d allowed, want 0", n)
	}
	if n := allowed("acme", "192.0.2.2:1000", 5); n != 3 {
		t.Fatalf("another address: %d allowed, want 3", n)
	}
	if n := allowed("globex", "192.0.2.1:1000", 5); n != 3 {
		t.Fatalf("another tenant: %d allowed, want 3", n)
	}
	// An IPv6 /64 is one source: one host owns all of it.
	if n := allowed("acme", "[2001:db8:1:2::1]:1", 2) + allowed("acme", "[2001:db8:1:2:ffff::9]:1", 5); n != 3 {
		t.Fatalf("addresses of one /64: %d allowed, want 3", n)
	}
	// Tokens come back with time: one per 10 s, up to the burst.
	clk.Advance(9 * time.Second)
	if n := allowed("acme", "192.0.2.1:1000", 1); n != 0 {
		t.Fatalf("after 9 s: %d allowed, want 0", n)
	}
	clk.Advance(time.Second)
	if n := allowed("acme", "192.0.2.1:1000", 5); n != 1 {
		t.Fatalf("after 10 s: %d allowed, want 1", n)
	}
	clk.Advance(time.Hour)
	if n := allowed("acme", "192.0.2.1:1000", 5); n != 3 {
		t.Fatalf("after an hour: %d allowed, want the burst of 3", n)
	}
}

// TestLimiterIsBounded: a flood from ever new addresses does not grow
// the limiter without bound; beyond its size new sources are refused
// until old ones have refilled and are forgotten.
func TestLimiterIsBounded(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	l := New(clk.Now, 2, time.Second, 50)
	allowed := 0
	for i := range 1000 {
		if l.Allow("acme", fmt.Sprintf("198.51.%d.%d:1", i/256, i%256)) {
			allowed++
		}
	}
	if len(l.buckets) > 50 || allowed > 50 {
		t.Fatalf("%d buckets, %d allowed; want at most 50 of each", len(l.buckets), allowed)
	}
	clk.Advance(2 * time.Second) // every bucket is full again: forgettable
	if !l.Allow("acme", "203.0.113.9:1") {
		t.Fatal("a new source after the old ones refilled was refused")
	}
}
