package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// fillSource writes n cards with a SCIM claim each (login, raw record) of
// source scim:okta, and as many claims of another source, in batches.
func fillSource(b testing.TB, s store.Store, n int) {
	const batch = 5000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for lo := 0; lo < n; lo += batch {
		var ch store.Changes
		for i := lo; i < min(lo+batch, n); i++ {
			id := fmt.Sprintf("c%07d", i)
			login := fmt.Sprintf("User%07d@Example.com", i)
			ch.Cards = append(ch.Cards, store.Card{ID: id, Tenant: "acme", Email: login, EmailNorm: strings.ToLower(login), Enabled: true,
				CreatedAt: t0, UpdatedAt: t0, Version: 1})
			raw := fmt.Sprintf(`{"userName":%q,"displayName":"User %d","name":{"givenName":"Given","familyName":"F%d"},`+
				`"emails":[{"type":"work","value":%q,"primary":true}],"active":true,`+
				`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%d","department":"R&D"}}`, login, i, i, strings.ToLower(login), i)
			state := store.Present
			if i%10 == 9 {
				state = store.Deactivated
			}
			ch.Claims = append(ch.Claims,
				store.Claim{CardID: id, Tenant: "acme", Source: "scim:okta", Email: login, Login: login, State: state, Authoritative: true,
					Raw: []byte(raw), FirstSeen: t0, LastSeen: t0, StateSince: t0},
				store.Claim{CardID: id, Tenant: "acme", Source: "file:hr", ExternalID: fmt.Sprintf("E%07d", i), Email: login, State: store.Present,
					Authoritative: true, FirstSeen: t0, LastSeen: t0, StateSince: t0})
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryClaims: pages of a 100,000-user SCIM connection. With -v
// it logs PostgreSQL's EXPLAIN ANALYZE of the statements QueryClaims runs.
func BenchmarkQueryClaims(b *testing.B) {
	const n = 100_000
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			s := storetest.Migrated(b, be.Open)
			fillSource(b, s, n)
			if be.Name == "postgres" {
				db := s.(*postgres.Store).Pool()
				if _, err := db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
					b.Fatal(err)
				}
				// The statements QueryClaims runs (see page in query.go).
				cols := `c.card_id, c.tenant, c.source, c.external_id, c.email, c.state, c.authoritative, c.attrs_json, c.run_id, c.actor, c.first_seen, c.last_seen, c.state_since, c.login, c.raw_json, k.*`
				live := `c.tenant = $1 AND c.source = $2 AND c.state <> 'withdrawn'`
				explain(b, s, `SELECT p.total, `+cols+` FROM (SELECT c.card_id AS id, (SELECT count(*) FROM claims c WHERE `+live+`) AS total
					FROM claims c WHERE `+live+` ORDER BY c.card_id LIMIT $3 OFFSET $4) p
					JOIN claims c ON c.card_id = p.id AND c.source = $2 JOIN cards k ON k.id = p.id ORDER BY p.id`, "acme", "scim:okta", 100, 90000)
				login := live + ` AND (c.login_norm = $3 AND c.login_norm <> '')`
				explain(b, s, `SELECT p.total, `+cols+` FROM (SELECT c.card_id AS id, (SELECT count(*) FROM claims c WHERE `+login+`) AS total
					FROM claims c WHERE `+login+` ORDER BY c.card_id LIMIT $4 OFFSET $5) p
					JOIN claims c ON c.card_id = p.id AND c.source = $2 JOIN cards k ON k.id = p.id ORDER BY p.id`, "acme", "scim:okta", "user0054321@example.com", 100, 0)
			}
			for _, q := range []struct {
				name   string
				q      store.ClaimQuery
				rows   int
				total  int
				filter *store.Filter
			}{
				{"offset90000", store.ClaimQuery{Offset: 90_000, Limit: 100}, 100, n, nil},
				{"userName", store.ClaimQuery{Limit: 100}, 1, 1, &store.Filter{Op: "eq", Attr: store.AttrLogin, Value: "USER0054321@example.com"}},
				{"givenNameAndEmail", store.ClaimQuery{Limit: 100}, 1, 1, &store.Filter{Op: "and", Sub: []store.Filter{
					{Op: "eq", Attr: store.AttrRaw, Path: []string{"name", "familyName"}, Value: "f54321", Fold: true},
					{Op: "any", Path: []string{"emails"}, Sub: []store.Filter{{Op: "eq", Attr: store.AttrElem, Path: []string{"type"}, Value: "work"}}},
				}}},
			} {
				b.Run(q.name, func(b *testing.B) {
					cq := q.q
					cq.Tenant, cq.Source, cq.Filter = "acme", "scim:okta", q.filter
					for b.Loop() {
						rows, total, err := s.QueryClaims(ctx, cq)
						if err != nil {
							b.Fatal(err)
						}
						if len(rows) != q.rows || total != q.total {
							b.Fatalf("%d rows, total %d; want %d, %d", len(rows), total, q.rows, q.total)
						}
					}
				})
			}
		})
	}
}

