// Package webhook is the push side of the change feed: signed webhooks.
//
// One Dispatcher serves one configured endpoint (config webhooks[]). Its id
// is the hex of the first 8 bytes of the SHA-256 of its URL: logs, metrics,
// stored cursors and delivery records name the endpoint by it, never by the
// URL (which may carry a token).
//
// Delivery, in short:
//
//   - Safe with several replicas: a Dispatcher delivers only while it holds
//     the store's named lock "webhook:<id>" (an advisory lock on
//     PostgreSQL, held on a connection of its own; in-process on SQLite,
//     where one process serves the file). The others wait and try the lock
//     again every Interval, so one replica delivers per endpoint, and
//     another takes over when it stops. Known limit: should the lock's
//     PostgreSQL connection break, the lock is gone without the holder
//     learning of it, and for a while two replicas may deliver the same
//     batches (duplicates; receivers deduplicate by id).
//   - It follows each of its tenants' feeds (store.Events.EventsAfter) from
//     a cursor stored per (endpoint, tenant). A fresh endpoint starts at the
//     beginning of what retention kept. A batch is up to Batch (100) events
//     of one tenant, POSTed as {"events":[…]}, each event in the shape of
//     GET /api/v1/tenants/{t}/events (id, cursor, type, tenant, card_id, at,
//     actor, source, data).
//   - Headers: Content-Type: application/json; Rosterd-Event-Ids: 12,13,14;
//     Rosterd-Timestamp: unix seconds of the attempt; Rosterd-Signature:
//     v1=<hex HMAC-SHA256(secret, timestamp + "." + body)> (left out when
//     the endpoint has no secret). Each attempt is signed anew.
//   - The cursor moves past a batch only after a 2xx: at least once, in
//     order per tenant and so per card. Receivers deduplicate by event id.
//     A replica that dies after the 2xx but before storing the cursor
//     sends the batch again.
//   - 5xx, 408, 429, timeouts and connection errors are retried after 1s,
//     2s, 4s … at most MaxRetry (5m), each shortened by up to a fifth at
//     random, until the batch's oldest event is older than MaxAge (24h);
//     then the batch is recorded failed and skipped. Any other status (a
//     4xx, a 3xx) is tried ClientErrorAttempts (3) times, then recorded
//     failed and skipped. A tenant waiting for a retry does not hold up the
//     endpoint's other tenants.
//   - A batch that needed a second attempt gets a delivery record
//     (store.WebhookDelivery): pending while it is retried, then delivered
//     or failed, with its event ids and cursors, attempts, last status and
//     error. Batches delivered at the first attempt leave no record, only
//     the cursor; records are pruned after Keep (the event retention), so
//     the table stays bounded. GET …/webhooks/deliveries?status=failed
//     lists them; the events of a failed batch can be read again from the
//     pull feed.
//   - A cursor older than retention (the endpoint was down longer than
//     events are kept) is recorded as a failed delivery without event ids,
//     and the endpoint starts again at the oldest event kept.
//   - Metrics: rosterd_webhook_deliveries_total{endpoint,result} (result:
//     delivered, retry, failed), rosterd_webhook_backlog_events{endpoint}
//     (events after the cursors, counted up to 10,000 per tenant), and
//     rosterd_webhook_oldest_undelivered_seconds{endpoint}.
//
// It never logs a URL, an address, a name or a body: endpoint ids, tenant
// ids, event ids and counts only.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/internal/retry"
	"github.com/rosterd/rosterd/store"
)

// Defaults of Options.
const (
	DefaultBatch               = 100
	DefaultMaxAge              = 24 * time.Hour
	DefaultClientErrorAttempts = 3
	DefaultFirstRetry          = time.Second
	DefaultMaxRetry            = 5 * time.Minute
	DefaultInterval            = time.Second
	DefaultTimeout             = 10 * time.Second
	DefaultKeep                = 30 * 24 * time.Hour
	backlogCap                 = 10000
)

// Header names of a delivery.
const (
	HeaderEventIDs  = "Rosterd-Event-Ids"
	HeaderTimestamp = "Rosterd-Timestamp"
	HeaderSignature = "Rosterd-Signature"
)

// Store is what a Dispatcher needs of the store.
type Store interface {
	store.Webhooks
	EventsAfter(ctx context.Context, tenant string, after store.EventCursor, limit int) ([]store.Event, error)
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}

