// Package benchseed fills a tenant with many cards for benchmarks, the
// way a file feed would: one authoritative "file:hr" claim per person,
// applied through the directory in batches of 100,000. It is for tests
// and benchmarks only.
package benchseed

import (
	"context"
	"fmt"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// Applier is the part of the directory service that seeding needs.
type Applier interface {
	ApplyAll(ctx context.Context, actor directory.Actor, ins []directory.ClaimInput, opt directory.BatchOptions) ([]directory.Outcome, error)
}

// Cards gives tenant n cards, user0000000@example.com and on (external
// ids 0000000 and on), with the attributes attrs returns for each i
// (given name "Given" and family name i when attrs is nil).
func Cards(tb testing.TB, dir Applier, tenant string, n int, attrs func(i int) directory.Attributes) {
	tb.Helper()
	const chunk = 100_000
	ins := make([]directory.ClaimInput, 0, min(n, chunk))
	for lo := 0; lo < n; lo += chunk {
		ins = ins[:0]
		for i := lo; i < min(lo+chunk, n); i++ {
			a := directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i)}
			if attrs != nil {
				a = attrs(i)
			}
			ins = append(ins, directory.ClaimInput{Tenant: tenant, Source: "file:hr", ExternalID: fmt.Sprintf("%07d", i),
				Email: fmt.Sprintf("user%07d@example.com", i), State: store.Present, Authoritative: true, Attributes: a})
		}
		if _, err := dir.ApplyAll(context.Background(), directory.Actor{Name: "file:hr"}, ins, directory.BatchOptions{}); err != nil {
			tb.Fatalf("seeding %d cards: %v", n, err)
		}
	}
}
