package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// fillEvents writes n events of tenant acme, 5,000 per transaction, with
// a payload the size of a real card.updated.
func fillEvents(b testing.TB, st store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	at := time.Now()
	data := []byte(`{"card":{"id":"01a1fce7-0cf7-757f-b4d6-443d923a09cc","email":"user@example.com","status":"active","enabled":true,` +
		`"attributes":{"given_name":"Given","family_name":"Family","department":"R&D","title":"Engineer"}},"changes":["title"],"reason":"enabled: listed by file:hr"}`)
	for lo := 0; lo < n; lo += 5000 {
		var ch store.Changes
		for i := lo; i < min(lo+5000, n); i++ {
			ch.Events = append(ch.Events, store.Event{Tenant: "acme", CardID: fmt.Sprintf("c%07d", i), Type: "card.updated", At: at,
				Actor: "file:hr", Source: "file:hr", Data: data})
		}
		if err := st.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeedRead: events/s through EventsAfter, pages of 1,000, over a
// feed of 100,000 events.
func BenchmarkFeedRead(b *testing.B) {
	const n = 100_000
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			st := storetest.Migrated(b, be.Open)
			fillEvents(b, st, n)
			b.ResetTimer()
			start := time.Now()
			read := 0
			for range b.N {
				cur := store.EventCursor{}
				for {
					page, err := st.EventsAfter(context.Background(), "acme", cur, 1000)
					if err != nil {
						b.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					read += len(page)
					cur = page[len(page)-1].Cursor
				}
			}
			if read != n*b.N {
				b.Fatalf("read %d events, want %d", read, n*b.N)
			}
			b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkDeliver: events/s from the feed to a local receiver that
// verifies each signature, batches of 100, one dispatcher.
func BenchmarkDeliver(b *testing.B) {
	const n = 20_000
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			st := storetest.Migrated(b, be.Open)
			fillEvents(b, st, n)
			var got atomic.Int64
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, time.Now(), 5*time.Minute); err != nil {
					http.Error(w, err.Error(), http.StatusUnauthorized)
					return
				}
				got.Add(int64(len(body))) // bytes, for the log
				w.WriteHeader(http.StatusNoContent)
			}))
			defer rcv.Close()
			b.ResetTimer()
			start := time.Now()
			delivered := 0
			for i := range b.N {
				d, err := webhook.New(st, webhook.Options{URL: fmt.Sprintf("%s/hooks/%d", rcv.URL, i), Secret: secret, Tenants: []string{"acme"}})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Load(context.Background()); err != nil {
					b.Fatal(err)
				}
				for {
					wait, err := d.Step(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if wait > 0 {
						break // nothing more: the backlog is delivered
					}
				}
				delivered += n
			}
			b.ReportMetric(float64(delivered)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64(got.Load())/float64(delivered), "body-bytes/event")
		})
	}
}

// noEvents is the store without the event rows: each Write drops its
// Changes.Events. Only for measuring what events cost.
type noEvents struct{ store.Backend }

func (s noEvents) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Backend.InTx(ctx, func(tx store.Tx) error { return fn(noEventsTx{tx}) })
}

// Analyze passes on the PostgreSQL store's statistics refresh, which
// ApplyAll looks for: without it the comparison would measure stale plans.
func (s noEvents) Analyze(ctx context.Context) error {
	if an, ok := s.Backend.(interface{ Analyze(context.Context) error }); ok {
		return an.Analyze(ctx)
	}
	return nil
}

type noEventsTx struct{ store.Tx }

func (t noEventsTx) Write(ctx context.Context, ch store.Changes) error {
	ch.Events = nil
	return t.Tx.Write(ctx, ch)
}

// BenchmarkApplyEventsOverhead: directory.ApplyAll of 100,000 new cards
// (1,000 per transaction, two in flight), with and without the event
// rows, alternating (and swapping which goes first) so that the
// machine's load hits both alike.
func BenchmarkApplyEventsOverhead(b *testing.B) {
	const cards = 100_000
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	ins := make([]directory.ClaimInput, cards)
	for i := range ins {
		ins[i] = directory.ClaimInput{Tenant: "acme", Source: "file:hr", ExternalID: fmt.Sprintf("E%07d", i),
			Email: fmt.Sprintf("user%07d@example.com", i), State: store.Present, Authoritative: true,
			Attributes: directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D", Title: "Engineer"}}
	}
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			var with, without time.Duration
			for i := range b.N {
				order := []bool{true, false}
				if i%2 == 1 {
					order = []bool{false, true}
				}
				for _, events := range order {
					b.StopTimer()
					var st store.Store = storetest.Migrated(b, be.Open)
					if !events {
						st = noEvents{st.(store.Backend)}
					}
					svc := directory.NewService(st, map[string]directory.Policy{"acme": policy})
					b.StartTimer()
					start := time.Now()
					if _, err := svc.ApplyAll(context.Background(), directory.Actor{Name: "file:hr", RunID: "1"}, ins, directory.BatchOptions{Size: 1000, Workers: 2}); err != nil {
						b.Fatal(err)
					}
					el := time.Since(start)
					n, _ := st.CountEventsAfter(context.Background(), "acme", store.EventCursor{}, 2*cards)
					if (n == cards) != events {
						b.Fatalf("events=%v: %d event rows", events, n)
					}
					if events {
						with += el
					} else {
						without += el
					}
					b.Logf("%s events=%v: %.0f cards/s", be.Name, events, cards/el.Seconds())
				}
			}
			b.ReportMetric(cards*float64(b.N)/with.Seconds(), "cards/s(events)")
			b.ReportMetric(cards*float64(b.N)/without.Seconds(), "cards/s(no-events)")
			b.ReportMetric(100*(with.Seconds()/without.Seconds()-1), "%overhead")
		})
	}
}
