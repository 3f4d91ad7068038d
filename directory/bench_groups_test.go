package directory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkApplyBatchRolesGroups: 100,000 new cards with a role value and
// two groups each, applied as BenchmarkApplyBatch does, at a tenant with a
// role set and mapping rules; with migration 00040's upkeep of the group
// names (SQLite's card_groups triggers, PostgreSQL's GIN index) and
// without it, alternating, so that the two are measured under the same
// load.
//
//	go test -run '^$' -bench ApplyBatchRolesGroups -benchtime 1x -count 2 ./directory/
func BenchmarkApplyBatchRolesGroups(b *testing.B) {
	const cards, batch = 100_000, 1_000
	policy := ssoPolicy()
	policy.Roles, policy.DefaultRole = []string{"admin", "staff", "client"}, "client"
	policy.RoleRules = []directory.RoleRule{{Group: "g0001", Role: "admin"}, {Value: "Teacher", Role: "staff"}}
	for _, be := range storetest.Backends {
		for _, triggers := range []bool{true, false} {
			name := be.Name + "/card_groups"
			if !triggers {
				name = be.Name + "/without_card_groups"
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					st := storetest.Migrated(b, be.Open)
					if !triggers {
						dropCardGroupTriggers(b, st)
					}
					svc := directory.NewService(st, map[string]directory.Policy{"acme": policy})
					ins := make([]directory.ClaimInput, cards)
					for i := range ins {
						role := "Student"
						if i%3 == 0 {
							role = "Teacher"
						}
						ins[i] = directory.ClaimInput{Tenant: "acme", Source: "file:hr", ExternalID: fmt.Sprintf("E%07d", i),
							Email: fmt.Sprintf("user%07d@example.com", i), State: store.Present, Authoritative: true,
							Attributes: directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D", Title: "Engineer",
								Role: role, Groups: []string{fmt.Sprintf("g%04d", i%1000), "all-hands"}}}
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
}

// dropCardGroupTriggers takes migration 00040's upkeep off st (SQLite's
// triggers, PostgreSQL's index): the card writes of before it.
func dropCardGroupTriggers(b *testing.B, st store.Backend) {
	b.Helper()
	stmts := []string{"DROP TRIGGER cards_groups_insert", "DROP TRIGGER cards_groups_update", "DROP TRIGGER cards_groups_delete"}
	switch s := st.(type) {
	case *postgres.Store:
		// PostgreSQL keeps no card_groups: its index on the names.
		if _, err := s.Pool().ExecContext(ctx, "DROP INDEX cards_groups_gin"); err != nil {
			b.Fatal(err)
		}
	case *sqlite.Store:
		for _, q := range stmts {
			if _, err := s.SQL.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	default:
		b.Fatalf("unknown backend %T", st)
	}
}
