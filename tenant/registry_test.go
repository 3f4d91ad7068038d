package tenant_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

const (
	oktaToken  = "okta-token-0123456789abcdefghijklmnopqrstuvwxyz"
	oktaToken2 = "okta-token-2-0123456789abcdefghijklmnopqrstuvwxyz"
)

func parseConfig(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const fileV1 = `
tenants:
  - id: acme
    name: Acme
    invite: none
    safety: {max_disable_count: 0, max_disable_percent: 5}
    scim:
      - name: okta
        token: ` + oktaToken + `
  - id: globex
`

// The file's tenants land in the store as managed_by config, and the
// registry hands out each as one Tenant whose methods are the old
// projections: the directory's policy, the sync limits, the connections.
func TestApplyConfig(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		clk := testenv.NewClock(t0)
		reg := tenant.New(st, tenant.Options{Now: clk.Now})
		rep, err := reg.Apply(ctx, parseConfig(t, fileV1), "rosterd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Created, []string{"acme", "globex"}) {
			t.Fatalf("report %+v", rep)
		}
		acme, err := reg.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if p := acme.Policy(); p.Invite != "none" || !p.AutoInvite || p.InviteTTL != 168*time.Hour || len(p.Precedence) != 5 {
			t.Fatalf("policy %+v", p)
		}
		if l := acme.Limits(); l.MaxDisableCount != 0 || l.MaxDisablePercent != 5 || l.MinSnapshotRatio != 0.5 {
			t.Fatalf("limits %+v", l)
		}
		if acme.ManagedBy() != store.ManagedByConfig || acme.Name() != "Acme" {
			t.Fatalf("acme: %+v", acme.View())
		}
		if _, c, err := reg.CheckSCIMToken(ctx, "acme", oktaToken); err != nil || c.Name != "okta" || !c.Authoritative {
			t.Fatalf("okta's token: %+v, %v", c, err)
		}
		if _, _, err := reg.CheckSCIMToken(ctx, "globex", oktaToken); !errors.Is(err, tenant.ErrInvalidToken) {
			t.Fatalf("acme's token for globex: %v", err)
		}
		v := reg.Version()

		// The same file again changes nothing, not even the version.
		rep, err = reg.Apply(ctx, parseConfig(t, fileV1), "rosterd.yaml")
		if err != nil || len(rep.Unchanged) != 2 || reg.Version() != v {
			t.Fatalf("applying the same file: %+v, %v; version %d, was %d", rep, err, reg.Version(), v)
		}
		audit, _ := st.ListTenantAudit(ctx, "acme", 0, 100)
		if len(audit) != 1 || audit[0].Action != "tenant.created" || audit[0].Actor != string(tenant.ConfigActor) {
			t.Fatalf("audit of acme: %+v", audit)
		}

		// The edited file: a rotated token, globex gone from it.
		fileV2 := `
tenants:
  - id: acme
    name: Acme Corp
    invite: none
    scim:
      - name: okta
        tokens: [` + oktaToken2 + `]
`
		rep, err = reg.Apply(ctx, parseConfig(t, fileV2), "rosterd.yaml")
		if err != nil || !slices.Equal(rep.Updated, []string{"acme"}) || !slices.Equal(rep.NotInFile, []string{"globex"}) {
			t.Fatalf("applying the edited file: %+v, %v", rep, err)
		}
		if _, _, err := reg.CheckSCIMToken(ctx, "acme", oktaToken); !errors.Is(err, tenant.ErrInvalidToken) {
			t.Fatalf("the token the file dropped: %v", err)
		}
		if _, _, err := reg.CheckSCIMToken(ctx, "acme", oktaToken2); err != nil {
			t.Fatalf("the file's new token: %v", err)
		}
		if g, err := reg.Get(ctx, "globex"); err != nil || g.ManagedBy() != store.ManagedByConfig {
			t.Fatalf("globex, no longer in the file, is kept: %v", err)
		}
		if a, _ := reg.Get(ctx, "acme"); a.Name() != "Acme Corp" || a.Limits().MaxDisableCount != 50 {
			t.Fatalf("acme after the edit: %+v", a.View())
		}

		// A second registry over the same store (another replica) sees
		// all of it once it reloads.
		other := tenant.New(st, tenant.Options{Now: clk.Now})
		if err := other.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := other.CheckSCIMToken(ctx, "acme", oktaToken2); err != nil {
			t.Fatalf("the other replica: %v", err)
		}
	})
}

// TestWatchReloadsAnotherReplicasChange: without notifications the
// version poll alone brings a change made through another registry over
// the same store (another replica).
func TestWatchReloadsAnotherReplicasChange(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a := tenant.New(st, tenant.Options{})
		b := tenant.New(st, tenant.Options{})
		if err := b.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { b.Watch(ctx, 10*time.Millisecond, nil); close(done) }()
		if _, err := a.CreateTenant(ctx, "ops", []byte(`{"id": "initech"}`)); err != nil {
			t.Fatal(err)
		}
		_, token, err := a.CreateSCIMConnection(ctx, "ops", "initech", tenant.SCIMConnectionInput{Name: "okta"})
		if err != nil {
			t.Fatal(err)
		}
		// The reload reads the version before the rest, so b may take the
		// connection while still reporting the older version (its next
		// poll reloads again). Wait for both: the token, then a's version.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, _, err := b.CheckSCIMToken(ctx, "initech", token)
			if err == nil && b.Version() == a.Version() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other registry never caught up: token %v, versions %d and %d", err, b.Version(), a.Version())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
	})
}
