package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

func writeEvent(t testing.TB, s store.Store, tenant, card string, at time.Time) {
	t.Helper()
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		return tx.Write(context.Background(), store.Changes{Events: []store.Event{{Tenant: tenant, CardID: card, Type: "card.updated", At: at, Data: []byte(`{}`)}}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testEventFeed(t *testing.T, s store.Backend) {
	ctx := context.Background()
	for i := range 7 {
		writeEvent(t, s, "acme", fmt.Sprintf("c%d", i), t0.Add(time.Duration(i)*time.Hour))
	}
	writeEvent(t, s, "globex", "g", t0)
	var all []store.Event
	cursor := store.EventCursor{}
	for {
		page, err := s.EventsAfter(ctx, "acme", cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		cursor = page[len(page)-1].Cursor
	}
	if len(all) != 7 || all[0].CardID != "c0" || all[6].CardID != "c6" {
		t.Fatalf("paged %d events: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].Cursor.Less(all[i].Cursor) {
			t.Fatalf("cursors out of order: %v then %v", all[i-1].Cursor, all[i].Cursor)
		}
	}
	parsed, err := store.ParseEventCursor(all[3].Cursor.String())
	if err != nil || parsed != all[3].Cursor {
		t.Fatalf("cursor round trip: %v, %v", parsed, err)
	}
	rest, _ := s.EventsAfter(ctx, "acme", parsed, 100)
	if len(rest) != 3 || rest[0].CardID != "c4" {
		t.Fatalf("resumed from a cursor: %+v", rest)
	}
	// Retention: events older than 3h go; a cursor from before them is gone.
	n, err := s.PruneEvents(ctx, t0.Add(3*time.Hour))
	if err != nil || n != 4 { // c0, c1, c2 and globex's
		t.Fatalf("PruneEvents = %d, %v", n, err)
	}
	if _, err := s.EventsAfter(ctx, "acme", all[1].Cursor, 10); !errors.Is(err, store.ErrGone) {
		t.Fatalf("a pruned cursor: %v, want ErrGone", err)
	}
	kept, err := s.EventsAfter(ctx, "acme", all[2].Cursor, 10)
	if err != nil || len(kept) != 4 || kept[0].CardID != "c3" {
		t.Fatalf("from the horizon: %+v, %v", kept, err)
	}
	fromStart, _ := s.EventsAfter(ctx, "acme", store.EventCursor{}, 10)
	if len(fromStart) != 4 {
		t.Fatalf("from the start after pruning: %d", len(fromStart))
	}
	if _, err := store.ParseEventCursor("12-x"); err == nil {
		t.Fatal("a bad cursor parsed")
	}
}

// testEventFeedConcurrent: writers commit events while a reader pages the
// feed; the reader sees every event exactly once, and per card in the
// order the card changed.
func testEventFeedConcurrent(t *testing.T, s store.Backend) {
	ctx := context.Background()
	const writers, perWriter = 8, 60
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Each writer is one card: its events carry a sequence number.
				err := s.InTx(ctx, func(tx store.Tx) error {
					if i%7 == 3 {
						time.Sleep(time.Millisecond) // hold the transaction open a while
					}
					return tx.Write(ctx, store.Changes{Events: []store.Event{{Tenant: "acme", CardID: fmt.Sprintf("w%d", w),
						Type: "card.updated", At: t0, Data: []byte(fmt.Sprintf(`{"seq":%d}`, i))}}})
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	lastSeq := map[string]int{}
	cursor := store.EventCursor{}
	finished := false
	for {
		page, err := s.EventsAfter(ctx, "acme", cursor, 25)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if seen[e.ID] {
				t.Fatalf("event %d seen twice", e.ID)
			}
			seen[e.ID] = true
			var seq int
			fmt.Sscanf(string(e.Data), `{"seq":%d}`, &seq)
			if last, ok := lastSeq[e.CardID]; ok && seq != last+1 {
				t.Fatalf("card %s: event %d after %d", e.CardID, seq, last)
			} else if !ok && seq != 0 {
				t.Fatalf("card %s: first event seen is %d: earlier ones were skipped", e.CardID, seq)
			}
			lastSeq[e.CardID] = seq
			cursor = e.Cursor
		}
		if len(page) == 0 {
			if finished {
				break
			}
			select {
			case <-done:
				finished = true // one more pass: everything committed is visible now
			default:
				time.Sleep(time.Millisecond)
			}
		}
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("reader saw %d events, want %d", len(seen), writers*perWriter)
	}
}
