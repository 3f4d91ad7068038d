package scim

import (
	"sync"
	"time"
)

// pageCache remembers, per connection and filter, the total of a list of
// users and where its pages start, so that an IdP reading every user page
// by page (startIndex 1, 101, 201, …) costs a page each, not a count of
// all matches plus a walk over every match before the page: the store
// starts the next page after the last card id of the one before (keyset),
// and the count is made once.
//
// What is remembered is dropped when the connection writes (every
// request but GET moves the generation of its source), and is at most
// pageCacheTTL old: another replica's writes are seen within that time,
// as lists under concurrent writes anyway shift between pages (RFC 7644
// §3.4.2.4 promises no consistency across pages).
type pageCache struct {
	mu      sync.Mutex
	now     func() time.Time
	gens    map[string]uint64 // tenant/source → generation
	entries map[pageKey]*pageEntry
}

const (
	pageCacheTTL        = 10 * time.Second
	pageCacheMaxEntries = 1024
	pageCacheMaxStarts  = 4096
)

type pageKey struct{ source, filter string } // source is "tenant/source"

type pageEntry struct {
	gen   uint64
	made  time.Time
	total int
	// after maps a startIndex offset to the card id its page starts after.
	after map[int]string
}

func newPageCache() *pageCache {
	return &pageCache{now: time.Now, gens: map[string]uint64{}, entries: map[pageKey]*pageEntry{}}
}

// generation is the source's generation now: take it before reading, and
// hand it to remember, so a write that lands meanwhile makes what was read
// stale rather than current.
func (c *pageCache) generation(source string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[source]
}

// wrote moves the source's generation: what was remembered of it is stale.
func (c *pageCache) wrote(source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[source]++
}

// lookup returns the total and where the page at offset starts (after, ""
// when not known), if the entry is current.
func (c *pageCache) lookup(k pageKey, offset int) (total int, after string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || e.gen != c.gens[k.source] || c.now().Sub(e.made) > pageCacheTTL {
		return 0, "", false
	}
	return e.total, e.after[offset], true
}

// remember records the total (read at generation gen) and, for pages, the
// card ids pages start after.
func (c *pageCache) remember(k pageKey, gen uint64, total int, starts map[int]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gens[k.source] {
		return // written since it was read
	}
	e := c.entries[k]
	if e == nil || e.gen != gen || c.now().Sub(e.made) > pageCacheTTL {
		if len(c.entries) >= pageCacheMaxEntries {
			clear(c.entries)
		}
		e = &pageEntry{gen: gen, made: c.now(), total: total, after: map[int]string{}}
		c.entries[k] = e
	}
	if len(e.after)+len(starts) > pageCacheMaxStarts {
		clear(e.after)
	}
	for off, id := range starts {
		e.after[off] = id
	}
}
