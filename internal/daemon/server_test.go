package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// logBuffer collects log output written from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded JSON log records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func newTestServer(t *testing.T, level string) (*Server, *httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger, err := NewLogger(logs, level, "json")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(logger, prometheus.NewRegistry())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts, logs
}

func do(t *testing.T, method, url string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

// series scrapes /metrics and returns the sample lines of the named metric
// (with labels, without the value) mapped to their values.
func series(t *testing.T, baseURL, name string) map[string]string {
	t.Helper()
	resp, body := do(t, "GET", baseURL+"/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

type errorResponse struct {
	Error struct {
		Code    string  `json:"code"`
		Field   *string `json:"field"`
		Message string  `json:"message"`
	} `json:"error"`
}

func decodeError(t *testing.T, body string) errorResponse {
	t.Helper()
	var e errorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not a JSON error: %q: %v", body, err)
	}
	return e
}

func TestMetricsLabelRequestsByPattern(t *testing.T) {
	s, ts, _ := newTestServer(t, "info")
	s.HandleFunc("GET /api/v1/tenants/{t}/cards", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"tenant": r.PathValue("t")})
	})

	for _, tenant := range []string{"acme", "globex"} {
		if resp, _ := do(t, "GET", ts.URL+"/api/v1/tenants/"+tenant+"/cards", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET cards of %s: %d", tenant, resp.StatusCode)
		}
	}
	if resp, _ := do(t, "GET", ts.URL+"/no/such/thing", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("GET unknown path: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "FROB", ts.URL+"/api/v1/tenants/acme/cards", nil, nil); resp.StatusCode != 405 {
		t.Fatalf("FROB cards: %d", resp.StatusCode)
	}

	got := series(t, ts.URL, "rosterd_http_requests_total")
	want := map[string]string{
		`rosterd_http_requests_total{code="200",method="GET",route="GET /api/v1/tenants/{t}/cards"}`: "2",
		`rosterd_http_requests_total{code="404",method="GET",route="unmatched"}`:                     "1",
		`rosterd_http_requests_total{code="405",method="other",route="unmatched"}`:                   "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, "acme") || strings.Contains(k, "globex") || strings.Contains(k, "/no/such") {
			t.Errorf("a raw path became a label: %s", k)
		}
	}

	hist := series(t, ts.URL, "rosterd_http_request_duration_seconds_count")
	if k := `rosterd_http_request_duration_seconds_count{method="GET",route="GET /api/v1/tenants/{t}/cards"}`; hist[k] != "2" {
		t.Errorf("%s = %q, want 2 (all: %v)", k, hist[k], hist)
	}
}

