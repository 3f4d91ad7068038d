package tenant_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant"
)

// The registry's figures for BENCHMARKS.md. They run only with
// ROSTERD_BENCH=1: they take a minute and print rather than assert.

func benchOnly(t *testing.T) {
	if os.Getenv("ROSTERD_BENCH") == "" {
		t.Skip("set ROSTERD_BENCH=1 to measure")
	}
}

// TestBenchPropagation: 100 changes made through registry A, each timed
// until registry B (another replica over the same PostgreSQL, woken by
// NOTIFY, polling every second as the fallback) serves it.
func TestBenchPropagation(t *testing.T) {
	benchOnly(t)
	st := storetest.Migrated(t, storetest.OpenPostgres)
	other := storetest.Migrated(t, func(testing.TB) store.Backend { return st }) // same database
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := tenant.New(st, tenant.Options{})
	b := tenant.New(other, tenant.Options{})
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	wake := st.(*postgres.Store).Listen(ctx, store.RegistryChannel, slog.New(slog.DiscardHandler))
	go b.Watch(ctx, time.Second, wake)
	if _, err := a.CreateTenant(ctx, "ops", []byte(`{"id": "initech"}`)); err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for i := range 100 {
		start := time.Now()
		name := fmt.Sprintf("Initech %d", i)
		if _, err := a.UpdateTenant(ctx, "ops", "initech", []byte(`{"name": "`+name+`"}`)); err != nil {
			t.Fatal(err)
		}
		for {
			if got, _ := b.Get(ctx, "initech"); got != nil && got.Name() == name {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("change %d never reached B", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("propagation over %d changes: p50 %s, p99 %s, max %s", len(lat), lat[49], lat[98], lat[99])
}

// TestBenchManyTenants: 10,000 tenants with one SCIM connection each:
// how long a replica takes to load them (its start), the heap they hold,
// and token checks against a random tenant against those of one tenant.
func TestBenchManyTenants(t *testing.T) {
	benchOnly(t)
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			st := storetest.Migrated(t, be.Open)
			ctx := context.Background()
			const n = 10000
			tokens := make([]string, n)
			now := time.Now().UTC()
			if err := st.InTx(ctx, func(tx store.Tx) error {
				for i := range n {
					id := fmt.Sprintf("t%05d", i)
					tokens[i] = fmt.Sprintf("token-%05d-0123456789abcdefghijklmnopqrstuvwxyz", i)
					spec := []byte(`{"ID":"` + id + `","Name":"` + id + `","Invite":"email","InviteTTL":"168h","ReminderInterval":"24h","Precedence":["admin","scim","ldap","file","saml"],"Safety":{"MaxDisablePercent":10,"MaxDisableCount":50,"MinSnapshotRatio":0.5}}`)
					if err := tx.CreateTenant(ctx, store.TenantRecord{ID: id, Name: id, ManagedBy: store.ManagedByAPI, Spec: spec, CreatedAt: now, UpdatedAt: now}); err != nil {
						return err
					}
					c := store.SCIMConnectionRecord{ID: "c" + id, Tenant: id, Name: "okta", Authoritative: true, ManagedBy: store.ManagedByAPI, CreatedAt: now}
					if err := tx.CreateSCIMConnection(ctx, c); err != nil {
						return err
					}
					if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: "k" + id, ConnectionID: c.ID, Tenant: id, Hash: credential.Hash(tokens[i]),
						ManagedBy: store.ManagedByAPI, CreatedAt: now}); err != nil {
						return err
					}
				}
				_, err := tx.BumpRegistryVersion(ctx)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			reg := tenant.New(st, tenant.Options{})
			start := time.Now()
			if err := reg.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			load := time.Since(start)
			runtime.GC()
			runtime.ReadMemStats(&after)
			check := func(pick func() int) float64 {
				const calls = 200000
				start := time.Now()
				for range calls {
					i := pick()
					if _, _, err := reg.CheckSCIMToken(ctx, fmt.Sprintf("t%05d", i), tokens[i]); err != nil {
						t.Fatal(err)
					}
				}
				return calls / time.Since(start).Seconds()
			}
			one := check(func() int { return 0 })
			random := check(func() int { return rand.IntN(n) })
			t.Logf("%d tenants: load %s, heap held %.1f MiB, token checks %.0f/s one tenant, %.0f/s random tenant (%.1f%%)",
				n, load, float64(after.HeapInuse-before.HeapInuse)/(1<<20), one, random, 100*random/one)
		})
	}
}
