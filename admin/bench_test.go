package admin

import (
	"fmt"
	"github.com/rosterd/rosterd/internal/benchseed"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkCards1M: GET …/cards against 1,000,000 cards on PostgreSQL —
// the first page and a page deep into the cursor — and the CSV export of
// all of them, with the Go heap sampled while it streams.
//
//	go test -run '^$' -bench Cards1M -benchtime 1x -timeout 30m ./admin/
func BenchmarkCards1M(b *testing.B) {
	n := benchseed.Size(1_000_000)
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenPostgres)
		e := newEnv(&testing.T{}, st)
		_ = e
		b.StartTimer()
		b.StopTimer()
		// Seed through the directory, as a feed would.
		benchseed.Cards(b, e.dir, "acme", n, func(i int) directory.Attributes {
			return directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D", Location: "Berlin"}
		})
		timeGet := func(path string) (time.Duration, response) {
			var best time.Duration
			var r response
			for range 5 { // the best of five: warm caches, no outliers from the shared machine
				start := time.Now()
				r = e.do("GET", path, roKey, nil)
				if d := time.Since(start); best == 0 || d < best {
					best = d
				}
				if r.Status != http.StatusOK {
					b.Fatalf("%s: %d %s", path, r.Status, r.Raw)
				}
			}
			return best, r
		}
		first, page := timeGet("/api/v1/tenants/acme/cards?limit=100")
		// A cursor 900,000 cards in: the id of card 900,000.
		deepCursor := ""
		{
			list, err := e.dir.List(b.Context(), directory.ListQuery{Tenant: "acme", Limit: 1, Query: fmt.Sprintf("user%07d@", n*9/10)})
			if err != nil || len(list.Cards) != 1 {
				b.Fatalf("finding the deep cursor: %v", err)
			}
			deepCursor = list.Cards[0].ID
		}
		deep, _ := timeGet("/api/v1/tenants/acme/cards?limit=100&cursor=" + deepCursor)
		if len(page.Body["cards"].([]any)) != 100 {
			b.Fatalf("first page: %d cards", len(page.Body["cards"].([]any)))
		}

		// The export, streamed to nowhere, with the heap sampled meanwhile.
		stopPeak := benchseed.HeapPeak(20 * time.Millisecond)
		req, _ := http.NewRequest("GET", e.url+"/api/v1/tenants/acme/cards/export.csv", nil)
		req.Header.Set("Authorization", "Bearer "+roKey)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		bytes, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		export := time.Since(start)
		peak := stopPeak()
		b.ReportMetric(float64(first.Microseconds())/1000, "ms(first-page)")
		b.ReportMetric(float64(deep.Microseconds())/1000, "ms(deep-page)")
		b.ReportMetric(export.Seconds(), "s(export)")
		b.ReportMetric(float64(n)/export.Seconds(), "cards/s(export)")
		b.ReportMetric(float64(peak)/(1<<20), "MiB(heap-during-export)")
		b.Logf("%d cards; export %d bytes", n, bytes)
	}
}