func TestPanicIsRecoveredCountedAndAnswered500(t *testing.T) {
	s, ts, logs := newTestServer(t, "info")
	s.HandleFunc("GET /boom", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="cards.csv"`)
		panic("kaboom")
	})

	resp, body := do(t, "GET", ts.URL+"/boom", nil, nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		t.Errorf("the 500 kept the handler's Content-Disposition %q", cd)
	}
	if e := decodeError(t, body); e.Error.Code != "internal" || strings.Contains(body, "kaboom") {
		t.Errorf("body = %s, want an internal error that does not leak the panic", body)
	}

	if resp, body := do(t, "GET", ts.URL+"/healthz", nil, nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the panic /healthz = %d %q", resp.StatusCode, body)
	}

	got := series(t, ts.URL, "rosterd_http_panics_total")
	if k := `rosterd_http_panics_total{route="GET /boom"}`; got[k] != "1" {
		t.Errorf("%s = %q, want 1", k, got[k])
	}
	if k := `rosterd_http_requests_total{code="500",method="GET",route="GET /boom"}`; series(t, ts.URL, "rosterd_http_requests_total")[k] != "1" {
		t.Errorf("%s not counted once", k)
	}

	panics := logs.lines(t, "http handler panicked")
	if len(panics) != 1 {
		t.Fatalf("got %d panic log lines, want 1", len(panics))
	}
	if panics[0]["level"] != "ERROR" || panics[0]["panic"] != "kaboom" ||
		!strings.Contains(panics[0]["stack"].(string), "server_test.go") {
		t.Errorf("panic log line = %v", panics[0])
	}
}

func TestPanicAfterWritingAbortsTheResponse(t *testing.T) {
	s, ts, _ := newTestServer(t, "info")
	s.HandleFunc("GET /half", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "first rows,")
		http.NewResponseController(w).Flush()
		panic("kaboom")
	})

	resp, err := http.Get(ts.URL + "/half")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a response cut by a panic was read as complete")
	}
	if k := `rosterd_http_panics_total{route="GET /half"}`; series(t, ts.URL, "rosterd_http_panics_total")[k] != "1" {
		t.Errorf("%s not counted once", k)
	}
}

func TestReadyz(t *testing.T) {
	type readyzBody struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	ok := func(context.Context) error { return nil }
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })

	tests := []struct {
		name       string
		checks     []Check
		wantStatus int
		want       readyzBody
	}{
		{
			name:       "no checks",
			wantStatus: 200,
			want:       readyzBody{Status: "ready", Checks: map[string]string{}},
		},
		{
			name:       "all ok",
			checks:     []Check{{Name: "store", Fn: ok}, {Name: "smtp", Fn: ok}},
			wantStatus: 200,
			want:       readyzBody{Status: "ready", Checks: map[string]string{"store": "ok", "smtp": "ok"}},
		},
		{
			name: "one failing",
			checks: []Check{{Name: "smtp", Fn: ok}, {Name: "store", Fn: func(context.Context) error {
				return errors.New("schema version 3 is behind 5: run `rosterd migrate`")
			}}},
			wantStatus: 503,
			want: readyzBody{Status: "not ready", Checks: map[string]string{
				"smtp":  "ok",
				"store": "schema version 3 is behind 5: run `rosterd migrate`",
			}},
		},
		{
			name: "hanging check ignores its context",
			checks: []Check{{Name: "smtp", Fn: ok}, {Name: "store", Fn: func(context.Context) error {
				<-hang // outlives the request: the answer must not wait for it
				return nil
			}}},
			wantStatus: 503,
			want:       readyzBody{Status: "not ready", Checks: map[string]string{"smtp": "ok", "store": "timeout"}},
		},
		{
			name: "slow check honours its context",
			checks: []Check{{Name: "store", Fn: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}}},
			wantStatus: 503,
			want:       readyzBody{Status: "not ready", Checks: map[string]string{"store": "timeout"}},
		},
		{
			name:       "panicking check",
			checks:     []Check{{Name: "store", Fn: func(context.Context) error { panic("nil store") }}},
			wantStatus: 503,
			want:       readyzBody{Status: "not ready", Checks: map[string]string{"store": "check panicked: nil store"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts, _ := newTestServer(t, "info")
			s.checkTimeout = 50 * time.Millisecond
			for _, c := range tt.checks {
				s.AddReadinessCheck(c)
			}
			resp, body := do(t, "GET", ts.URL+"/readyz", nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var got readyzBody
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if got.Status != tt.want.Status || len(got.Checks) != len(tt.want.Checks) {
				t.Fatalf("body = %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want.Checks {
				if got.Checks[k] != v {
					t.Errorf("checks[%s] = %q, want %q", k, got.Checks[k], v)
				}
			}
		})
	}
}

func TestRequestLogLeavesOutSecrets(t *testing.T) {
	s, ts, logs := newTestServer(t, "info")
	s.HandleFunc("POST /api/v1/tenants/{t}/invites", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		WriteJSON(w, http.StatusCreated, map[string]string{"id": "c1"})
	})

	resp, _ := do(t, "POST", ts.URL+"/api/v1/tenants/acme/invites?code=s3cr3t-code&email=a@b.c",
		strings.NewReader(`{"email":"body-person@example.com"}`),
		http.Header{"Authorization": {"Bearer tok-XYZZY"}, "Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d", resp.StatusCode)
	}

	raw := logs.String()
	for _, secret := range []string{"s3cr3t-code", "a@b.c", "tok-XYZZY", "Bearer", "body-person", "code="} {
		if strings.Contains(raw, secret) {
			t.Errorf("log output contains %q:\n%s", secret, raw)
		}
	}
	lines := logs.lines(t, "http request")
	if len(lines) != 1 {
		t.Fatalf("got %d request log lines, want 1:\n%s", len(lines), raw)
	}
	l := lines[0]
	if l["level"] != "INFO" || l["method"] != "POST" || l["route"] != "POST /api/v1/tenants/{t}/invites" ||
		l["status"] != float64(201) || l["bytes"] == float64(0) || l["remote"] == "" || l["duration"] == nil {
		t.Errorf("request log line = %v", l)
	}
}

func TestProbesLogAtDebug(t *testing.T) {
	_, ts, logs := newTestServer(t, "info")
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		do(t, "GET", ts.URL+p, nil, nil)
	}
	if lines := logs.lines(t, "http request"); len(lines) != 0 {
		t.Errorf("probes logged at info: %v", lines)
	}

	_, ts, logs = newTestServer(t, "debug")
	do(t, "GET", ts.URL+"/healthz", nil, nil)
	if lines := logs.lines(t, "http request"); len(lines) != 1 || lines[0]["level"] != "DEBUG" {
		t.Errorf("healthz at debug level: %v", lines)
	}
}

func TestMuxErrorsAreJSON(t *testing.T) {
	s, ts, _ := newTestServer(t, "info")
	s.HandleFunc("GET /api/v1/cards/{id}", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "card_not_found", "", "no card "+r.PathValue("id"))
	})
	s.HandleFunc("DELETE /api/v1/cards/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	t.Run("wrong method is 405 with Allow", func(t *testing.T) {
		resp, body := do(t, "POST", ts.URL+"/api/v1/cards/7", nil, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", resp.StatusCode)
		}
		allow := resp.Header.Get("Allow")
		for _, m := range []string{"GET", "HEAD", "DELETE"} {
			if !strings.Contains(allow, m) {
				t.Errorf("Allow = %q, missing %s", allow, m)
			}
		}
		if e := decodeError(t, body); e.Error.Code != "method_not_allowed" {
			t.Errorf("body = %s", body)
		}
	})

	t.Run("unknown route is a JSON 404", func(t *testing.T) {
		resp, body := do(t, "GET", ts.URL+"/api/v2/whatever", nil, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		e := decodeError(t, body)
		if e.Error.Code != "not_found" || e.Error.Message == "" || e.Error.Field != nil {
			t.Errorf("body = %s", body)
		}
	})

	t.Run("a handler's own 404 is left alone", func(t *testing.T) {
		resp, body := do(t, "GET", ts.URL+"/api/v1/cards/7", nil, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", resp.StatusCode)
		}
		if e := decodeError(t, body); e.Error.Code != "card_not_found" || e.Error.Message != "no card 7" {
			t.Errorf("body = %s", body)
		}
	})
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		field string
		want  string
	}{
		{"", `{"error":{"code":"invalid_value","message":"not an email"}}` + "\n"},
		{"email", `{"error":{"code":"invalid_value","field":"email","message":"not an email"}}` + "\n"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(rec, http.StatusBadRequest, "invalid_value", tt.field, "not an email")
		if rec.Code != 400 || rec.Body.String() != tt.want {
			t.Errorf("field %q: %d %s, want 400 %s", tt.field, rec.Code, rec.Body, tt.want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
}

func TestWriteJSONUnencodableIs500(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]any{"f": func() {}})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if e := decodeError(t, rec.Body.String()); e.Error.Code != "internal" {
		t.Errorf("body = %s", rec.Body)
	}
}

func TestServersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewServer(nil, reg)
	b := NewServer(nil, reg)
	a.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	b.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	for _, s := range []*Server{a, b} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}
	ts := httptest.NewServer(a.Handler())
	defer ts.Close()
	if k := `rosterd_http_requests_total{code="200",method="GET",route="GET /x"}`; series(t, ts.URL, "rosterd_http_requests_total")[k] != "2" {
		t.Errorf("%s is not 2", k)
	}
}

// startRun runs s.Run on a free local port and returns its address, the
// cancel function standing in for SIGTERM, and Run's result.
func startRun(t *testing.T, s *Server, shutdownTimeout time.Duration) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	addrc := make(chan string, 1)
	runErr := make(chan error, 1)
	go func() {
		runErr <- s.Run(ctx, "127.0.0.1:0", shutdownTimeout, func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case addr := <-addrc:
		return addr, cancel, runErr
	case err := <-runErr:
		t.Fatalf("Run returned before listening: %v", err)
	}
	return "", nil, nil
}

// eventually polls cond until it holds or the test's deadline passes. It
// waits for state to change; it asserts nothing about time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("never happened: %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type result struct {
	status int
	body   string
	err    error
}

// blockingRoute registers a route that signals when a request arrives and
// answers 200 "done" once release is closed.
func blockingRoute(s *Server) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	s.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	return started, release
}

func getAsync(url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{}}
		resp, err := client.Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func TestRunFinishesInFlightRequestsOnShutdown(t *testing.T) {
	logs := &logBuffer{}
	logger, _ := NewLogger(logs, "info", "json")
	s := NewServer(logger, nil)
	started, release := blockingRoute(s)
	addr, cancel, runErr := startRun(t, s, time.Minute)

	got := getAsync("http://" + addr + "/slow")
	<-started
	cancel() // SIGTERM

	// The listener closes while the request is still in flight.
	eventually(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	for _, p := range []string{"/readyz", "/healthz"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s during shutdown = %d, want 503", p, rec.Code)
		}
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned with a request in flight: %v", err)
	default:
	}

	close(release)
	if r := <-got; r.err != nil || r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request = %+v, want 200 done", r)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestRunReportsRequestsOutlivingTheDeadline(t *testing.T) {
	s := NewServer(nil, nil)
	started, release := blockingRoute(s)
	defer close(release)
	addr, cancel, runErr := startRun(t, s, 50*time.Millisecond)

	got := getAsync("http://" + addr + "/slow")
	<-started
	cancel()

	err := <-runErr
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want a deadline error", err)
	}
	if r := <-got; r.err == nil {
		t.Errorf("request cut at the deadline got a response: %+v", r)
	}
}

func TestRunNamesAnAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	err = NewServer(nil, nil).Run(t.Context(), addr, time.Second, func(net.Addr) {
		t.Error("onListening called although listening failed")
	})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Run on a taken port = %v, want an error naming %s", err, addr)
	}
}

func TestAddReadinessCheckRefusesDuplicates(t *testing.T) {
	s := NewServer(nil, nil)
	s.AddReadinessCheck(Check{Name: "store", Fn: func(context.Context) error { return nil }})
	defer func() {
		if recover() == nil {
			t.Error("second check named store was accepted")
		}
	}()
	s.AddReadinessCheck(Check{Name: "store", Fn: func(context.Context) error { return nil }})
}

// trickle sends a request whose headers arrive at once and whose 200-byte
// body comes one byte at a time, and returns the connection.
func trickle(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 200 {
			if _, err := conn.Write([]byte("x")); err != nil {
				return // the server hung up
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return conn
}

// TestSlowBodyIsCutOff: a client that sends its headers and then trickles
// the body cannot hold the connection; the handler's read fails with a
// timeout and the connection closes before the body is complete.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := NewServer(nil, nil)
	s.SetTimeouts(Timeouts{ReadHeader: time.Second, ReadBody: 100 * time.Millisecond})
	readErr := make(chan error, 1)
	s.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			WriteError(w, http.StatusRequestTimeout, "body_timeout", "", "the request body did not arrive in time")
		}
	})
	addr, _, _ := startRun(t, s, time.Second)
	conn := trickle(t, addr)

	err := <-readErr
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("reading the trickled body: %v, want a timeout", err)
	}
	// The error says what a person can act on, not the socket's words.
	var bt *BodyTimeoutError
	if !errors.As(err, &bt) || err.Error() != "the request body did not arrive within http.read_body_timeout (100ms)" {
		t.Fatalf("reading the trickled body: %q, want a BodyTimeoutError naming http.read_body_timeout", err)
	}
	// The server closes the connection: reading ends (after any answer)
	// instead of waiting for the rest of the body.
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading the connection: %v", err)
	}
}

// TestSlowBodyIsCutOffWhenClosedUnread: a handler that closes the body
// without reading it has net/http drain it, and the drain is bounded too.
func TestSlowBodyIsCutOffWhenClosedUnread(t *testing.T) {
	s := NewServer(nil, nil)
	s.SetTimeouts(Timeouts{ReadHeader: time.Second, ReadBody: 100 * time.Millisecond})
	closeErr := make(chan error, 1)
	s.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		closeErr <- r.Body.Close()
	})
	addr, _, _ := startRun(t, s, time.Second)
	trickle(t, addr)
	var ne net.Error
	if err := <-closeErr; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("closing the trickled body: %v, want a timeout", err)
	}
}

// TestBodyDeadlineLeavesTheHandlerAlone: once the body is read, or when
// there is none, the deadline does not cancel a handler that takes longer.
func TestBodyDeadlineLeavesTheHandlerAlone(t *testing.T) {
	const body = 20 * time.Millisecond
	s := NewServer(nil, nil)
	s.SetTimeouts(Timeouts{ReadHeader: time.Second, ReadBody: body})
	s.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			WriteError(w, http.StatusBadRequest, "body", "", err.Error())
			return
		}
		select {
		case <-r.Context().Done():
			WriteError(w, http.StatusServiceUnavailable, "cancelled", "", "request context cancelled")
		case <-time.After(10 * body):
			_, _ = io.WriteString(w, "done")
		}
	})
	addr, _, _ := startRun(t, s, time.Second)
	for _, req := range []func() (*http.Response, error){
		func() (*http.Response, error) { return http.Get("http://" + addr + "/work") },
		func() (*http.Response, error) {
			return http.Post("http://"+addr+"/work", "text/plain", strings.NewReader("small body"))
		},
	} {
		resp, err := req()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "done" {
			t.Errorf("%s: %d %s", resp.Request.Method, resp.StatusCode, b)
		}
	}
}
