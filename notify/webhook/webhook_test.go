package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	secret  = "whsec-test"
	adminK  = "admin-key"
	scimTok = "scim-token"
)

// receiver is a real HTTP receiver that verifies every delivery's
// signature, as the README tells platforms to.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	got    []webhook.Event // accepted, in arrival order, duplicates too
	by     map[string]int  // event id → deliveries, by the X-Replica header
	status int             // when set, answered after verification
	reject int             // deliveries refused for a bad signature
	calls  int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, secret: secret, by: map[string]int{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
	}
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.HeaderSignature), req.Header.Get(webhook.HeaderTimestamp), body, time.Now(), 0); err != nil {
		r.reject++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ids []string
	for _, e := range p.Events {
		ids = append(ids, fmt.Sprint(e.ID))
		r.by[fmt.Sprintf("%d/%s", e.ID, req.Header.Get("X-Replica"))]++
	}
	if h := req.Header.Get(webhook.HeaderEventIDs); h != strings.Join(ids, ",") {
		r.t.Errorf("%s %q, body holds %v", webhook.HeaderEventIDs, h, ids)
	}
	r.got = append(r.got, p.Events...)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setStatus(s int) { r.mu.Lock(); r.status = s; r.mu.Unlock() }

// check: every event of the tenants' feeds arrived, and per card the
// events arrived (first arrivals) in feed order.
func (r *receiver) check(t *testing.T, st store.Store, tenants ...string) (events int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int64]bool{}
	perCard := map[string][]int64{}
	for _, e := range r.got {
		if !seen[e.ID] {
			seen[e.ID] = true
			perCard[e.Tenant+"/"+e.CardID] = append(perCard[e.Tenant+"/"+e.CardID], e.ID)
		}
	}
	want := map[string][]int64{}
	for _, tn := range tenants {
		all, err := st.EventsAfter(context.Background(), tn, store.EventCursor{}, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if !seen[e.ID] {
				t.Errorf("event %d (%s of card %s) never arrived", e.ID, e.Type, e.CardID)
			}
			want[tn+"/"+e.CardID] = append(want[tn+"/"+e.CardID], e.ID)
			events++
		}
	}
	for card, ids := range want {
		if !slices.Equal(perCard[card], ids) {
			t.Errorf("card %s: arrived %v, feed order %v", card, perCard[card], ids)
		}
	}
	return events
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivered reports whether every event of the tenants reached r.
func (r *receiver) delivered(st store.Store, tenants ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int64]bool{}
	for _, e := range r.got {
		seen[e.ID] = true
	}
	for _, tn := range tenants {
		all, _ := st.EventsAfter(context.Background(), tn, store.EventCursor{}, 100000)
		for _, e := range all {
			if !seen[e.ID] {
				return false
			}
		}
	}
	return true
}

// fakeClock moves on when the dispatcher sleeps (and sleeps a little for
// real, so that a receiver has time to come back).
type fakeClock struct{ *testenv.Clock }

func (c fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(min(d, 5*time.Millisecond)):
		return nil
	}
}

