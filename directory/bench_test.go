package directory_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkApplyClaim: one claim per transaction, as SCIM and the admin API
// apply them, from as many goroutines as GOMAXPROCS×4 (a server's concurrent
// requests). Each claim creates a card: card, claim, audit line and event.
func BenchmarkApplyClaim(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			st := storetest.Migrated(b, be.Open)
			svc := directory.NewService(st, map[string]directory.Policy{"acme": ssoPolicy()})
			var n atomic.Int64
			b.SetParallelism(benchParallelism())
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					in := present("scim:okta", fmt.Sprintf("user%07d@example.com", i))
					in.Attributes = directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D"}
					if _, err := svc.ApplyClaim(ctx, actor("scim:okta"), in); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "applies/s")
		})
	}
}

// BenchmarkApplyBatch: 100,000 new cards applied with ApplyAll in batches of
// 1,000 claims per transaction, two in flight, as a sync run applies a plan.
func BenchmarkApplyBatch(b *testing.B) {
	const cards, batch = 100_000, 1_000
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st := storetest.Migrated(b, be.Open)
				svc := directory.NewService(st, map[string]directory.Policy{"acme": ssoPolicy()})
				ins := make([]directory.ClaimInput, cards)
				for i := range ins {
					ins[i] = directory.ClaimInput{Tenant: "acme", Source: "file:hr", ExternalID: fmt.Sprintf("E%07d", i),
						Email: fmt.Sprintf("user%07d@example.com", i), State: store.Present, Authoritative: true,
						Attributes: directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D", Title: "Engineer"}}
				}
				b.StartTimer()
				start := time.Now()
				if _, err := svc.ApplyAll(ctx, directory.Actor{Name: "file:hr", RunID: "1"}, ins, directory.BatchOptions{Size: batch, Workers: benchWorkers()}); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(cards/time.Since(start).Seconds(), "cards/s")
			}
		})
	}
}

func benchParallelism() int {
	var p int
	if _, err := fmt.Sscan(os.Getenv("BENCH_PARALLELISM"), &p); err != nil || p < 1 {
		return 4
	}
	return p
}

func benchWorkers() int {
	var w int
	if _, err := fmt.Sscan(os.Getenv("BENCH_WORKERS"), &w); err != nil || w < 1 {
		return 2
	}
	return w
}
