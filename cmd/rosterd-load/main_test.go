package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func msList(vals ...int) []time.Duration {
	out := make([]time.Duration, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		vals []int
		p    float64
		want int
	}{
		{hundred, 50, 50},
		{hundred, 90, 90},
		{hundred, 99, 99},
		{hundred, 99.5, 100},
		{hundred, 100, 100},
		{hundred, 1, 1},
		{hundred, 0, 1},
		{[]int{7}, 50, 7},
		{[]int{7}, 99, 7},
		{[]int{1, 2}, 50, 1},
		{[]int{1, 2}, 51, 2},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50, 5},
		// 1,000 values: p99 is the 990th, not the 991st.
		{seq(1000), 99, 990},
	}
	for _, c := range cases {
		got := percentile(msList(c.vals...), c.p)
		if want := time.Duration(c.want) * time.Millisecond; got != want {
			t.Errorf("percentile(n=%d, p%v) = %v, want %v", len(c.vals), c.p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(empty) = %v, want 0", got)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// The definition, checked by brute force on random data with ties: the
// smallest measured value v with #{x ≤ v} ≥ p/100·n.
func TestPercentileMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		n := 1 + r.IntN(500)
		vals := make([]time.Duration, n)
		for i := range vals {
			vals[i] = time.Duration(r.IntN(50)) * time.Microsecond
		}
		slices.Sort(vals)
		for _, p := range []float64{1, 25, 50, 90, 95, 99, 99.9} {
			var want time.Duration = -1
			for _, v := range vals {
				cnt := 0
				for _, x := range vals {
					if x <= v {
						cnt++
					}
				}
				if float64(cnt) >= p/100*float64(n)-1e-9 {
					want = v
					break
				}
			}
			if got := percentile(vals, p); got != want {
				t.Fatalf("n=%d p%v: got %v, want %v", n, p, got, want)
			}
		}
	}
}

func TestSummarizeSortsAndIsExact(t *testing.T) {
	lat := msList(5, 1, 4, 2, 3, 100, 6, 7, 8, 9)
	s := summarize(lat)
	if s.Min != 1 || s.Max != 100 || s.P50 != 5 || s.P90 != 9 || s.P99 != 100 {
		t.Errorf("summarize = %+v, want min 1 p50 5 p90 9 p99 100 max 100", s)
	}
	if math.Abs(s.Mean-14.5) > 1e-9 {
		t.Errorf("mean = %v, want 14.5", s.Mean)
	}
}

func TestCheckTargetRefusesNonLoopback(t *testing.T) {
	ok := []string{
		"http://127.0.0.1:8080/scim/acme/v2",
		"http://127.3.2.1:8080/scim/acme/v2",
		"http://[::1]:8080/scim/acme/v2",
		"http://localhost:8080/scim/acme/v2",
		"https://LOCALHOST/scim/acme/v2",
	}
	for _, u := range ok {
		if _, err := checkTarget(u, false); err != nil {
			t.Errorf("checkTarget(%q) = %v, want accepted", u, err)
		}
	}
	refused := []string{
		"http://10.0.0.1:8080/scim/acme/v2",
		"http://192.168.1.10/scim/acme/v2",
		"http://0.0.0.0:8080/scim/acme/v2",
		"http://[::ffff:10.0.0.1]:8080/scim/acme/v2",
		"http://[2001:db8::1]/scim/acme/v2",
		"http://example.com/scim/acme/v2",
		"http://127.0.0.1.example.com/scim/acme/v2",
		"http://localhost.example.com/scim/acme/v2",
		"ftp://127.0.0.1/scim",
		"127.0.0.1:8080/scim",
		"http:///scim",
		"http://u:p@127.0.0.1/scim",
	}
	for _, u := range refused {
		if _, err := checkTarget(u, false); err == nil {
			t.Errorf("checkTarget(%q) accepted, want refused", u)
		}
	}
	if _, err := checkTarget("http://example.com/scim/acme/v2", true); err != nil {
		t.Errorf("checkTarget with allowRemote = %v, want accepted", err)
	}
}

func TestDialerRefusesNonLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1:80", "127.9.9.9:1", "[::1]:443"} {
		if err := loopbackOnly("tcp", a, nil); err != nil {
			t.Errorf("loopbackOnly(%s) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"10.1.2.3:80", "[2001:db8::1]:443", "0.0.0.0:80", "[fe80::1%eth0]:80", "nonsense"} {
		if err := loopbackOnly("tcp", a, nil); !errors.Is(err, errNotLoopback) {
			t.Errorf("loopbackOnly(%s) = %v, want errNotLoopback", a, err)
		}
	}
	// The client's dialer runs the check after creating the socket and
	// before connect(2): no packet leaves for the TEST-NET address.
	c := newClient(1, 2*time.Second, false)
	_, err := c.Get("http://192.0.2.1:9/")
	if !errors.Is(err, errNotLoopback) {
		t.Errorf("GET to 192.0.2.1 = %v, want errNotLoopback", err)
	}
}

// fakeSCIM is a minimal SCIM users endpoint for the scenarios.
type fakeSCIM struct {
	mu       sync.Mutex
	byID     map[string]string // id → userName
	byName   map[string]string
	patches  map[string][]bool
	requests int
}

func newFake() *fakeSCIM {
	return &fakeSCIM{byID: map[string]string{}, byName: map[string]string{}, patches: map[string][]bool{}}
}

func (f *fakeSCIM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/scim/acme/v2")
	switch {
	case r.Method == http.MethodPost && path == "/Users":
		var u struct {
			UserName string `json:"userName"`
		}
		json.NewDecoder(r.Body).Decode(&u)
		if _, dup := f.byName[u.UserName]; dup {
			w.WriteHeader(http.StatusConflict)
			return
		}
		id := fmt.Sprintf("id-%d", len(f.byID)+1)
		f.byID[id], f.byName[u.UserName] = u.UserName, id
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": id, "userName": u.UserName})
	case r.Method == http.MethodGet && path == "/Users":
		var res []map[string]any
		if flt := r.URL.Query().Get("filter"); flt != "" {
			name := strings.TrimSuffix(strings.TrimPrefix(flt, `userName eq "`), `"`)
			if id, ok := f.byName[name]; ok {
				res = append(res, map[string]any{"id": id})
			}
		} else {
			for i := 0; i < 3; i++ {
				res = append(res, map[string]any{"id": i})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"totalResults": len(res), "Resources": res})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/Users/"):
		id := strings.TrimPrefix(path, "/Users/")
		if _, ok := f.byID[id]; !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": id})
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/Users/"):
		id := strings.TrimPrefix(path, "/Users/")
		var p struct {
			Operations []struct {
				Value bool `json:"value"`
			}
		}
		json.NewDecoder(r.Body).Decode(&p)
		f.patches[id] = append(f.patches[id], p.Operations[0].Value)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func TestScenariosAgainstFakeServer(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	base := srv.URL + "/scim/acme/v2"
	ids := filepath.Join(t.TempDir(), "ids.txt")
	var out, errOut bytes.Buffer

	if code := run([]string{"-url", base, "-token", "tok", "-scenario", "seed", "-seed", "50", "-concurrency", "4", "-ids", ids, "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("seed: exit %d: %s %s", code, out.String(), errOut.String())
	}
	var res Result
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("seed JSON line: %v: %q", err, out.String())
	}
	if res.Requests != 50 || res.OK != 50 || len(res.Errors) != 0 || res.StopReason != "requests" {
		t.Errorf("seed result = %+v, want 50 ok and stopped by requests", res)
	}
	data, _ := os.ReadFile(ids)
	if n := strings.Count(string(data), "\n"); n != 50 || !strings.Contains(string(data), "\tload-000050@bench.example\n") {
		t.Errorf("ids file has %d lines:\n%s", n, data)
	}

	// -seed-from grows the store with the next numbers; the ids file lists
	// only this run's users.
	ids2 := filepath.Join(t.TempDir(), "ids2.txt")
	out.Reset()
	if code := run([]string{"-url", base, "-token", "tok", "-scenario", "seed", "-seed", "5", "-seed-from", "51", "-concurrency", "2", "-ids", ids2}, &out, &errOut); code != 0 {
		t.Fatalf("seed -seed-from: exit %d: %s %s", code, out.String(), errOut.String())
	}
	data, _ = os.ReadFile(ids2)
	if n := strings.Count(string(data), "\n"); n != 5 || !strings.Contains(string(data), "\tload-000051@bench.example\n") || !strings.Contains(string(data), "\tload-000055@bench.example\n") {
		t.Errorf("ids file of -seed-from 51 has %d lines:\n%s", n, data)
	}

	// cycle: a lookup that finds none, then the POST, per user; a user
	// that exists already is a failed lookup, not a conflict.
	ids3 := filepath.Join(t.TempDir(), "ids3.txt")
	out.Reset()
	before := fake.requests
	if code := run([]string{"-url", base, "-token", "tok", "-scenario", "cycle", "-seed", "10", "-seed-from", "56", "-concurrency", "2", "-ids", ids3, "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("cycle: exit %d: %s %s", code, out.String(), errOut.String())
	}
	if got := fake.requests - before; got != 20 {
		t.Errorf("cycle of 10 users made %d requests, want 10 lookups and 10 POSTs", got)
	}
	out.Reset()
	run([]string{"-url", base, "-token", "tok", "-scenario", "cycle", "-seed", "1", "-seed-from", "56", "-ids", ids3, "-json"}, &out, &errOut)
	if !strings.Contains(out.String(), `"bad-body":1`) {
		t.Errorf("cycle over an existing user: %s", out.String())
	}

	for _, sc := range []string{"get", "filter", "patch", "page"} {
		out.Reset()
		errOut.Reset()
		if code := run([]string{"-url", base, "-token", "tok", "-scenario", sc, "-ids", ids, "-requests", "200", "-concurrency", "8", "-json"}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s %s", sc, code, out.String(), errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		res = Result{}
		json.Unmarshal([]byte(lines[len(lines)-1]), &res)
		if sc == "page" {
			// totalResults 3 from startIndex 1: 3 resources is right.
			if res.OK != 200 {
				t.Errorf("page: %+v %s", res, errOut.String())
			}
			continue
		}
		if res.Requests != 200 || res.OK != 200 || len(res.Errors) != 0 || res.Latency.P99 <= 0 || res.Latency.P99 < res.Latency.P50 {
			t.Errorf("%s result = %+v; stderr %s", sc, res, errOut.String())
		}
	}
	// Each user's PATCHes alternate false, true, false, …
	fake.mu.Lock()
	for id, seqs := range fake.patches {
		falses := 0
		for _, v := range seqs {
			if !v {
				falses++
			}
		}
		if trues := len(seqs) - falses; falses != trues && falses != trues+1 {
			t.Errorf("user %s got PATCH values %v, want alternating from false", id, seqs)
		}
	}
	fake.mu.Unlock()

	// A wrong token: every request an error, by status, and a failing exit.
	out.Reset()
	errOut.Reset()
	if code := run([]string{"-url", base, "-token", "bad", "-scenario", "get", "-ids", ids, "-requests", "10", "-concurrency", "2", "-json"}, &out, &errOut); code == 0 {
		t.Errorf("bad token: exit 0")
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	res = Result{}
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if res.Errors["401"] != 10 || res.OK != 0 {
		t.Errorf("bad token: %+v, want 10 errors 401", res)
	}
}

func TestDurationBoundsARun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"x"}`))
	}))
	defer srv.Close()
	c := &client{http: newClient(4, time.Second, false), base: srv.URL, token: "Bearer tok"}
	// A run that ignored its duration would never return (go test's timeout
	// catches that); its result says why it stopped.
	res := drive(context.Background(), &postScenario{c: c, run: "t"}, 4, 0, 300*time.Millisecond)
	if res.OK == 0 || res.StopReason != "duration" || res.Elapsed < 0.29 {
		t.Errorf("result = %+v", res)
	}
}

func TestRunRefusesRemoteTarget(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-url", "http://10.0.0.1:8080/scim/acme/v2", "-token", "t", "-scenario", "page", "-requests", "1"}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "not a loopback address") {
		t.Errorf("exit %d, stderr %q: want a refusal", code, errOut.String())
	}
}