// start runs a dispatcher until the test ends (or stop is called).
func start(t *testing.T, st webhook.Store, opt webhook.Options) (d *webhook.Dispatcher, stop func()) {
	t.Helper()
	if opt.Interval == 0 {
		opt.Interval = 10 * time.Millisecond
	}
	if opt.Secret == "" {
		opt.Secret = secret
	}
	d, err := webhook.New(st, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return d, stop
}

// env is the directory with the admin API and SCIM mounted on a real
// server, and a file feed.
type env struct {
	svc    *directory.Service
	st     store.Backend
	url    string
	runner *reconcile.Runner
	mu     sync.Mutex
	snap   []reconcile.Record
}

func newEnv(t *testing.T, st store.Backend) *env {
	t.Helper()
	policy := directory.DefaultPolicy()
	svc := directory.NewService(st, map[string]directory.Policy{"acme": policy, "globex": policy})
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: adminK},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: scimTok},
	})
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	e := &env{svc: svc, st: st, url: ts.URL, runner: &reconcile.Runner{Dir: svc, Store: st}}
	tenants := tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme", SCIM: tenanttest.SCIM("okta")}, config.Tenant{ID: "globex", Name: "Globex"})
	api := admin.New(keys, tenants, logger, reg)
	api.With(admin.Services{Directory: svc, Store: st, Runner: e.runner, Events: st, Webhooks: st})
	api.Mount(srv)
	sc, err := scim.New(svc, keys, tenants, logger, reg, scim.Options{PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	sc.Mount(srv)
	ts.Config.Handler = srv.Handler()
	t.Cleanup(ts.Close)
	return e
}

func (e *env) call(t *testing.T, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(path, "/scim/") {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// fileRun applies a snapshot of these people as the feed file:hr.
func (e *env) fileRun(t *testing.T, emails ...string) {
	t.Helper()
	var recs []reconcile.Record
	for _, m := range emails {
		recs = append(recs, reconcile.Record{Key: strings.ToLower(m), Email: m, Attributes: store.Attributes{GivenName: strings.Split(m, "@")[0], Department: "eng"}})
	}
	feed := reconcile.Feed{Source: reconcile.Source{Tenant: "acme", Name: "file:hr", Authoritative: true, Withdraw: true},
		Feed: "hr", Kind: "file", Limits: reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000},
		Fetch: func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			return reconcile.Snapshot{Name: "hr.csv", Records: recs, Fetched: time.Now()}, nil, nil
		}}
	run, err := e.runner.Run(context.Background(), feed, reconcile.RunOptions{})
	if err != nil {
		t.Fatalf("file run: %v (%+v)", err, run)
	}
}

// changes makes changes through every channel: the admin API, SCIM, a
// file run and the directory service itself.
func (e *env) changes(t *testing.T, round int) {
	t.Helper()
	acme := "/api/v1/tenants/acme"
	ann := fmt.Sprintf("ann%d@example.com", round)
	r := e.call(t, "POST", acme+"/cards/invite", adminK, map[string]any{"emails": []string{ann}}, 200)
	_ = r
	// SCIM: a user created, then deactivated.
	u := e.call(t, "POST", "/scim/acme/v2/Users", scimTok, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": fmt.Sprintf("bo%d@example.com", round), "active": true,
		"name":   map[string]string{"givenName": "Bo", "familyName": "Round"},
		"emails": []map[string]any{{"value": fmt.Sprintf("bo%d@example.com", round), "primary": true}}}, 201)
	e.call(t, "PATCH", "/scim/acme/v2/Users/"+u["id"].(string), scimTok, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Engineer"}}}, 204)
	e.call(t, "PATCH", "/scim/acme/v2/Users/"+u["id"].(string), scimTok, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}}}, 204)
	// A file run: three people, then one of them gone.
	people := []string{fmt.Sprintf("cy%d@example.com", round), fmt.Sprintf("di%d@example.com", round), fmt.Sprintf("ed%d@example.com", round)}
	e.fileRun(t, people...)
	e.fileRun(t, people[:2]...)
	// The admin API disables a card the file holds; the service edits one in globex.
	card, err := e.st.GetCardByEmail(context.Background(), "acme", people[0])
	if err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", acme+"/cards/"+card.ID+"/disable", adminK, map[string]string{"reason": "test"}, 200)
	o, err := e.svc.Invite(context.Background(), directory.Actor{Name: "admin:ops"}, directory.AdminInput{Tenant: "globex", Email: fmt.Sprintf("gus%d@example.com", round)})
	if err != nil || o.Err != nil {
		t.Fatal(err, o.Err)
	}
}