// Options configure a Dispatcher.
type Options struct {
	// URL is the endpoint; Secret signs the deliveries ("" unsigned).
	URL    string
	Secret string
	// ID names the endpoint in its cursors, delivery records, lock and
	// metrics; default EndpointID(URL). An endpoint the admin API made
	// has an id of its own, which its URL can change under.
	ID string
	// Tenants whose events go to the endpoint (config: all when left out;
	// the caller resolves that).
	Tenants []string
	// AllTenants, when set, lists every tenant now (the tenant registry's
	// ids); each round takes in the tenants it lists beyond Tenants, so
	// that a tenant created while the daemon runs gets its events.
	AllTenants func() []string
	// Batch is the most events of one POST.
	Batch int
	// MaxAge: a batch failing with a retryable error is given up once its
	// oldest event is older than this.
	MaxAge time.Duration
	// ClientErrorAttempts: a batch answered with another 4xx is given up
	// after this many attempts.
	ClientErrorAttempts int
	// FirstRetry and MaxRetry bound the backoff.
	FirstRetry, MaxRetry time.Duration
	// Interval is the pause between looks at the feed when it had nothing
	// new, and between tries of the lock.
	Interval time.Duration
	// Timeout bounds one POST.
	Timeout time.Duration
	// Keep is how long delivery records are kept.
	Keep   time.Duration
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; default a timer. Tests inject one
	// that moves their clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); default math/rand/v2.
	Jitter func() float64
	Logger *slog.Logger
	// Registerer receives the metrics; nil: a private registry.
	Registerer prometheus.Registerer
}

// Dispatcher delivers one endpoint's events.
type Dispatcher struct {
	st     Store
	opt    Options
	id     string
	logger *slog.Logger

	deliveries *prometheus.CounterVec
	backlog    *prometheus.GaugeVec
	oldest     *prometheus.GaugeVec

	states     []*tenantState
	lastGauges time.Time
	lastPrune  time.Time
}

// tenantState is a tenant's position for the endpoint and its batch in
// flight.
type tenantState struct {
	tenant   string
	cursor   store.EventCursor
	batch    []store.Event
	body     []byte
	ids      string
	attempts int
	next     time.Time
	rec      store.WebhookDelivery
}

// EndpointID is the id of an endpoint URL: hex of the first 8 bytes of its
// SHA-256.
func EndpointID(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:8])
}

// Sign returns the Rosterd-Signature value of a body sent at timestamp.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's signature header against its timestamp header
// and body, and that the timestamp is within tolerance of now (0: any age).
// Receivers written in Go may use it.
func Verify(secret, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return errors.New("webhook: timestamp outside tolerance")
		}
	}
	want := Sign(secret, ts, body)
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: signature mismatch")
}

// New returns a Dispatcher; it does nothing until Run.
func New(st Store, opt Options) (*Dispatcher, error) {
	u, err := url.Parse(opt.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: url must be an absolute http(s) URL")
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = DefaultMaxAge
	}
	if opt.ClientErrorAttempts <= 0 {
		opt.ClientErrorAttempts = DefaultClientErrorAttempts
	}
	if opt.FirstRetry <= 0 {
		opt.FirstRetry = DefaultFirstRetry
	}
	if opt.MaxRetry <= 0 {
		opt.MaxRetry = DefaultMaxRetry
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Keep <= 0 {
		opt.Keep = DefaultKeep
	}
	if opt.Client == nil {
		opt.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	if opt.Jitter == nil {
		opt.Jitter = rand.Float64
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	if opt.ID == "" {
		opt.ID = EndpointID(opt.URL)
	}
	d := &Dispatcher{st: st, opt: opt, id: opt.ID}
	d.logger = opt.Logger.With("endpoint", d.id)
	d.deliveries = register(opt.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_webhook_deliveries_total",
		Help: "Webhook delivery attempts by endpoint id and result: delivered, retry (failed, to be tried again), failed (given up and skipped).",
	}, []string{"endpoint", "result"}))
	d.backlog = register(opt.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rosterd_webhook_backlog_events",
		Help: "Events not yet delivered to the endpoint (counted up to 10000 per tenant).",
	}, []string{"endpoint"}))
	d.oldest = register(opt.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rosterd_webhook_oldest_undelivered_seconds",
		Help: "Age of the oldest event not yet delivered to the endpoint; 0 when none waits.",
	}, []string{"endpoint"}))
	for _, t := range opt.Tenants {
		d.states = append(d.states, &tenantState{tenant: t})
	}
	return d, nil
}