func explain(b *testing.B, s store.Backend, query string, args ...any) {
	rows, err := s.(*postgres.Store).Pool().QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		out = append(out, line)
	}
	b.Logf("%s\n%s", query, strings.Join(out, "\n"))
}

// BenchmarkGroupMembers: one Write adds 10,000 members to a group, the
// next removes them.
func BenchmarkGroupMembers(b *testing.B) {
	const n = 10_000
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			s := storetest.Migrated(b, be.Open)
			fillSource(b, s, n)
			g := store.Group{ID: "big", Tenant: "acme", Source: "scim:okta", DisplayName: "Everyone", Created: time.Now(), Updated: time.Now(), Version: 1}
			if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Groups: []store.Group{g}}) }); err != nil {
				b.Fatal(err)
			}
			ms := make([]store.Membership, n)
			for i := range ms {
				ms[i] = store.Membership{GroupID: "big", CardID: fmt.Sprintf("c%07d", i)}
			}
			var add, remove time.Duration
			for b.Loop() {
				start := time.Now()
				if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{AddMembers: ms}) }); err != nil {
					b.Fatal(err)
				}
				add += time.Since(start)
				start = time.Now()
				if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{RemoveMembers: ms}) }); err != nil {
					b.Fatal(err)
				}
				remove += time.Since(start)
			}
			b.ReportMetric(float64(add.Milliseconds())/float64(b.N), "ms/add10k")
			b.ReportMetric(float64(remove.Milliseconds())/float64(b.N), "ms/remove10k")
		})
	}
}

// BenchmarkSingleClaim: one new card with its claim, audit line and event
// per transaction, from 4×GOMAXPROCS goroutines, as SCIM requests apply them.
func BenchmarkSingleClaim(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			s := storetest.Migrated(b, be.Open)
			var n atomic.Int64
			t0 := time.Now()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					email := fmt.Sprintf("user%07d@example.com", i)
					id := fmt.Sprintf("c%07d", i)
					err := s.InTx(ctx, func(tx store.Tx) error {
						if _, err := tx.CardsByEmail(ctx, "acme", []string{email}); err != nil {
							return err
						}
						return tx.Write(ctx, store.Changes{
							Cards: []store.Card{{ID: id, Tenant: "acme", Email: email, EmailNorm: strings.ToLower(email), Enabled: true, CreatedAt: t0, UpdatedAt: t0, Version: 1}},
							Claims: []store.Claim{{CardID: id, Tenant: "acme", Source: "scim:okta", Email: email, State: store.Present, Authoritative: true,
								Attributes: store.Attributes{GivenName: "Given", FamilyName: "F", Department: "R&D"}, FirstSeen: t0, LastSeen: t0, StateSince: t0}},
							Audit:  []store.AuditEvent{{Tenant: "acme", CardID: id, At: t0, Actor: "scim:okta", Action: "claim.applied", After: []byte(`{"a":1}`)}},
							Events: []store.Event{{Tenant: "acme", CardID: id, Type: "card.created", At: t0, Data: []byte(`{"a":1}`)}},
						})
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