// TestEveryChangeArrives: changes from SCIM, file runs and the admin API
// reach a real receiver, signed, in order per card.
func TestEveryChangeArrives(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		rcv := newReceiver(t)
		e.changes(t, 1) // before the dispatcher starts: it starts at the feed's beginning
		start(t, st, webhook.Options{URL: rcv.srv.URL + "/hooks", Tenants: []string{"acme", "globex"}, Batch: 3})
		e.changes(t, 2) // while it runs
		waitFor(t, "every event", func() bool { return rcv.delivered(st, "acme", "globex") })
		n := rcv.check(t, st, "acme", "globex")
		types := map[string]int{}
		rcv.mu.Lock()
		for _, ev := range rcv.got {
			types[ev.Type]++
			if ev.Cursor == "" || ev.At == "" || len(ev.Data) < 2 {
				t.Errorf("event %d lacks a field: %+v", ev.ID, ev)
			}
		}
		rejected := rcv.reject
		rcv.mu.Unlock()
		if rejected != 0 {
			t.Errorf("%d deliveries had a bad signature", rejected)
		}
		for _, typ := range []string{"card.created", "card.updated", "card.disabled"} {
			if types[typ] == 0 {
				t.Errorf("no %s arrived: %v", typ, types)
			}
		}
		t.Logf("%d events delivered: %v", n, types)
	})
}

// TestReceiverDown: the receiver answers 503, then its listener is
// closed; once it is back every event arrives, none lost, in order per
// card. The backoff runs on an injected clock.
func TestReceiverDown(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		// A listener whose address survives the receiver's restart.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		rcv := &receiver{t: t, secret: secret, by: map[string]int{}}
		rcv.srv = httptest.NewUnstartedServer(rcv)
		rcv.srv.Listener.Close()
		rcv.srv.Listener = ln
		rcv.srv.Start()

		clk := fakeClock{testenv.NewClock(time.Now())}
		reg := prometheus.NewRegistry()
		rcv.setStatus(http.StatusServiceUnavailable)
		start(t, st, webhook.Options{URL: "http://" + addr + "/hooks", Tenants: []string{"acme", "globex"}, Batch: 4,
			Now: clk.Now, Sleep: clk.Sleep, Interval: time.Second, Registerer: reg})
		e.changes(t, 1)
		waitFor(t, "a few 503s", func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return rcv.calls >= 4 })
		// Now the listener goes away altogether.
		rcv.srv.Close()
		e.changes(t, 2)
		time.Sleep(200 * time.Millisecond)
		pending, _ := st.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{Tenant: "acme", Status: store.WebhookPending})
		if len(pending) == 0 {
			t.Fatal("no pending delivery recorded while the receiver was down")
		}
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		rcv.setStatus(0)
		back := httptest.NewUnstartedServer(rcv)
		back.Listener.Close()
		back.Listener = ln2
		back.Start()
		t.Cleanup(back.Close)
		waitFor(t, "every event after the receiver came back", func() bool { return rcv.delivered(st, "acme", "globex") })
		rcv.check(t, st, "acme", "globex")
		failed, _ := st.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{Tenant: "acme", Status: store.WebhookFailed})
		if len(failed) != 0 {
			t.Errorf("failed deliveries: %+v", failed)
		}
		waitFor(t, "the pending record to turn delivered", func() bool {
			d, _ := st.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryQuery{Tenant: "acme", Status: store.WebhookDelivered})
			return len(d) > 0
		})
		if elapsed := clk.Now().Sub(time.Now()); elapsed < 3*time.Second {
			t.Errorf("the injected clock moved only %v: no backoff?", elapsed)
		}
	})
}

// TestSignatureCoversBody: a proxy flips one byte of the body; the
// receiver refuses it; after 3 tries the batch is recorded failed and
// shows through the admin API.
func TestSignatureCoversBody(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st)
		rcv := newReceiver(t)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			i := bytes.Index(body, []byte(`"card_id":"`)) + len(`"card_id":"`)
			body[i] ^= 0x01 // one byte of the body, still valid JSON
			req, _ := http.NewRequest(r.Method, rcv.srv.URL+r.URL.Path, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		}))
		t.Cleanup(proxy.Close)
		if _, err := e.svc.Invite(context.Background(), directory.Actor{Name: "admin:ops"}, directory.AdminInput{Tenant: "acme", Email: "ann@example.com"}); err != nil {
			t.Fatal(err)
		}
		clk := fakeClock{testenv.NewClock(time.Now())}
		start(t, st, webhook.Options{URL: proxy.URL + "/hooks", Tenants: []string{"acme"}, Now: clk.Now, Sleep: clk.Sleep, Interval: time.Second})
		var body map[string]any
		waitFor(t, "a failed delivery", func() bool {
			body = e.call(t, "GET", "/api/v1/tenants/acme/webhooks/deliveries?status=failed", adminK, nil, 200)
			return len(body["deliveries"].([]any)) > 0
		})
		d := body["deliveries"].([]any)[0].(map[string]any)
		if d["attempts"].(float64) != 3 || d["last_status"].(float64) != 401 || len(d["event_ids"].([]any)) != 1 {
			t.Errorf("failed delivery: %v", d)
		}
		rcv.mu.Lock()
		if rcv.reject != 3 || len(rcv.got) != 0 {
			t.Errorf("receiver: %d rejected, %d accepted; want 3 and 0", rcv.reject, len(rcv.got))
		}
		rcv.mu.Unlock()
		// The record is written before the cursor moves past the batch.
		waitFor(t, "the failed batch to be skipped", func() bool {
			cur, _ := st.WebhookCursor(context.Background(), webhook.EndpointID(proxy.URL+"/hooks"), "acme")
			return !cur.IsZero()
		})
	})
}

