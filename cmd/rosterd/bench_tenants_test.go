package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/sqlite"
)

// TestBenchServeManyTenants measures a whole `rosterd serve` process (the
// binary, built from this tree) over a SQLite store holding
// ROSTERD_BENCH_TENANTS tenants (default 10,000) with one SCIM connection
// and token each: the time from exec to /healthz answering, the process's
// resident size (VmRSS) then and after the load, and SCIM GET /Users/{id}
// throughput against one tenant and against a tenant picked at random per
// request, in alternating rounds and side by side (half the clients each,
// at once, so both see the same load on a shared machine). It runs only with ROSTERD_BENCH=1, and
// prints rather than asserts: the figures go to BENCHMARKS.md.
func TestBenchServeManyTenants(t *testing.T) {
	if os.Getenv("ROSTERD_BENCH") == "" {
		t.Skip("set ROSTERD_BENCH=1 to measure")
	}
	n := 10000
	if s := os.Getenv("ROSTERD_BENCH_TENANTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("ROSTERD_BENCH_TENANTS=%q: want a positive number", s)
		}
	}
	ctx := context.Background()
	data := t.TempDir()

	// The registry's rows, written in one transaction as the tenant
	// package's benchmark does.
	st, err := sqlite.Open(filepath.Join(data, "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ids, tokens := make([]string, n), make([]string, n)
	now := time.Now().UTC()
	if err := st.InTx(ctx, func(tx store.Tx) error {
		for i := range n {
			id := fmt.Sprintf("t%05d", i)
			ids[i], tokens[i] = id, fmt.Sprintf("token-%05d-0123456789abcdefghijklmnopqrstuvwxyz", i)
			spec := []byte(`{"ID":"` + id + `","Name":"` + id + `","Invite":"none","InviteTTL":"168h","ReminderInterval":"24h","Precedence":["admin","scim","ldap","file","saml"],"Safety":{"MaxDisablePercent":10,"MaxDisableCount":50,"MinSnapshotRatio":0.5}}`)
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
	st.Close()

	bin := filepath.Join(t.TempDir(), "rosterd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(t.TempDir(), "rosterd.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:%d\ndata_dir: %s\nlog: {level: warn}\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n",
		port, data, operatorKey), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rosterd serve's stderr:\n%s", stderr.String())
		}
	})
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("rosterd serve did not answer /healthz in 60 s:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	up := time.Since(start)
	rssStart := vmRSS(t, cmd.Process.Pid)

	// One user per tenant, by SCIM POST with its own token.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	users := make([]string, n)
	parallel(16, n, func(i int) {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user@%s.bench.example","emails":[{"value":"user@%s.bench.example","primary":true}]}`, ids[i], ids[i])
		req, _ := http.NewRequest("POST", base+"/scim/"+ids[i]+"/v2/Users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var u struct{ ID string }
		if resp.StatusCode != 201 || json.Unmarshal(raw, &u) != nil || u.ID == "" {
			t.Errorf("POST a user to %s: %d %s", ids[i], resp.StatusCode, raw)
			return
		}
		users[i] = u.ID
	})
	if t.Failed() {
		return
	}

	// GET /Users/{id} for d with 16 clients; pick(c) chooses the tenant
	// of each request of client c. It returns each client's requests/s.
	const clients = 16
	round := func(d time.Duration, pick func(c int) int) []float64 {
		done := make([]atomic.Int64, clients)
		stop := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for time.Now().Before(stop) {
					i := pick(c)
					req, _ := http.NewRequest("GET", base+"/scim/"+ids[i]+"/v2/Users/"+users[i], nil)
					req.Header.Set("Authorization", "Bearer "+tokens[i])
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("GET a user of %s: %d", ids[i], resp.StatusCode)
						return
					}
					done[c].Add(1)
				}
			})
		}
		wg.Wait()
		out := make([]float64, clients)
		for c := range done {
			out[c] = float64(done[c].Load()) / d.Seconds()
		}
		return out
	}
	sum := func(xs []float64) (s float64) {
		for _, x := range xs {
			s += x
		}
		return s
	}
	oneTenant := func(int) int { return 0 }
	randomTenant := func(int) int { return rand.IntN(n) }
	round(2*time.Second, randomTenant) // warm up
	// Alternating rounds: all clients on one tenant, then all on random
	// tenants.
	var one, random []float64
	for range 5 {
		one = append(one, sum(round(5*time.Second, oneTenant)))
		random = append(random, sum(round(5*time.Second, randomTenant)))
	}
	// Side by side: half the clients on one tenant, half on random
	// tenants, at the same time, so that both see the same machine.
	var ratios []float64
	for range 5 {
		got := round(5*time.Second, func(c int) int {
			if c%2 == 0 {
				return 0
			}
			return rand.IntN(n)
		})
		var o, r float64
		for c, x := range got {
			if c%2 == 0 {
				o += x
			} else {
				r += x
			}
		}
		ratios = append(ratios, r/o)
	}
	rssAfter := vmRSS(t, cmd.Process.Pid)
	slices.Sort(one)
	slices.Sort(random)
	slices.Sort(ratios)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d tenants: /healthz %s after exec; VmRSS %.1f MiB after start, %.1f MiB after the load", n, up.Round(time.Millisecond), rssStart, rssAfter)
	t.Logf("GET /Users/{id}, %d clients, 5 rounds of 5 s each: one tenant %.0f/s (rounds %.0f), random tenant %.0f/s (rounds %.0f): random/one %.1f%% (medians)",
		clients, one[2], one, random[2], random, 100*random[2]/one[2])
	t.Logf("side by side, %d clients on one tenant and %d on random tenants, 5 rounds of 5 s: random/one per round %.3f, median %.1f%%",
		clients/2, clients/2, ratios, 100*ratios[2])
	t.Logf("loadavg at the end: %s", strings.TrimSpace(string(load)))
}

// vmRSS is the resident size of process pid, in MiB, from /proc.
func vmRSS(t *testing.T, pid int) float64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return float64(kb) / 1024
}

// parallel runs f(0…n-1) on k goroutines.
func parallel(k, n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}
