package directory_test

import (
	"fmt"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestApplyAllEach: with Each set, ApplyAll hands over every committed
// batch's outcomes, in batches that cover the inputs once, and keeps none;
// a refused input is reported in its batch.
func TestApplyAllEach(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		svc := directory.NewService(st, map[string]directory.Policy{"acme": directory.DefaultPolicy()})
		ins := make([]directory.ClaimInput, 25)
		for i := range ins {
			ins[i] = directory.ClaimInput{Tenant: "acme", Source: "file:hr", ExternalID: fmt.Sprintf("E%03d", i),
				Email: fmt.Sprintf("user%03d@example.com", i), State: store.Present, Authoritative: true}
		}
		ins[13].Email = "not an email"
		seen := make([]int, len(ins))
		created, refused, done := 0, 0, 0
		outs, err := svc.ApplyAll(ctx, directory.Actor{Name: "file:hr"}, ins, directory.BatchOptions{Size: 10, Workers: 2,
			Each: func(lo int, outs []directory.Outcome) {
				for i, o := range outs {
					seen[lo+i]++
					if o.Err != nil {
						refused++
						if lo+i != 13 {
							t.Errorf("input %d refused: %v", lo+i, o.Err)
						}
					} else if o.Created && o.Card.Email == ins[lo+i].Email {
						created++
					}
				}
			},
			Done: func(n int) { done += n },
		})
		if err != nil || outs != nil {
			t.Fatalf("ApplyAll: %d outcomes kept, %v", len(outs), err)
		}
		for i, n := range seen {
			if n != 1 {
				t.Errorf("input %d reported %d times", i, n)
			}
		}
		if created != 24 || refused != 1 || done != 25 {
			t.Errorf("created %d, refused %d, done %d; want 24, 1, 25", created, refused, done)
		}
	})
}