// register registers c, or returns the collector already registered under
// its name (one per endpoint shares the metric).
func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ID is the endpoint's id.
func (d *Dispatcher) ID() string { return d.id }

// Run delivers until ctx ends, while it holds the endpoint's lock; without
// it, it tries again every Interval.
func (d *Dispatcher) Run(ctx context.Context) {
	host := ""
	if u, err := url.Parse(d.opt.URL); err == nil {
		host = u.Hostname()
	}
	d.logger.Info("webhook endpoint configured", "host", host, "tenants", len(d.states), "signed", d.opt.Secret != "")
	for ctx.Err() == nil {
		release, ok, err := d.st.TryLock(ctx, "webhook:"+d.id)
		if err != nil && ctx.Err() == nil {
			d.logger.Error("taking the webhook lock", "err", err)
		}
		if ok {
			d.logger.Info("delivering webhooks (this replica holds the endpoint's lock)")
			d.runLocked(ctx)
			release()
		}
		_ = d.opt.Sleep(ctx, d.opt.Interval)
	}
}

// runLocked delivers while ctx lasts; the caller holds the lock.
func (d *Dispatcher) runLocked(ctx context.Context) {
	if err := d.load(ctx); err != nil {
		if ctx.Err() == nil {
			d.logger.Error("reading webhook cursors", "err", err)
		}
		return
	}
	for ctx.Err() == nil {
		wait, err := d.Step(ctx)
		if err != nil && ctx.Err() == nil {
			d.logger.Error("webhook round failed", "err", err)
			wait = d.opt.Interval
		}
		if d.opt.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// addTenants takes in the tenants AllTenants lists that the endpoint has
// no state for yet, each from its stored cursor.
func (d *Dispatcher) addTenants(ctx context.Context) error {
	if d.opt.AllTenants == nil {
		return nil
	}
	for _, t := range d.opt.AllTenants() {
		if slices.ContainsFunc(d.states, func(s *tenantState) bool { return s.tenant == t }) {
			continue
		}
		c, err := d.st.WebhookCursor(ctx, d.id, t)
		if err != nil {
			return err
		}
		d.states = append(d.states, &tenantState{tenant: t, cursor: c})
	}
	return nil
}

// load reads the stored cursors and forgets any batch in flight.
func (d *Dispatcher) load(ctx context.Context) error {
	for _, s := range d.states {
		c, err := d.st.WebhookCursor(ctx, d.id, s.tenant)
		if err != nil {
			return err
		}
		*s = tenantState{tenant: s.tenant, cursor: c}
	}
	return nil
}

// Step is one round: for each tenant, read a batch if none is in flight
// and attempt it if it is due. It returns how long to wait before the
// next round. Run calls it under the lock; tests may call it directly
// (after Load), in which case the lock is theirs to mind.
func (d *Dispatcher) Step(ctx context.Context) (time.Duration, error) {
	now := d.opt.Now()
	wait := d.opt.Interval
	var firstErr error
	if err := d.addTenants(ctx); err != nil {
		return wait, err
	}
	for _, s := range d.states {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if s.batch == nil {
			if err := d.read(ctx, s, now); err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			if s.batch == nil {
				continue
			}
		}
		if s.next.After(now) {
			wait = min(wait, s.next.Sub(now))
			continue
		}
		full := len(s.batch) == d.opt.Batch
		if err := d.attempt(ctx, s); err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		switch {
		case s.batch == nil && full:
			wait = 0 // more may wait right behind
		case s.batch == nil:
			wait = min(wait, d.opt.Interval)
		default:
			wait = min(wait, max(0, s.next.Sub(d.opt.Now())))
		}
	}
	d.gauges(ctx)
	d.prune(ctx)
	return wait, firstErr
}

// Load reads the stored cursors (Run does, once it holds the lock).
func (d *Dispatcher) Load(ctx context.Context) error { return d.load(ctx) }

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// read fetches the tenant's next batch, if any.
func (d *Dispatcher) read(ctx context.Context, s *tenantState, now time.Time) error {
	events, err := d.st.EventsAfter(ctx, s.tenant, s.cursor, d.opt.Batch)
	if errors.Is(err, store.ErrGone) {
		d.logger.Error("webhook cursor older than the events kept; starting again at the oldest kept", "tenant", s.tenant, "cursor", s.cursor.String())
		d.deliveries.WithLabelValues(d.id, "failed").Inc()
		if _, err := d.st.RecordWebhookDelivery(ctx, store.WebhookDelivery{Endpoint: d.id, Tenant: s.tenant, First: s.cursor, Last: s.cursor,
			Status: store.WebhookFailed, LastError: "events after cursor " + s.cursor.String() + " were pruned before delivery",
			FirstAttempt: now, LastAttempt: now}); err != nil {
			return err
		}
		s.cursor = store.EventCursor{}
		return d.st.SetWebhookCursor(ctx, d.id, s.tenant, s.cursor, now)
	}
	if err != nil || len(events) == 0 {
		return err
	}
	body, err := Body(events)
	if err != nil {
		return err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = strconv.FormatInt(e.ID, 10)
	}
	*s = tenantState{tenant: s.tenant, cursor: s.cursor, batch: events, body: body, ids: strings.Join(ids, ","), next: now}
	return nil
}

// Event is one event as the pull feed hands it out and a delivery carries
// it. ID identifies the event, to deduplicate (deliveries are at least
// once); Data is the card after the change, what changed, and the reason.
type Event struct {
	ID     int64           `json:"id"`
	Cursor string          `json:"cursor"`
	Type   string          `json:"type"`
	Tenant string          `json:"tenant"`
	CardID string          `json:"card_id"`
	At     string          `json:"at"`
	Actor  string          `json:"actor,omitempty"`
	Source string          `json:"source,omitempty"`
	Data   json.RawMessage `json:"data"`
}

// Payload is a delivery's body.
type Payload struct {
	Events []Event `json:"events"`
}

// Wire is events as both the pull feed (GET …/events) and deliveries
// carry them; never nil.
func Wire(events []store.Event) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		data := json.RawMessage(e.Data)
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		out[i] = Event{ID: e.ID, Cursor: e.Cursor.String(), Type: e.Type, Tenant: e.Tenant, CardID: e.CardID,
			At: e.At.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), Actor: e.Actor, Source: e.Source, Data: data}
	}
	return out
}

