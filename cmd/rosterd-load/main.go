// Command rosterd-load is a load generator for rosterd's SCIM server. It
// drives one scenario against a running server with a fixed number of
// concurrent clients, for a bounded time and/or number of requests, and
// reports throughput and exact latency percentiles (every latency is kept).
//
//	rosterd-load -url http://127.0.0.1:8080/scim/acme/v2 -token T -scenario seed -seed 100000 -ids ids.txt
//	rosterd-load -url … -token T -scenario get -ids ids.txt -duration 20s -json
//
// Scenarios:
//
//	seed    POST -seed N new users (load-000001@bench.example, …; -seed-from
//	        sets the first number) and write
//	        "id<TAB>userName" lines to -ids
//	cycle   seed as an IdP's first push does it (Entra ID, Okta): for each
//	        user a GET /Users?filter=userName eq "…" that must find none,
//	        then the POST; one request counted per user
//	get     GET /Users/{random id from -ids}
//	filter  GET /Users?filter=userName eq "{random userName from -ids}"
//	post    POST new users with unique userNames (post-<run>-0000001@bench.example)
//	patch   PATCH /Users/{random id} replacing active, alternating false/true per user
//	page    GET /Users?startIndex=S&count=C
//
// Only loopback targets are accepted (see checkTarget).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	url, token, scenario, idsFile, label string
	concurrency                          int
	duration                             time.Duration
	durationSet                          bool
	requests                             int64
	seed, seedFrom                       int
	startIndex, count                    int
	timeout                              time.Duration
	jsonOut, allowRemote                 bool
}

// Safety caps when only a request count is given: the run still ends by
// itself if the server stalls.
const (
	defaultCap = 10 * time.Minute
	seedCap    = 60 * time.Minute
)

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("rosterd-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "SCIM base `URL`, e.g. http://127.0.0.1:8080/scim/acme/v2 (loopback only)")
	fs.StringVar(&o.token, "token", "", "SCIM bearer `token` (or env ROSTERD_LOAD_TOKEN)")
	fs.StringVar(&o.scenario, "scenario", "", "seed | cycle | get | filter | post | patch | page")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "stop issuing requests after this long (with -requests or for seed without -duration: a safety cap of 10m, 60m for seed)")
	fs.Int64Var(&o.requests, "requests", 0, "stop after this many requests (0: no count limit)")
	fs.IntVar(&o.seed, "seed", 0, "seed: number of users to create")
	fs.IntVar(&o.seedFrom, "seed-from", 1, "seed: number of the first user (load-NNNNNN), to grow an existing store")
	fs.StringVar(&o.idsFile, "ids", "", "`file` of seeded users: written by seed, read by get, filter, patch")
	fs.IntVar(&o.startIndex, "start-index", 1, "page: SCIM startIndex (1-based)")
	fs.IntVar(&o.count, "count", 100, "page: SCIM count (page size)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&o.label, "label", "", "free-form label carried into the output (e.g. the backend)")
	fs.BoolVar(&o.jsonOut, "json", false, "also print the result as one JSON line")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback target (never on a shared machine)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			o.durationSet = true
		}
	})
	if o.token == "" {
		o.token = os.Getenv("ROSTERD_LOAD_TOKEN")
	}
	res, err := execute(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rosterd-load: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, res.Human())
	if o.jsonOut {
		fmt.Fprintln(stdout, res.JSON())
	}
	for k, s := range res.errorSamples {
		fmt.Fprintf(stderr, "rosterd-load: first %s error: %s\n", k, s)
	}
	if res.OK == 0 {
		return 1
	}
	return 0
}

// scenario is one kind of request. do performs request number i (1-based)
// and returns "" on success or the error class.
type scenario interface {
	do(ctx context.Context, i int64) (class, detail string)
}

