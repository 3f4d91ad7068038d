package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a SCIM server over a real store, served over real HTTP, with two
// tenants: acme (connections "entra" and "okta") and globex ("okta").
type env struct {
	t     testing.TB
	url   string // http://127.0.0.1:port
	dir   *directory.Service
	store store.Backend
	clock *testenv.Clock
}

// Tokens of the test connections.
const (
	acmeEntra  = "acme-entra-token"
	acmeOkta   = "acme-okta-token"
	globexOkta = "globex-okta-token"
)

func newEnv(t testing.TB, st store.Backend) *env {
	t.Helper()
	return newEnvLogging(t, st, io.Discard)
}

// newEnvLogging is newEnv with the server's log written to logs.
func newEnvLogging(t testing.TB, st store.Backend, logs io.Writer) *env {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	svc := directory.NewService(st, map[string]directory.Policy{"acme": policy, "globex": policy}, directory.WithClock(clk.Now))
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.SCIMToken, Tenant: "acme", Name: "entra", Secret: acmeEntra},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: acmeOkta},
		{Kind: store.SCIMToken, Tenant: "globex", Name: "okta", Secret: globexOkta},
	})
	logger := slog.New(slog.DiscardHandler)
	if logs != io.Discard {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	tenants := tenanttest.Registry(t, st, config.Tenant{ID: "acme", SCIM: tenanttest.SCIM("entra", "okta")},
		config.Tenant{ID: "globex", SCIM: tenanttest.SCIM("okta")})
	s, err := scim.New(svc, keys, tenants, logger, reg, scim.Options{PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	s.Mount(srv)
	ts.Config.Handler = srv.Handler()
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, dir: svc, store: st, clock: clk}
}

// forEachBackend runs fn with a fresh environment on SQLite and on PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		fn(t, newEnv(t, st))
	})
}

// response is one HTTP answer, its body decoded when it is JSON.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request to /scim/{tenant}/v2{path} with a token.
func (e *env) do(method, tenant, token, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.url+"/scim/"+tenant+"/v2"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

// entra is a request as acme's Entra connection.
func (e *env) entra(method, path string, body any, headers ...string) response {
	e.t.Helper()
	return e.do(method, "acme", acmeEntra, path, body, headers...)
}

func (r response) must(t *testing.T, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

func (r response) str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func user(userName, given, family string, extra ...map[string]any) map[string]any {
	u := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
		"name":     map[string]any{"givenName": given, "familyName": family},
		"emails":   []any{map[string]any{"type": "work", "value": userName, "primary": true}},
	}
	for _, x := range extra {
		for k, v := range x {
			u[k] = v
		}
	}
	return u
}

func patchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

func queryEscape(s string) string { return url.QueryEscape(s) }

func itoa(n int) string { return strconv.Itoa(n) }