// Body is the JSON body of a delivery of these events.
func Body(events []store.Event) ([]byte, error) {
	return json.Marshal(Payload{Events: Wire(events)})
}

// attempt POSTs the tenant's batch once and records the outcome. It
// returns an error only for the store; a failed POST is an outcome.
func (d *Dispatcher) attempt(ctx context.Context, s *tenantState) error {
	// A POST once begun is finished and recorded even while the
	// dispatcher stops: cut off half-way, the receiver may already hold
	// the batch, and the next holder of the lock would send it again.
	// Options.Timeout bounds how long a stop waits for it.
	ctx = context.WithoutCancel(ctx)
	now := d.opt.Now()
	status, postErr := d.post(ctx, s, now)
	s.attempts++
	first, last := s.batch[0], s.batch[len(s.batch)-1]
	if postErr == nil && status/100 == 2 {
		d.deliveries.WithLabelValues(d.id, "delivered").Inc()
		d.logger.Debug("webhook delivered", "tenant", s.tenant, "events", len(s.batch), "first", first.ID, "last", last.ID, "attempt", s.attempts)
		err := d.advance(ctx, s, now)
		if s.rec.ID != 0 {
			s.rec.Status, s.rec.Attempts, s.rec.LastStatus, s.rec.LastError, s.rec.LastAttempt = store.WebhookDelivered, s.attempts, status, "", now
			if _, rerr := d.st.RecordWebhookDelivery(ctx, s.rec); rerr != nil {
				err = cmpErr(err, rerr)
			}
		}
		s.batch, s.body, s.rec = nil, nil, store.WebhookDelivery{}
		return err
	}
	why := ""
	if postErr != nil {
		why = postErr.Error()
	} else {
		why = fmt.Sprintf("HTTP %d", status)
	}
	retryable := postErr != nil || status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
	giveUp := false
	if retryable {
		giveUp = now.Sub(first.At) > d.opt.MaxAge
	} else {
		giveUp = s.attempts >= d.opt.ClientErrorAttempts
	}
	if s.rec.ID == 0 {
		s.rec = store.WebhookDelivery{Endpoint: d.id, Tenant: s.tenant, EventIDs: eventIDs(s.batch), First: first.Cursor, Last: last.Cursor,
			FirstAttempt: now}
	}
	s.rec.Attempts, s.rec.LastStatus, s.rec.LastError, s.rec.LastAttempt = s.attempts, status, why, now
	if giveUp {
		s.rec.Status = store.WebhookFailed
		d.deliveries.WithLabelValues(d.id, "failed").Inc()
		d.logger.Error("webhook delivery given up; the batch is skipped", "tenant", s.tenant, "events", len(s.batch),
			"first", first.ID, "last", last.ID, "attempts", s.attempts, "status", status, "err", why)
	} else {
		s.rec.Status = store.WebhookPending
		s.next = now.Add(d.backoff(s.attempts))
		d.deliveries.WithLabelValues(d.id, "retry").Inc()
		d.logger.Warn("webhook delivery failed; will retry", "tenant", s.tenant, "events", len(s.batch),
			"first", first.ID, "last", last.ID, "attempt", s.attempts, "status", status, "next_attempt", s.next, "err", why)
	}
	id, err := d.st.RecordWebhookDelivery(ctx, s.rec)
	if err == nil {
		s.rec.ID = id
	}
	if giveUp {
		err = cmpErr(err, d.advance(ctx, s, now))
		s.batch, s.body, s.rec = nil, nil, store.WebhookDelivery{}
	}
	return err
}

