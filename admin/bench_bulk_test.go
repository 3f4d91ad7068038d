package admin

import (
	"fmt"
	"github.com/rosterd/rosterd/internal/benchseed"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkBulkDisableByFilter: POST …/cards/bulk disabling every card of
// a department (100,000 by default, BENCH_CARDS to change) on PostgreSQL,
// from the request to the job's end, reported as cards/s.
//
//	go test -run '^$' -bench BulkDisableByFilter -benchtime 1x -timeout 30m ./admin/
func BenchmarkBulkDisableByFilter(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_CARDS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenPostgres)
		e := newEnv(&testing.T{}, st)
		benchseed.Cards(b, e.dir, "acme", n, func(i int) directory.Attributes {
			return directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "Closing"}
		})
		// acme's limits allow 1,000: confirm with the count.
		req := map[string]any{"action": "disable", "filter": map[string]string{"department": "closing"}, "confirm": n}
		b.StartTimer()
		start := time.Now()
		r := e.do("POST", acme+"/cards/bulk", rwKey, req)
		if r.Status != http.StatusAccepted && r.Status != http.StatusOK {
			b.Fatalf("bulk: %d %.300s", r.Status, r.Raw)
		}
		id := fmt.Sprint(r.Body["id"])
		for r.Body["status"] == "applying" {
			time.Sleep(20 * time.Millisecond)
			r = e.do("GET", acme+"/bulk/"+id, roKey, nil)
		}
		d := time.Since(start)
		b.StopTimer()
		if r.Body["status"] != "applied" || count(r, "changed") != float64(n) {
			b.Fatalf("job: %.300s", r.Raw)
		}
		b.ReportMetric(float64(n)/d.Seconds(), "cards/s")
	}
}
