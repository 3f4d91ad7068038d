package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	mail "github.com/wneessen/go-mail"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/retry"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Kinds are the outbox kinds the Mailer delivers.
var Kinds = []string{directory.OutboxInvite, directory.OutboxReminder}

// Defaults of Options.
const (
	DefaultMaxAttempts = 10
	DefaultInterval    = 10 * time.Second
	DefaultLease       = 15 * time.Minute
	DefaultBatch       = 20
	DefaultSendTimeout = 30 * time.Second
	// DefaultUndeliverableEvery is how often, without SMTP configured, a
	// queued message is logged as undeliverable again.
	DefaultUndeliverableEvery = 10 * time.Minute
	firstRetry                = time.Minute
	maxRetry                  = time.Hour
)

// Options configure a Mailer.
type Options struct {
	// SMTPURL is smtp://user:password@host:port (STARTTLS) or smtps://…
	// (TLS); empty: no SMTP configured, messages are logged as
	// undeliverable and stay queued.
	SMTPURL string
	// From is the sender, "Acme <noreply@example.com>". Required with SMTPURL.
	From string
	// PublicURL is the base of the invite links.
	PublicURL string
	// InviteKey derives each message's invite token from its seed (see
	// directory.InviteKey): the directory's key. Required with SMTPURL.
	InviteKey *directory.InviteKey
	// Tenants is asked for the name a mail shows of its tenant (the id
	// when it has none, or the tenant is unknown).
	Tenants Tenants
	// MaxAttempts is how many failed attempts make a message dead.
	MaxAttempts int
	// Interval is the pause between two looks at the outbox when it had
	// nothing more to do.
	Interval time.Duration
	// Lease bounds one attempt: past it, another worker may try the
	// message again. It is raised to at least (Batch+2)×SendTimeout.
	Lease       time.Duration
	Batch       int
	SendTimeout time.Duration
	// UndeliverableEvery: see DefaultUndeliverableEvery.
	UndeliverableEvery time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1); default math/rand/v2.
	Jitter func() float64
	Logger *slog.Logger
	// Registerer receives the metrics; nil: a private registry.
	Registerer prometheus.Registerer
}

// Mailer is the outbox worker that sends invite and reminder emails. Run
// several — in one process or in several replicas — on one store: each
// message is claimed by one of them at a time.
type Mailer struct {
	st     store.Outbox
	opt    Options
	smtp   *smtpServer
	logger *slog.Logger

	emails       *prometheus.CounterVec
	backlog      prometheus.Gauge
	backlogOldes prometheus.Gauge
}

// Result counts what one round did.
type Result struct {
	Sent, Failed, Dead, Undeliverable int
}

// New returns a Mailer over st. It checks the SMTP URL, but does not
// connect: a mail server that is down at start only delays the mail.
func New(st store.Outbox, opt Options) (*Mailer, error) {
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = DefaultSendTimeout
	}
	// A lease must outlast the whole batch it was taken with (a dial and
	// one send per message, each bounded by SendTimeout), or another
	// worker could claim a message this one is still about to send.
	if minLease := time.Duration(opt.Batch+2) * opt.SendTimeout; opt.Lease < minLease {
		opt.Lease = minLease
	}
	if opt.UndeliverableEvery <= 0 {
		opt.UndeliverableEvery = DefaultUndeliverableEvery
	}
	if opt.Now == nil {
		opt.Now = time.Now
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
	m := &Mailer{st: st, opt: opt, logger: opt.Logger}
	if opt.SMTPURL != "" {
		if opt.InviteKey == nil {
			return nil, errors.New("notify: an invite key is required to send invites")
		}
		s, err := parseSMTP(opt.SMTPURL, opt.SendTimeout)
		if err != nil {
			return nil, err
		}
		if _, err := mail.NewClient(s.host, s.opts...); err != nil {
			return nil, fmt.Errorf("smtp.url: %w", err)
		}
		if err := mail.NewMsg().From(opt.From); err != nil {
			return nil, fmt.Errorf("smtp.from: %w", err)
		}
		m.smtp = &s
	}
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_emails_total",
		Help: "Email delivery attempts by outbox kind and result: sent, failed (to be retried), dead (given up), undeliverable (no SMTP configured).",
	}, []string{"kind", "result"})
	m.backlog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rosterd_email_backlog",
		Help: "Invite and reminder emails waiting in the outbox.",
	})
	m.backlogOldes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rosterd_email_backlog_oldest_seconds",
		Help: "Age of the oldest email waiting in the outbox; 0 when none waits.",
	})
	for _, c := range []prometheus.Collector{m.emails, m.backlog, m.backlogOldes} {
		if err := opt.Registerer.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering email metrics: %w", err)
			}
		}
	}
	if m.smtp != nil {
		m.logger.Info("email delivery on", "smtp", m.smtp.display)
	} else {
		m.logger.Warn("email delivery off: no smtp.url configured; invites stay queued until it is")
	}
	return m, nil
}

