package scim

import (
	"testing"
	"time"
)

func TestPageCache(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	c := newPageCache()
	c.now = func() time.Time { return now }
	k := pageKey{source: "acme/scim:okta", filter: ""}
	if _, _, ok := c.lookup(k, 0); ok {
		t.Fatal("an empty cache answered")
	}
	gen := c.generation(k.source)
	c.remember(k, gen, 250, map[int]string{100: "c100", 200: "c200"})
	if total, after, ok := c.lookup(k, 100); !ok || total != 250 || after != "c100" {
		t.Fatalf("lookup 100: %d %q %v", total, after, ok)
	}
	if total, after, ok := c.lookup(k, 150); !ok || total != 250 || after != "" {
		t.Fatalf("an offset without a start: %d %q %v", total, after, ok)
	}
	// Another filter, another connection: nothing.
	if _, _, ok := c.lookup(pageKey{source: k.source, filter: `active eq true`}, 100); ok {
		t.Fatal("another filter answered")
	}
	if _, _, ok := c.lookup(pageKey{source: "globex/scim:okta"}, 100); ok {
		t.Fatal("another tenant answered")
	}
	// A write of the connection makes it stale, and what was read before
	// the write is not remembered after it.
	c.wrote(k.source)
	if _, _, ok := c.lookup(k, 100); ok {
		t.Fatal("stale after a write")
	}
	c.remember(k, gen, 250, map[int]string{100: "c100"})
	if _, _, ok := c.lookup(k, 100); ok {
		t.Fatal("a read from before the write was remembered")
	}
	gen = c.generation(k.source)
	c.remember(k, gen, 251, map[int]string{100: "c099"})
	if total, after, ok := c.lookup(k, 100); !ok || total != 251 || after != "c099" {
		t.Fatalf("after the write: %d %q %v", total, after, ok)
	}
	// At most pageCacheTTL old.
	now = now.Add(pageCacheTTL + time.Second)
	if _, _, ok := c.lookup(k, 100); ok {
		t.Fatal("older than the TTL")
	}
	// Bounded.
	for i := range pageCacheMaxEntries + 10 {
		c.remember(pageKey{source: k.source, filter: string(rune('a'+i%26)) + string(rune(i))}, gen, i, nil)
	}
	if len(c.entries) > pageCacheMaxEntries {
		t.Fatalf("%d entries", len(c.entries))
	}
	starts := map[int]string{}
	for i := range pageCacheMaxStarts + 1 {
		starts[i] = "x"
	}
	c.remember(k, gen, 1, starts)
	c.remember(k, gen, 1, map[int]string{7: "y"})
	if e := c.entries[k]; len(e.after) > pageCacheMaxStarts {
		t.Fatalf("%d starts", len(e.after))
	}
}
