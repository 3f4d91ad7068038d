package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readinessTimeout bounds each readiness check, so that a store that hangs
// makes /readyz answer 503 instead of making the load balancer's probe hang.
const readinessTimeout = 2 * time.Second

// unmatchedRoute is the route label of requests that reached no registered
// pattern (404, 405, the mux's redirects). Raw paths never become labels.
const unmatchedRoute = "unmatched"

// Check is one readiness condition, such as "the store answers and its schema
// is current". Fn must honour ctx; a check that does not is abandoned at the
// timeout and reported as "timeout", but its goroutine lives on until it returns.
// The error's message is shown in /readyz, so it should say what to do.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Server is the HTTP surface every rosterd channel is mounted on. Build it
// with NewServer, register routes with Handle, and serve it with Run (or mount
// Handler yourself, as tests do).
type Server struct {
	logger *slog.Logger
	mux    *http.ServeMux

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   *prometheus.CounterVec

	checkTimeout time.Duration // readinessTimeout; tests shorten it
	timeouts     Timeouts      // see SetTimeouts
	mu           sync.Mutex
	checks       []Check
	notReady     atomic.Bool // last /readyz answer, to log changes only

	shuttingDown atomic.Bool
}

// NewServer returns a Server whose metrics live in reg; a nil reg gets a
// fresh registry, a nil logger discards. It registers the request metrics and
// the Go and process collectors in reg, and the routes GET /healthz,
// GET /readyz and GET /metrics.
//
// Several Servers may share one registry (they then share the metric series).
func NewServer(logger *slog.Logger, reg *prometheus.Registry) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{
		logger:       logger,
		mux:          http.NewServeMux(),
		checkTimeout: readinessTimeout,
		timeouts:     Timeouts{ReadHeader: DefaultReadHeaderTimeout, ReadBody: DefaultReadBodyTimeout},
	}
	s.requests = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_http_requests_total",
		Help: "HTTP requests answered, by registered route pattern, method and status code.",
	}, []string{"route", "method", "code"}))
	s.duration = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rosterd_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by registered route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"}))
	s.panics = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_http_panics_total",
		Help: "HTTP handlers that panicked, by registered route pattern.",
	}, []string{"route"}))
	// The caller may have registered these already, possibly with other
	// options; either way they are exposed, so a conflict is not an error.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.handle("GET /healthz", http.HandlerFunc(s.serveHealthz), true)
	s.handle("GET /readyz", http.HandlerFunc(s.serveReadyz), true)
	s.handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}), true)
	return s
}

// register adds c to reg, or returns the equal collector registered before.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("daemon: registering HTTP metrics: %v", err))
}

// Handle registers h for pattern, a net/http.ServeMux pattern such as
// "GET /api/v1/tenants/{t}/cards" or "/scim/{tenant}/v2/". The pattern itself,
// exactly as given, is the route label of the metrics and the request log.
// Like ServeMux.Handle, it panics on an invalid or conflicting pattern.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.handle(pattern, h, false)
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	if h == nil {
		panic("daemon: nil handler for pattern " + pattern)
	}
	s.handle(pattern, http.HandlerFunc(h), false)
}

func (s *Server) handle(pattern string, h http.Handler, quiet bool) {
	if h == nil {
		panic("daemon: nil handler for pattern " + pattern)
	}
	s.mux.Handle(pattern, routeMarker{pattern: pattern, quiet: quiet, next: h})
}