// Run delivers until ctx ends: a round, then another at once while rounds
// find full batches, else after Interval. Errors of a round (the database
// unreachable) are logged and the next round tries again.
func (m *Mailer) Run(ctx context.Context) {
	for {
		res, err := m.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			m.logger.Error("email delivery round failed", "err", err)
		}
		wait := m.opt.Interval
		if err == nil && m.smtp != nil && res.Sent+res.Failed+res.Dead >= m.opt.Batch {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// RunOnce claims the messages due now (one batch) and delivers them.
func (m *Mailer) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	defer m.updateBacklog(ctx)
	now := m.opt.Now()
	if m.smtp == nil {
		// No SMTP: the lease alone keeps the message from being logged at
		// every round; nothing about the message changes.
		msgs, err := m.st.ClaimOutbox(ctx, Kinds, now, m.opt.Batch, m.opt.UndeliverableEvery)
		if err != nil {
			return res, err
		}
		for _, msg := range msgs {
			res.Undeliverable++
			m.emails.WithLabelValues(msg.Kind, "undeliverable").Inc()
			m.logger.Warn("email undeliverable: no smtp.url configured; it stays queued", "message", msg.ID, "kind", msg.Kind, "tenant", msg.Tenant, "card", msg.CardID)
		}
		return res, nil
	}
	msgs, err := m.st.ClaimOutbox(ctx, Kinds, now, m.opt.Batch, m.opt.Lease)
	if err != nil || len(msgs) == 0 {
		return res, err
	}

	// One connection for the batch, opened anew after a failed send (the
	// server may have dropped it). A server that cannot be reached fails
	// the rest of the batch, and each message is retried on its own
	// schedule.
	var (
		client  *mail.Client
		dialErr error
	)
	connect := func() {
		if client, dialErr = mail.NewClient(m.smtp.host, m.smtp.opts...); dialErr != nil {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, m.opt.SendTimeout)
		defer cancel()
		if dialErr = client.DialWithContext(dctx); dialErr != nil {
			client = nil
		}
	}
	connect()
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	// The outcome of a send is recorded even when ctx ends meanwhile: a
	// mail that left must not be sent again after a restart.
	wctx := context.WithoutCancel(ctx)
	for i, msg := range msgs {
		if ctx.Err() != nil {
			// Shutting down: hand the rest back now rather than when
			// their lease ends.
			m.release(msgs[i:], now)
			return res, ctx.Err()
		}
		scrubbed, built, buildErr := m.build(msg, now)
		var sendErr error
		switch {
		case errors.Is(buildErr, directory.ErrOtherInviteKey):
			// A link made with this key would not work. A replica with
			// the right key may take the message on a later round; this
			// one retries (saying why) until MaxAttempts.
			sendErr = buildErr
		case buildErr != nil:
			// A payload that cannot become a mail never will: give up now.
			res.Dead++
			m.giveUp(wctx, msg, msg.Attempts+1, buildErr, scrubbed, now)
			continue
		case dialErr != nil:
			sendErr = fmt.Errorf("connecting to %s: %w", m.smtp.display, dialErr)
		default:
			if sendErr = client.Send(built); sendErr != nil {
				_ = client.Close()
				connect()
			}
		}
		if sendErr == nil {
			res.Sent++
			m.emails.WithLabelValues(msg.Kind, "sent").Inc()
			m.logger.Info("email sent", "message", msg.ID, "kind", msg.Kind, "tenant", msg.Tenant, "card", msg.CardID, "attempt", msg.Attempts+1)
			if err := m.st.MarkOutboxSent(wctx, msg.ID, m.opt.Now(), scrubbed); err != nil {
				// The lease runs out and the message goes again: at least
				// once, never lost.
				m.logger.Error("email sent but not marked sent; it will be sent again", "message", msg.ID, "err", err)
			}
			continue
		}
		attempts := msg.Attempts + 1
		if attempts >= m.opt.MaxAttempts {
			res.Dead++
			m.giveUp(wctx, msg, attempts, sendErr, scrubbed, now)
			continue
		}
		res.Failed++
		m.emails.WithLabelValues(msg.Kind, "failed").Inc()
		next := now.Add(m.backoff(attempts))
		m.logger.Warn("email not sent; will retry", "message", msg.ID, "kind", msg.Kind, "tenant", msg.Tenant, "card", msg.CardID,
			"attempt", attempts, "next_attempt", next, "err", redact(sendErr.Error()))
		if err := m.st.MarkOutboxRetry(wctx, msg.ID, attempts, next, redact(sendErr.Error())); err != nil {
			m.logger.Error("rescheduling email", "message", msg.ID, "err", err)
		}
	}
	return res, nil
}

// release returns claimed messages unattempted: due at once, as they were.
func (m *Mailer) release(msgs []store.ClaimedMessage, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, msg := range msgs {
		if err := m.st.MarkOutboxRetry(ctx, msg.ID, msg.Attempts, now, msg.LastError); err != nil {
			m.logger.Warn("releasing an email at shutdown; it waits for its lease to end", "message", msg.ID, "err", err)
		}
	}
}

// giveUp marks a message dead and audits it.
func (m *Mailer) giveUp(ctx context.Context, msg store.ClaimedMessage, attempts int, cause error, scrubbed []byte, now time.Time) {
	m.emails.WithLabelValues(msg.Kind, "dead").Inc()
	why := redact(cause.Error())
	m.logger.Error("email given up", "message", msg.ID, "kind", msg.Kind, "tenant", msg.Tenant, "card", msg.CardID, "attempts", attempts, "err", why)
	if err := m.st.MarkOutboxDead(ctx, msg.ID, attempts, why, scrubbed); err != nil {
		m.logger.Error("marking email dead", "message", msg.ID, "err", err)
		return
	}
	err := m.st.AppendAudit(ctx, []store.AuditEvent{{Tenant: msg.Tenant, CardID: msg.CardID, At: now, Actor: "notify", Source: "notify",
		Action: "email.dead", Detail: fmt.Sprintf("%s message %d given up after %d attempts: %s", msg.Kind, msg.ID, attempts, why)}})
	if err != nil {
		m.logger.Error("auditing a dead email", "message", msg.ID, "err", err)
	}
}

// backoff is the wait after the n-th failed attempt: 1m, 2m, 4m … at most
// 1h, shortened by up to a fifth at random.
func (m *Mailer) backoff(n int) time.Duration {
	return retry.Backoff(n, firstRetry, maxRetry, m.opt.Jitter())
}

// build turns an outbox row into a mail, and returns the payload to keep
// once the row is done with: the same without its seed (and without the
// token a row of an older version carries).
func (m *Mailer) build(msg store.ClaimedMessage, now time.Time) (scrubbed []byte, out *mail.Msg, err error) {
	var in directory.InviteMessage
	if err := json.Unmarshal(msg.Payload, &in); err != nil {
		return nil, nil, fmt.Errorf("payload is not an invite message: %w", err)
	}
	blank := in
	blank.Token, blank.Seed = "", ""
	scrubbed, err = json.Marshal(blank)
	if err != nil {
		return nil, nil, err
	}
	token, err := m.opt.InviteKey.Token(msg.Tenant, in)
	if err != nil {
		return scrubbed, nil, err
	}
	name := ""
	if m.opt.Tenants != nil {
		if t, ok := tenantOf(m.opt.Tenants, msg.Tenant); ok {
			name = t.Name()
		}
	}
	if name == "" {
		name = msg.Tenant
	}
	data := inviteData{
		TenantName: name,
		Link:       InviteLink(m.opt.PublicURL, msg.Tenant, token),
		Expires:    in.ExpiresAt.UTC().Format("Monday, 2 January 2006, 15:04 MST"),
		Reminder:   msg.Kind == directory.OutboxReminder,
	}
	text, html, err := data.render()
	if err != nil {
		return scrubbed, nil, fmt.Errorf("rendering the mail: %w", err)
	}
	out = mail.NewMsg()
	if err := out.From(m.opt.From); err != nil {
		return scrubbed, nil, fmt.Errorf("smtp.from: %w", err)
	}
	if err := out.To(in.Email); err != nil {
		return scrubbed, nil, errors.New("the card's email is not a valid address")
	}
	out.Subject(data.subject())
	out.SetDateWithValue(now)
	out.SetMessageID()
	out.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	out.SetBodyString(mail.TypeTextPlain, text)
	out.AddAlternativeString(mail.TypeTextHTML, html)
	return scrubbed, out, nil
}

// InviteLink is the link an invite mail carries.
func InviteLink(publicURL, tenant, token string) string {
	return strings.TrimRight(publicURL, "/") + "/invite/" + url.PathEscape(tenant) + "/" + url.PathEscape(token)
}

func (m *Mailer) updateBacklog(ctx context.Context) {
	n, oldest, err := m.st.OutboxBacklog(ctx, Kinds)
	if err != nil {
		return
	}
	m.backlog.Set(float64(n))
	if oldest.IsZero() {
		m.backlogOldes.Set(0)
	} else {
		m.backlogOldes.Set(max(0, m.opt.Now().Sub(oldest).Seconds()))
	}
}

// emailLike matches what looks like an address, for redact.
var emailLike = regexp.MustCompile(`[^\s<>"'():;,]+@[^\s<>"'():;,]+`)

// redact removes addresses from an SMTP error (servers quote the
// recipient: "550 5.1.1 <ann@example.com>: user unknown") before it goes
// to a log, an audit line or the outbox row.
func redact(s string) string {
	return emailLike.ReplaceAllString(s, "<address>")
}

// tenantOf is the live tenant of a queued mail.
func tenantOf(ts Tenants, id string) (*tenant.Tenant, bool) {
	t, err := ts.Get(context.Background(), id)
	return t, err == nil
}