func execute(o options, stderr io.Writer) (*Result, error) {
	base, err := checkTarget(o.url, o.allowRemote)
	if err != nil {
		return nil, err
	}
	if o.token == "" {
		return nil, errors.New("-token is required")
	}
	if o.concurrency < 1 {
		return nil, errors.New("-concurrency must be at least 1")
	}
	if o.requests < 0 || o.duration <= 0 || o.timeout <= 0 {
		return nil, errors.New("-requests must be ≥ 0, -duration and -timeout > 0")
	}
	limit := o.duration
	if !o.durationSet && (o.requests > 0 || o.scenario == "seed" || o.scenario == "cycle") {
		limit = defaultCap
		if o.scenario == "seed" || o.scenario == "cycle" {
			limit = seedCap
		}
	}
	c := &client{
		http:  newClient(o.concurrency, o.timeout, o.allowRemote),
		base:  strings.TrimSuffix(base.String(), "/"),
		token: "Bearer " + o.token,
	}
	maxReq := o.requests
	var sc scenario
	var finish func() error
	switch o.scenario {
	case "seed", "cycle":
		if o.seed < 1 || o.seedFrom < 1 || o.idsFile == "" {
			return nil, fmt.Errorf("%s needs -seed N (≥ 1), -seed-from ≥ 1 and -ids FILE", o.scenario)
		}
		s := &seedScenario{c: c, ids: make([]string, o.seed), from: int64(o.seedFrom), lookup: o.scenario == "cycle"}
		sc, maxReq = s, int64(o.seed)
		finish = func() error { return s.write(o.idsFile) }
	case "post":
		sc = &postScenario{c: c, run: strconv.FormatInt(time.Now().UnixNano()/1e6, 36)}
	case "get", "filter", "patch":
		users, err := readIDs(o.idsFile)
		if err != nil {
			return nil, err
		}
		switch o.scenario {
		case "get":
			sc = &getScenario{c: c, users: users}
		case "filter":
			for _, u := range users {
				if u.userName == "" {
					return nil, fmt.Errorf("%s: filter needs userNames (lines \"id<TAB>userName\", as seed writes them)", o.idsFile)
				}
			}
			sc = &filterScenario{c: c, users: users}
		case "patch":
			sc = &patchScenario{c: c, users: users, flips: make([]atomic.Uint32, len(users))}
		}
	case "page":
		if o.startIndex < 1 || o.count < 1 {
			return nil, errors.New("page needs -start-index ≥ 1 and -count ≥ 1")
		}
		sc = &pageScenario{c: c, start: o.startIndex, count: o.count}
	default:
		return nil, fmt.Errorf("-scenario %q: want seed, cycle, get, filter, post, patch or page", o.scenario)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := drive(ctx, sc, o.concurrency, maxReq, limit)
	res.Scenario, res.Label, res.URL = o.scenario, o.label, c.base
	if finish != nil {
		if err := finish(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// drive runs sc with n workers until maxReq requests were issued (0: no
// limit), limit has passed, or ctx ends; requests in flight then finish
// (each bounded by the client's timeout). Throughput is successful requests
// over the time from the start to the last completion.
func drive(ctx context.Context, sc scenario, n int, maxReq int64, limit time.Duration) *Result {
	issueCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cpu0 := cpuTime()
	type workerOut struct {
		lat     []time.Duration
		errs    map[string]int64
		samples map[string]string
		last    time.Time
	}
	outs := make([]workerOut, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := &outs[w]
			out.errs, out.samples = map[string]int64{}, map[string]string{}
			if maxReq > 0 {
				out.lat = make([]time.Duration, 0, min(maxReq/int64(n)+1, 1<<20))
			}
			for issueCtx.Err() == nil {
				i := next.Add(1)
				if maxReq > 0 && i > maxReq {
					return
				}
				t0 := time.Now()
				class, detail := sc.do(context.Background(), i)
				t1 := time.Now()
				out.last = t1
				if class == "" {
					out.lat = append(out.lat, t1.Sub(t0))
					continue
				}
				out.errs[class]++
				if _, ok := out.samples[class]; !ok {
					out.samples[class] = detail
				}
			}
		}()
	}
	wg.Wait()
	res := &Result{Concurrency: n, Errors: map[string]int64{}, errorSamples: map[string]string{}}
	var all []time.Duration
	end := start
	for _, out := range outs {
		all = append(all, out.lat...)
		for k, v := range out.errs {
			res.Errors[k] += v
			res.Requests += v
		}
		for k, v := range out.samples {
			if _, ok := res.errorSamples[k]; !ok {
				res.errorSamples[k] = v
			}
		}
		if out.last.After(end) {
			end = out.last
		}
	}
	res.OK = int64(len(all))
	res.Requests += res.OK
	elapsed := end.Sub(start)
	res.Elapsed = elapsed.Seconds()
	if elapsed > 0 {
		res.Throughput = float64(res.OK) / elapsed.Seconds()
	}
	res.Latency = summarize(all)
	res.ClientCPU = (cpuTime() - cpu0).Seconds()
	switch {
	case ctx.Err() != nil:
		res.StopReason = "signal"
	case maxReq > 0 && next.Load() > maxReq:
		res.StopReason = "requests"
	default:
		res.StopReason = "duration"
	}
	return res
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// client sends SCIM requests.
type client struct {
	http  *http.Client
	base  string // without a trailing slash
	token string // "Bearer …"
}

// call sends one request and reads the whole response. It returns the
// status code's class ("" when it is want), and the body.
func (c *client) call(ctx context.Context, method, path string, body []byte, want ...int) (class string, respBody []byte, detail string) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return "request", nil, err.Error()
	}
	req.Header.Set("Authorization", c.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if isTimeout(err) {
			return "timeout", nil, err.Error()
		}
		return "transport", nil, err.Error()
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if isTimeout(err) {
			return "timeout", nil, err.Error()
		}
		return "transport", nil, err.Error()
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return "", b, ""
		}
	}
	return strconv.Itoa(resp.StatusCode), b, method + " " + path + ": " + truncate(string(b), 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// user is one seeded user.
type user struct{ id, userName string }

func readIDs(path string) ([]user, error) {
	if path == "" {
		return nil, errors.New("-ids FILE is required (written by -scenario seed)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var users []user
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, name, _ := strings.Cut(line, "\t")
		users = append(users, user{id: id, userName: name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no ids", path)
	}
	return users, nil
}

const userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"

// newUser is the body of a POST /Users, shaped as Okta and Entra ID send
// them: name, a primary work email, displayName, externalId, active.
func newUser(userName, externalID, label string) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemas":     []string{userSchema},
		"userName":    userName,
		"externalId":  externalID,
		"name":        map[string]string{"givenName": "Load", "familyName": "User " + label},
		"displayName": "Load User " + label,
		"emails":      []map[string]any{{"value": userName, "type": "work", "primary": true}},
		"active":      true,
	})
	return b
}

// seedUserName is the userName of seeded user i (1-based).
func seedUserName(i int64) string { return fmt.Sprintf("load-%06d@bench.example", i) }

type seedScenario struct {
	c    *client
	ids  []string // by request number i-1
	from int64    // user number of request 1
	// lookup: look the userName up first, as an IdP does (-scenario cycle).
	lookup bool
}

func (s *seedScenario) do(ctx context.Context, i int64) (string, string) {
	n := s.from + i - 1
	name := seedUserName(n)
	if s.lookup {
		q := url.Values{"filter": {`userName eq "` + name + `"`}}
		class, body, detail := s.c.call(ctx, http.MethodGet, "/Users?"+q.Encode(), nil, http.StatusOK)
		if class != "" {
			return class, detail
		}
		var r struct {
			TotalResults int `json:"totalResults"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.TotalResults != 0 {
			return "bad-body", fmt.Sprintf("lookup of new user %q: want none, got %s", name, truncate(string(body), 200))
		}
	}
	class, body, detail := s.c.call(ctx, http.MethodPost, "/Users", newUser(name, fmt.Sprintf("ext-%06d", n), fmt.Sprintf("%06d", n)), http.StatusCreated)
	if class != "" {
		return class, detail
	}
	id, err := idOf(body)
	if err != nil {
		return "bad-body", err.Error()
	}
	s.ids[i-1] = id
	return "", ""
}

func (s *seedScenario) write(path string) error {
	var b bytes.Buffer
	for i, id := range s.ids {
		if id != "" {
			fmt.Fprintf(&b, "%s\t%s\n", id, seedUserName(s.from+int64(i)))
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func idOf(body []byte) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", err
	}
	if r.ID == "" {
		return "", errors.New("response without id")
	}
	return r.ID, nil
}

type postScenario struct {
	c   *client
	run string // distinguishes this run's userNames from earlier runs'
}

func (s *postScenario) do(ctx context.Context, i int64) (string, string) {
	name := fmt.Sprintf("post-%s-%07d@bench.example", s.run, i)
	class, body, detail := s.c.call(ctx, http.MethodPost, "/Users", newUser(name, "post-"+s.run+"-"+strconv.FormatInt(i, 10), strconv.FormatInt(i, 10)), http.StatusCreated)
	if class != "" {
		return class, detail
	}
	if _, err := idOf(body); err != nil {
		return "bad-body", err.Error()
	}
	return "", ""
}

type getScenario struct {
	c     *client
	users []user
}

func (s *getScenario) do(ctx context.Context, _ int64) (string, string) {
	u := s.users[rand.IntN(len(s.users))]
	class, body, detail := s.c.call(ctx, http.MethodGet, "/Users/"+url.PathEscape(u.id), nil, http.StatusOK)
	if class != "" {
		return class, detail
	}
	if id, err := idOf(body); err != nil || id != u.id {
		return "bad-body", fmt.Sprintf("GET /Users/%s answered id %q (%v)", u.id, id, err)
	}
	return "", ""
}

type filterScenario struct {
	c     *client
	users []user
}

func (s *filterScenario) do(ctx context.Context, _ int64) (string, string) {
	u := s.users[rand.IntN(len(s.users))]
	q := url.Values{"filter": {`userName eq "` + u.userName + `"`}}
	class, body, detail := s.c.call(ctx, http.MethodGet, "/Users?"+q.Encode(), nil, http.StatusOK)
	if class != "" {
		return class, detail
	}
	var r struct {
		TotalResults int `json:"totalResults"`
		Resources    []struct {
			ID string `json:"id"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.TotalResults != 1 || len(r.Resources) != 1 || r.Resources[0].ID != u.id {
		return "bad-body", fmt.Sprintf("filter userName eq %q: want exactly %s, got %s", u.userName, u.id, truncate(string(body), 200))
	}
	return "", ""
}

type patchScenario struct {
	c     *client
	users []user
	flips []atomic.Uint32 // PATCHes sent per user: odd → now false, even → true
}

func (s *patchScenario) do(ctx context.Context, _ int64) (string, string) {
	k := rand.IntN(len(s.users))
	// Seeded users start active, so the first PATCH of a user deactivates
	// it and the next reactivates it: every PATCH changes the card.
	active := s.flips[k].Add(1)%2 == 0
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":` + strconv.FormatBool(active) + `}]}`
	class, _, detail := s.c.call(ctx, http.MethodPatch, "/Users/"+url.PathEscape(s.users[k].id), []byte(body), http.StatusNoContent, http.StatusOK)
	return class, detail
}

type pageScenario struct {
	c            *client
	start, count int
}

func (s *pageScenario) do(ctx context.Context, _ int64) (string, string) {
	path := "/Users?startIndex=" + strconv.Itoa(s.start) + "&count=" + strconv.Itoa(s.count)
	class, body, detail := s.c.call(ctx, http.MethodGet, path, nil, http.StatusOK)
	if class != "" {
		return class, detail
	}
	var r struct {
		TotalResults int               `json:"totalResults"`
		Resources    []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "bad-body", err.Error()
	}
	if want := min(s.count, max(r.TotalResults-s.start+1, 0)); len(r.Resources) != want {
		return "bad-body", fmt.Sprintf("%s: %d resources, want %d (totalResults %d)", path, len(r.Resources), want, r.TotalResults)
	}
	return "", ""
}
