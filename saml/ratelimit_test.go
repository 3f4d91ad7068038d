package saml

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rosterd/rosterd/internal/ratelimit"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestRefusalAuditsRateLimited: refusals that reach no card are answered
// and counted every time, but audited only up to the limit per tenant and
// source address.
func TestRefusalAuditsRateLimited(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	clk := testenv.NewClock(time.Now())
	e.srv.auditLimit = ratelimit.New(clk.Now, 5, time.Minute, 1000)
	unsigned := buildResponse(t, respOpts{unsigned: true}, time.Now())
	for i := range 12 {
		resp := e.postRaw("acme", unsigned)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("refusal %d answered %d, want 403", i, resp.StatusCode)
		}
	}
	if n := len(e.audit.all()); n != 5 {
		t.Fatalf("%d audit lines of 12 refusals, want the burst of 5", n)
	}
	if n := e.refusals("acme", e.audit.last()); n != 12 {
		t.Fatalf("refusals counted %v, want 12", n)
	}
	if n := testutil.ToFloat64(e.srv.auditsDropped.WithLabelValues("acme")); n != 7 {
		t.Fatalf("unaudited refusals counted %v, want 7", n)
	}
	// Another tenant from the same address has its own budget; time
	// refills.
	e.postRaw("globex", unsigned).Body.Close()
	clk.Advance(time.Minute)
	e.postRaw("acme", unsigned).Body.Close()
	if n := len(e.audit.all()); n != 7 {
		t.Fatalf("%d audit lines, want 7", n)
	}
}

// TestRefusalDetailIsBounded: what a refusal quotes from the response is
// cut, so a response cannot write megabytes into the audit trail.
func TestRefusalDetailIsBounded(t *testing.T) {
	long := "https://idp.example.com/" + strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		name string
		o    respOpts
		want Reason
	}{
		{"long issuer", respOpts{issuer: long}, ReasonWrongIssuer},
		{"long audience", respOpts{audience: long}, ReasonWrongAudience},
		{"long recipient", respOpts{recipient: long}, ReasonWrongRecipient},
		{"long destination", respOpts{destination: long}, ReasonWrongDestination},
		{"long InResponseTo", respOpts{inResponseTo: long}, ReasonUnknownRequest},
		{"long status", respOpts{status: long}, ReasonIdPStatus},
		{"many audiences", respOpts{modify: func(a *etree.Element) {
			ar := a.FindElement("./Conditions/AudienceRestriction")
			ar.RemoveChild(ar.FindElement("./Audience"))
			for i := range 300 {
				ar.CreateElement("saml:Audience").SetText(fmt.Sprintf("https://sp%d.example.com/%s", i, strings.Repeat("y", 100)))
			}
		}}, ReasonWrongAudience},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testValidator(t).Validate(buildResponse(t, tc.o, fixNow), requestID)
			ref, ok := err.(*Refusal)
			if !ok || ref.Reason != tc.want {
				t.Fatalf("Validate: %v, want %s", err, tc.want)
			}
			if len(ref.Detail) > maxDetail {
				t.Fatalf("detail of %d bytes, want at most %d: %.300q…", len(ref.Detail), maxDetail, ref.Detail)
			}
			if !strings.Contains(ref.Detail, "…") {
				t.Fatalf("detail %q does not show the cut", ref.Detail)
			}
		})
	}
	// At the ACS, the audit line carries the cut detail.
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite), defaultTenants())
	e.postRaw("acme", buildResponse(t, respOpts{issuer: long, respIssuer: long}, time.Now())).Body.Close()
	lines := e.audit.all()
	if len(lines) != 1 || lines[0].reason != ReasonWrongIssuer || len(lines[0].detail) > maxDetail+64 {
		t.Fatalf("audit lines %d, last %+.300v", len(lines), lines)
	}
}