// replica tags a dispatcher's requests.
type replica struct{ name string }

func (r replica) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Replica", r.name)
	return http.DefaultTransport.RoundTrip(req)
}

// TestOneReplicaDelivers: two dispatchers of one endpoint on one database
// (two connection pools on PostgreSQL, as two replicas have): each event
// reaches the receiver from only one of them, also when the one
// delivering stops and the other takes over.
func TestOneReplicaDelivers(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			var st1, st2 store.Backend
			if b == "sqlite" {
				st1 = storetest.Migrated(t, storetest.OpenSQLite)
				st2 = st1
			} else {
				dsn := pgtest.DSN(t)
				var err error
				if st1, err = postgres.Open(dsn, postgres.Options{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st1.Close() })
				if _, err := st1.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				if st2, err = postgres.Open(dsn, postgres.Options{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st2.Close() })
			}
			svc := directory.NewService(st1, map[string]directory.Policy{"acme": directory.DefaultPolicy()})
			rcv := newReceiver(t)
			url := rcv.srv.URL + "/hooks"
			invite := func(from, to int) {
				for i := from; i < to; i++ {
					if _, err := svc.Invite(context.Background(), directory.Actor{Name: "admin:ops"}, directory.AdminInput{Tenant: "acme", Email: fmt.Sprintf("p%d@example.com", i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			invite(0, 50)
			_, stopA := start(t, st1, webhook.Options{URL: url, Tenants: []string{"acme"}, Batch: 7, Client: &http.Client{Transport: replica{"A"}}})
			_, stopB := start(t, st2, webhook.Options{URL: url, Tenants: []string{"acme"}, Batch: 7, Client: &http.Client{Transport: replica{"B"}}})
			invite(50, 100)
			waitFor(t, "the first 100", func() bool { return rcv.delivered(st1, "acme") })
			rcv.mu.Lock()
			first := map[string]bool{}
			for k := range rcv.by {
				first[k[strings.Index(k, "/")+1:]] = true
			}
			rcv.mu.Unlock()
			// Stop whichever delivered; the other takes over.
			if first["A"] {
				stopA()
			} else {
				stopB()
			}
			invite(100, 150)
			waitFor(t, "all 150", func() bool { return rcv.delivered(st1, "acme") })
			rcv.check(t, st1, "acme")
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			perEvent := map[string][]string{}
			replicas := map[string]int{}
			for k, n := range rcv.by {
				id, rep, _ := strings.Cut(k, "/")
				perEvent[id] = append(perEvent[id], rep)
				replicas[rep] += n
				if n != 1 {
					t.Errorf("event %s delivered %d times by %s", id, n, rep)
				}
			}
			for id, reps := range perEvent {
				if len(reps) != 1 {
					t.Errorf("event %s delivered by %v", id, reps)
				}
			}
			if len(first) != 1 {
				t.Errorf("before the stop, deliveries came from %v", first)
			}
			if len(replicas) != 2 {
				t.Errorf("no take-over: deliveries by %v", replicas)
			}
			t.Logf("deliveries per replica: %v", replicas)
		})
	}
}