// AddReadinessCheck adds a check that /readyz runs. It panics on an empty
// name, a nil Fn or a name added before: those are wiring mistakes.
func (s *Server) AddReadinessCheck(c Check) {
	if c.Name == "" || c.Fn == nil {
		panic("daemon: readiness check needs a name and a function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.checks, func(o Check) bool { return o.Name == c.Name }) {
		panic(fmt.Sprintf("daemon: readiness check %q added twice", c.Name))
	}
	s.checks = append(s.checks, c)
}

// Handler returns the whole HTTP surface: every registered route wrapped in
// metrics, the request log and panic recovery, plus /healthz, /readyz,
// /metrics, and JSON bodies for the mux's own 404 and 405 answers.
// Routes registered after the call are served too.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// requestState is what the outer handler learns from the inner ones: which
// pattern matched. The mux also sets Request.Pattern, but on its own copy of
// the request only when no middleware in between clones it; this is explicit.
type requestState struct {
	route string // empty: no registered pattern matched
	quiet bool   // probe and scrape routes log at debug
}

type stateKey struct{}

// routeMarker records which pattern matched before calling the handler.
type routeMarker struct {
	pattern string
	quiet   bool
	next    http.Handler
}

func (m routeMarker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		st.route = m.pattern
		st.quiet = m.quiet
	}
	m.next.ServeHTTP(w, r)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &requestState{}
	rec := &responseRecorder{w: w, state: st}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	s.limitBodyRead(w, r)

	defer func() {
		v := recover()
		// http.ErrAbortHandler is a handler's deliberate way to cut the
		// connection; it is not a bug, so it is neither logged nor counted.
		aborted := v != nil && v == http.ErrAbortHandler
		if v != nil && !aborted {
			route := routeLabel(st)
			s.panics.WithLabelValues(route).Inc()
			s.logger.LogAttrs(r.Context(), slog.LevelError, "http handler panicked",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())),
			)
			if rec.wroteHeader {
				// Part of a response is out; finishing it normally would hand
				// the client a truncated body that looks complete.
				aborted = true
			} else {
				// Headers the handler set for its own answer (a CSV
				// filename, an ETag) do not belong on the error.
				clear(rec.Header())
				WriteError(rec, http.StatusInternalServerError, "internal", "", "internal server error")
			}
		}
		s.observe(r, st, rec, time.Since(start), aborted)
		if aborted {
			panic(http.ErrAbortHandler)
		}
	}()

	s.mux.ServeHTTP(rec, r)
}

// observe records the metrics and writes the request log line. It logs what
// identifies the request and its outcome only: never the path's values, the
// query string (it may carry login codes or emails), headers or the body.
func (s *Server) observe(r *http.Request, st *requestState, rec *responseRecorder, d time.Duration, aborted bool) {
	route := routeLabel(st)
	method := methodLabel(r.Method)
	status := rec.status
	if !rec.wroteHeader {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	code := strconv.Itoa(status)
	if aborted && !rec.wroteHeader {
		status, code = 0, "aborted"
	}
	s.requests.WithLabelValues(route, method, code).Inc()
	s.duration.WithLabelValues(route, method).Observe(d.Seconds())

	level := slog.LevelInfo
	if st.quiet {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", r.RemoteAddr),
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	s.logger.LogAttrs(r.Context(), level, "http request", attrs...)
}

func routeLabel(st *requestState) string {
	if st.route == "" {
		return unmatchedRoute
	}
	return st.route
}

// methodLabel keeps the method label bounded: a client may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// responseRecorder remembers the status and size of a response, and swaps the
// mux's plain-text 404 and 405 bodies for rosterd's JSON error body.
type responseRecorder struct {
	w           http.ResponseWriter
	state       *requestState
	status      int
	bytes       int64
	wroteHeader bool
	discard     bool // the mux's own body is being replaced
}

func (rw *responseRecorder) Header() http.Header { return rw.w.Header() }

func (rw *responseRecorder) WriteHeader(code int) {
	if rw.wroteHeader || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		// Informational headers, or a superfluous call net/http will warn about.
		rw.w.WriteHeader(code)
		return
	}
	rw.wroteHeader = true
	rw.status = code
	if rw.state.route == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		// Only the mux answers before a route is marked. Its Allow header
		// is already set and stays.
		errCode, msg := "not_found", "no route matches this request"
		if code == http.StatusMethodNotAllowed {
			errCode, msg = "method_not_allowed", "this path does not accept the method; see the Allow header"
		}
		WriteError(countingWriter{rw.w, &rw.bytes}, code, errCode, "", msg)
		rw.discard = true
		return
	}
	rw.w.WriteHeader(code)
}

func (rw *responseRecorder) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.discard {
		return len(p), nil
	}
	n, err := rw.w.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers (CSV exports) flush through the recorder.
func (rw *responseRecorder) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rw.w).Flush()
}

