package saml

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestPendingApprovalPage: at a tenant with approval: jit_only, a person's
// first SAML login makes their card, which waits for approval; they get a
// page that says so (no login code, no "refused"), and again on the next
// try; once an admin approves, the same login gets in with the same card.
func TestPendingApprovalPage(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, defaultTenants())
		// The directory of this env with approval of JIT cards.
		pols := map[string]directory.Policy{}
		for _, tc := range e.tenants {
			p := directory.DefaultPolicy()
			p.Invite, p.JIT, p.Approval = "none", true, directory.ApprovalJIT
			pols[tc.Tenant] = p
		}
		e.dir = directory.NewService(st, pols, directory.WithClock(time.Now))
		e.srv, e.reg = e.replica(st, &http.Client{Transport: e.net})
		mux := http.NewServeMux()
		e.srv.Mount(mux)
		e.net.set("rosterd.test", mux)

		for try := 1; try <= 2; try++ {
			resp := e.submit(e.spLogin("acme", ""))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(body), "<h1>Waiting for approval</h1>") || !strings.Contains(string(body), "approval") ||
				strings.Contains(string(body), "refused") || strings.Contains(string(body), "ann@example.com") {
				t.Fatalf("login %d of a card waiting for approval: %d %q", try, resp.StatusCode, body)
			}
		}
		if n := testutil.ToFloat64(e.srv.logins.WithLabelValues("acme", "pending_approval")); n != 2 {
			t.Fatalf("pending_approval logins counted %v, want 2", n)
		}
		if n := e.refusals("acme", ReasonPendingApproval); n != 2 {
			t.Fatalf("pending_approval refusals counted %v, want 2", n)
		}
		ctx := context.Background()
		card, err := e.dir.GetByEmail(ctx, "acme", "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if s := directory.StatusOf(card, time.Now()); s != directory.PendingApproval || !card.FirstLoginAt.IsZero() {
			t.Fatalf("card after the logins: %s, first login %v", s, card.FirstLoginAt)
		}
		if _, err := e.dir.Approve(ctx, directory.Actor{Name: "admin:ops"}, "acme", card.ID); err != nil {
			t.Fatal(err)
		}
		code, _ := e.code(e.submit(e.spLogin("acme", "")))
		got, err := e.srv.Redeem(ctx, code, "acme")
		if err != nil || got.ID != card.ID || !got.Enabled {
			t.Fatalf("after approval: %+v, %v; want card %s", got, err, card.ID)
		}
	})
}