// advance moves the tenant's cursor past its batch, in memory at once and
// in the store (a failure there means the batch goes again after a
// restart: at least once).
func (d *Dispatcher) advance(ctx context.Context, s *tenantState, now time.Time) error {
	s.cursor = s.batch[len(s.batch)-1].Cursor
	return d.st.SetWebhookCursor(context.WithoutCancel(ctx), d.id, s.tenant, s.cursor, now)
}

func eventIDs(events []store.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// post sends the batch and returns the response's status.
func (d *Dispatcher) post(ctx context.Context, s *tenantState, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.opt.URL, bytes.NewReader(s.body))
	if err != nil {
		return 0, err
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rosterd-webhook")
	req.Header.Set(HeaderEventIDs, s.ids)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if d.opt.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(d.opt.Secret, ts, s.body))
	}
	resp, err := d.opt.Client.Do(req)
	if err != nil {
		// A *url.Error names the URL; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return 0, errors.New("timeout")
			}
			return 0, ue.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// backoff is the wait after the n-th failed attempt: FirstRetry doubled
// n-1 times, at most MaxRetry, shortened by up to a fifth at random.
func (d *Dispatcher) backoff(n int) time.Duration {
	return retry.Backoff(n, d.opt.FirstRetry, d.opt.MaxRetry, d.opt.Jitter())
}

// gauges refreshes the backlog gauges, at most once a second.
func (d *Dispatcher) gauges(ctx context.Context) {
	now := d.opt.Now()
	if !d.lastGauges.IsZero() && now.Sub(d.lastGauges) < time.Second && now.After(d.lastGauges) {
		return
	}
	d.lastGauges = now
	total := 0
	var oldest time.Time
	for _, s := range d.states {
		n, err := d.st.CountEventsAfter(ctx, s.tenant, s.cursor, backlogCap)
		if err != nil {
			return
		}
		total += n
		if len(s.batch) > 0 && (oldest.IsZero() || s.batch[0].At.Before(oldest)) {
			oldest = s.batch[0].At
		}
	}
	d.backlog.WithLabelValues(d.id).Set(float64(total))
	if oldest.IsZero() || total == 0 {
		d.oldest.WithLabelValues(d.id).Set(0)
	} else {
		d.oldest.WithLabelValues(d.id).Set(max(0, now.Sub(oldest).Seconds()))
	}
}

// prune deletes delivery records older than Keep, hourly.
func (d *Dispatcher) prune(ctx context.Context) {
	now := d.opt.Now()
	if !d.lastPrune.IsZero() && now.Sub(d.lastPrune) < time.Hour {
		return
	}
	d.lastPrune = now
	if n, err := d.st.PruneWebhookDeliveries(ctx, now.Add(-d.opt.Keep)); err != nil {
		d.logger.Warn("pruning webhook delivery records", "err", err)
	} else if n > 0 {
		d.logger.Info("pruned webhook delivery records", "records", n)
	}
}