// Unwrap gives http.ResponseController the underlying writer (deadlines, hijacking).
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.w }

type countingWriter struct {
	http.ResponseWriter
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	*c.n += int64(n)
	return n, err
}

func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.shuttingDown.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.shuttingDown.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, readiness{
			Status: "not ready",
			Checks: map[string]string{"shutdown": "shutting down"},
		})
		return
	}

	s.mu.Lock()
	checks := slices.Clone(s.checks)
	s.mu.Unlock()

	results := make([]string, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = s.runCheck(r.Context(), c) })
	}
	wg.Wait()

	answer := readiness{Status: "ready", Checks: make(map[string]string, len(checks))}
	var failing []string
	for i, c := range checks {
		answer.Checks[c.Name] = results[i]
		if results[i] != "ok" {
			failing = append(failing, c.Name+": "+results[i])
		}
	}
	status := http.StatusOK
	if len(failing) > 0 {
		answer.Status, status = "not ready", http.StatusServiceUnavailable
	}

	// Probes poll every few seconds; log only when the answer changes.
	if len(failing) > 0 && !s.notReady.Swap(true) {
		s.logger.Warn("not ready", "failing", strings.Join(failing, "; "))
	} else if len(failing) == 0 && s.notReady.Swap(false) {
		s.logger.Info("ready again")
	}
	WriteJSON(w, status, answer)
}

// runCheck returns "ok", "timeout", or the check's error message. It returns
// by the timeout even if the check ignores its context.
func (s *Server) runCheck(ctx context.Context, c Check) string {
	ctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
	defer cancel()

	done := make(chan error, 1) // buffered: an abandoned check can still finish
	go func() {
		defer func() {
			// A panic here would not reach the request's recovery and
			// would end the process.
			if v := recover(); v != nil {
				s.logger.Error("readiness check panicked", "check", c.Name,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				done <- fmt.Errorf("check panicked: %v", v)
			}
		}()
		done <- c.Fn(ctx)
	}()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// Default timeouts of Timeouts' zero fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadBodyTimeout   = 60 * time.Second
)

// Timeouts bound how long a client may take to send a request, so that a
// slow or stalled client cannot hold a connection (and its goroutine) for
// ever. A zero field takes its default.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// ReadBody bounds reading the body, from the end of the headers. The
	// time a handler takes once it has the body is not bounded by it.
	ReadBody time.Duration
}

// SetTimeouts sets the request read timeouts; call it before Run.
func (s *Server) SetTimeouts(t Timeouts) {
	if t.ReadHeader <= 0 {
		t.ReadHeader = DefaultReadHeaderTimeout
	}
	if t.ReadBody <= 0 {
		t.ReadBody = DefaultReadBodyTimeout
	}
	s.timeouts = t
}

// limitBodyRead puts a read deadline on the connection for the body of r,
// and lifts it when the body has been read to its end or closed (closing
// drains it, under the deadline). Only
// requests with a body get one: once net/http has the whole body it reads
// the connection in the background to notice a client going away, and a
// deadline passing then would cancel the request's context in the middle
// of a long handler.
func (s *Server) limitBodyRead(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(s.timeouts.ReadBody)); err != nil {
		// Not a net/http connection (a test recorder): nothing to bound.
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, limit: s.timeouts.ReadBody}
}

// BodyTimeoutError is the error a handler's read of a request body
// returns when the body did not arrive within the read_body_timeout: it
// names the setting (the socket's "i/o timeout" tells a client nothing)
// and unwraps to the net.Error, whose Timeout is true.
type BodyTimeoutError struct {
	Limit time.Duration
	Err   error
}

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("the request body did not arrive within http.read_body_timeout (%v)", e.Limit)
}

func (e *BodyTimeoutError) Unwrap() error { return e.Err }

// deadlineBody lifts the connection's read deadline once the body is done.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	limit  time.Duration
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.lift()
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		err = &BodyTimeoutError{Limit: b.limit, Err: err}
	}
	return n, err
}

// Close lets net/http drain what is left of the body first, under the
// deadline still, and lifts it after.
func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.lift()
	return err
}

func (b *deadlineBody) lift() {
	if !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
