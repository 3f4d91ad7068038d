package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/notify"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
}

const callback = "https://app.example.com/sso/callback"

// env is one test's world: a store, the directory over it, the invite page
// on an HTTP server, and a clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Backend
	clock *testenv.Clock
	svc   *directory.Service
	web   *httptest.Server
	codes notify.StoreLoginCodes
	// tenants is the registry the page and the mails ask.
	tenants *tenant.Registry
	// minted counts the login codes the invite page minted.
	minted atomic.Int32
}

// countingCodes counts what the invite page mints.
type countingCodes struct {
	notify.StoreLoginCodes
	n *atomic.Int32
}

func (c countingCodes) MintLoginCode(ctx context.Context, tenant, cardID string) (string, error) {
	c.n.Add(1)
	return c.StoreLoginCodes.MintLoginCode(ctx, tenant, cardID)
}

func migrated(t *testing.T, st store.Backend) store.Backend {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func openSQLite(t *testing.T) store.Backend {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, st)
}

func openPostgres(t *testing.T) store.Backend {
	st, err := postgres.Open(pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, st)
}

func newEnv(t *testing.T, st store.Backend) *env {
	e := &env{t: t, ctx: context.Background(), st: st, clock: newClock()}
	e.svc = directory.NewService(st, map[string]directory.Policy{"acme": directory.DefaultPolicy()}, directory.WithClock(e.clock.Now))
	e.codes = notify.StoreLoginCodes{Dir: e.svc}
	e.tenants = tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme Inc.", AppCallbackURL: callback})
	page, err := notify.NewInvitePage(e.svc, countingCodes{e.codes, &e.minted}, e.tenants, notify.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	page.Mount(mux)
	e.web = httptest.NewServer(mux)
	t.Cleanup(e.web.Close)
	return e
}

func (e *env) mailer(smtpURL string, opt notify.Options) *notify.Mailer {
	e.t.Helper()
	opt.SMTPURL = smtpURL
	if smtpURL != "" {
		opt.From = "Acme <noreply@example.com>"
	}
	opt.PublicURL = e.web.URL
	if opt.InviteKey == nil {
		opt.InviteKey = e.svc.InviteKey()
	}
	opt.Tenants = e.tenants
	opt.Now = e.clock.Now
	if opt.Jitter == nil {
		opt.Jitter = func() float64 { return 0 }
	}
	m, err := notify.New(e.st, opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) invite(email string) directory.Card {
	e.t.Helper()
	out, err := e.svc.Invite(e.ctx, directory.Actor{Name: "admin:ops"}, directory.AdminInput{Tenant: "acme", Email: email})
	if err != nil {
		e.t.Fatalf("Invite(%s): %v", email, err)
	}
	return out.Card
}

// outbox returns the tenant's outbox rows of a card with their payloads.
func (e *env) outbox(cardID string) []store.OutboxMessage {
	e.t.Helper()
	return storetest.OutboxOf(e.t, e.st, "acme", cardID)
}

func (e *env) status(id int64) (string, int) {
	e.t.Helper()
	st, att, _, err := e.st.OutboxStatus(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st, att
}

func (e *env) runOnce(m *notify.Mailer) notify.Result {
	e.t.Helper()
	res, err := m.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
	return res
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+/invite/[^\s<>"]+`)

// get opens a URL without following redirects.
func get(t *testing.T, u string) *http.Response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// accept opens an invite link as a person does: GET the page, then press
// its button (POST the form with its CSRF token and cookie). It returns
// the POST's answer, redirects not followed.
func accept(t *testing.T, link string) *http.Response {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s = %d, want the page with its form:\n%s", link, resp.StatusCode, body)
	}
	resp, err = client.PostForm(link, url.Values{"csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

var csrfRE = regexp.MustCompile(`<input type="hidden" name="csrf" value="([A-Za-z0-9_-]+)">`)

func bodyOf(resp *http.Response) string { b, _ := io.ReadAll(resp.Body); return string(b) }

// TestInviteArrivesWithWorkingLink: an invite made through the directory
// reaches a real SMTP server as a mail with a text and an HTML part naming
// the tenant, the link and the expiry; the link accepts the invite and
// hands the platform a login code; a second visit gets the "ask for a new
// invite" page; the stored row no longer holds the token.
func TestInviteArrivesWithWorkingLink(t *testing.T) {
	smtp := newCapture(t)
	smtp.start()
	e := newEnv(t, openSQLite(t))
	card := e.invite("Ann.Lee@Example.com")
	m := e.mailer(smtp.url(), notify.Options{})

	if res := e.runOnce(m); res.Sent != 1 || res.Failed != 0 {
		t.Fatalf("RunOnce = %+v, want one sent", res)
	}
	msgs := smtp.messages()
	if len(msgs) != 1 {
		t.Fatalf("captured %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.EnvelopeTo != "Ann.Lee@Example.com" || !strings.Contains(got.Header.Get("To"), "Ann.Lee@Example.com") {
		t.Errorf("recipient: envelope %q, To %q", got.EnvelopeTo, got.Header.Get("To"))
	}
	if !strings.Contains(got.Header.Get("From"), "noreply@example.com") {
		t.Errorf("From = %q", got.Header.Get("From"))
	}
	if got.ContentType != "multipart/alternative" || got.Text == "" || got.HTML == "" {
		t.Fatalf("want multipart/alternative with text and HTML parts; got %q, text %d bytes, html %d bytes", got.ContentType, len(got.Text), len(got.HTML))
	}
	if got.Subject != "You are invited to Acme Inc." {
		t.Errorf("Subject = %q", got.Subject)
	}
	expiry := "Friday, 27 November 2026, 09:00 UTC"
	for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
		if !strings.Contains(body, "Acme Inc.") || !strings.Contains(body, expiry) || !strings.Contains(body, e.web.URL+"/invite/acme/") {
			t.Errorf("%s part lacks the tenant name, the expiry %q or the link:\n%s", part, expiry, body)
		}
		if strings.Contains(body, "Reminder") {
			t.Errorf("%s part of an invite speaks of a reminder", part)
		}
	}
	link := linkRE.FindString(got.Text)
	if link == "" || !strings.Contains(got.HTML, `href="`+link+`"`) {
		t.Fatalf("link %q not found in both parts", link)
	}

	// The row is sent and keeps no token.
	rows := e.outbox(card.ID)
	if len(rows) != 1 {
		t.Fatalf("outbox rows of the card = %d", len(rows))
	}
	if st, _ := e.status(rows[0].ID); st != store.OutboxSent {
		t.Errorf("status = %q, want sent", st)
	}
	var payload directory.InviteMessage
	if err := json.Unmarshal(rows[0].Payload, &payload); err != nil || payload.Token != "" || payload.Seed != "" || payload.CardID != card.ID {
		t.Errorf("stored payload = %s (%v); want the seed blanked, the rest kept", rows[0].Payload, err)
	}
	if strings.Contains(string(rows[0].Payload), strings.TrimPrefix(link, e.web.URL+"/invite/acme/")) {
		t.Errorf("stored payload still holds the token")
	}
	if res := e.runOnce(m); res != (notify.Result{}) {
		t.Errorf("second RunOnce = %+v, want nothing to do", res)
	}

	// The link: accepted, on to the platform with a login code.
	e.clock.Advance(time.Hour)
	resp := accept(t, link)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, callback+"?code=rlc_") {
		t.Fatalf("accepting the link = %d, Location %q; want 303 to the app callback with a code", resp.StatusCode, loc)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", resp.Header)
	}
	code := strings.TrimPrefix(loc, callback+"?code=")
	redeemed, err := e.codes.Redeem(e.ctx, code, "acme")
	if err != nil || redeemed.ID != card.ID {
		t.Fatalf("redeeming the code = %+v, %v", redeemed, err)
	}
	if _, err := e.codes.Redeem(e.ctx, code, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeeming the code twice = %v, want ErrNotFound", err)
	}
	after, err := e.st.GetCard(e.ctx, "acme", card.ID)
	if err != nil || after.FirstLoginAt.IsZero() {
		t.Fatalf("card after accepting: %+v, %v; want logged in", after, err)
	}
	if s := directory.StatusOf(after, e.clock.Now()); s != directory.Active {
		t.Errorf("status after accepting = %s, want active", s)
	}

	// A second visit: used.
	resp = get(t, link)
	if body := bodyOf(resp); resp.StatusCode != http.StatusGone || !strings.Contains(body, "Ask your administrator for a new invite") {
		t.Fatalf("second GET = %d %q; want 410 asking for a new invite", resp.StatusCode, body)
	}
	// The tenant-less form and garbage get the same page.
	for _, u := range []string{e.web.URL + "/invite/" + strings.TrimPrefix(link, e.web.URL+"/invite/acme/"), e.web.URL + "/invite/acme/x", e.web.URL + "/invite/other/" + strings.Repeat("a", 43)} {
		if resp := get(t, u); resp.StatusCode != http.StatusGone {
			t.Errorf("GET %s = %d, want 410", u, resp.StatusCode)
		}
	}
}

// TestTenantlessLinkAndReminder: a reminder mail says so and carries a new
// link; the tenant-less form of the link works; the first link, replaced,
// does not.
func TestTenantlessLinkAndReminder(t *testing.T) {
	smtp := newCapture(t)
	smtp.start()
	e := newEnv(t, openSQLite(t))
	card := e.invite("bo@example.com")
	m := e.mailer(smtp.url(), notify.Options{})
	e.runOnce(m)
	e.clock.Advance(25 * time.Hour)
	if _, err := e.svc.Remind(e.ctx, directory.Actor{Name: "admin:ops"}, "acme", card.ID); err != nil {
		t.Fatal(err)
	}
	if res := e.runOnce(m); res.Sent != 1 {
		t.Fatalf("RunOnce = %+v, want the reminder sent", res)
	}
	msgs := smtp.messages()
	if len(msgs) != 2 {
		t.Fatalf("captured %d, want 2", len(msgs))
	}
	rem := msgs[1]
	if !strings.HasPrefix(rem.Subject, "Reminder: ") || !strings.Contains(rem.Text, "Reminder") || !strings.Contains(rem.HTML, "Reminder") {
		t.Errorf("reminder wording missing: %q\n%s", rem.Subject, rem.Text)
	}
	first, second := linkRE.FindString(msgs[0].Text), linkRE.FindString(rem.Text)
	if first == second {
		t.Fatal("the reminder carries the same link")
	}
	if resp := get(t, first); resp.StatusCode != http.StatusGone {
		t.Errorf("replaced link = %d, want 410", resp.StatusCode)
	}
	short := strings.Replace(second, "/invite/acme/", "/invite/", 1)
	if resp := accept(t, short); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), callback+"?code=rlc_") {
		t.Errorf("tenant-less link = %d %q, want 303 to the callback", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSMTPDownRetriedThenDelivered: with the server down, attempts fail and
// are retried after 1m, 2m, 4m (jitter pinned to 0); nothing is lost, and
// once the server is up the mail arrives once.
func TestSMTPDownRetriedThenDelivered(t *testing.T) {
	smtp := newCapture(t) // not started: the port refuses connections
	e := newEnv(t, openSQLite(t))
	card := e.invite("cy@example.com")
	m := e.mailer(smtp.url(), notify.Options{})
	id := e.outbox(card.ID)[0].ID

	for attempt, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		if res := e.runOnce(m); res.Failed != 1 {
			t.Fatalf("attempt %d: RunOnce = %+v, want one failure", attempt+1, res)
		}
		if st, att := e.status(id); st != store.OutboxPending || att != attempt+1 {
			t.Fatalf("after attempt %d: %s, %d attempts", attempt+1, st, att)
		}
		e.clock.Advance(wait - time.Second)
		if res := e.runOnce(m); res != (notify.Result{}) {
			t.Fatalf("a second before the retry after %s: RunOnce = %+v, want nothing due", wait, res)
		}
		e.clock.Advance(time.Second)
	}
	// The server comes back.
	smtp.start()
	if res := e.runOnce(m); res.Sent != 1 {
		t.Fatalf("RunOnce with the server back = %+v, want sent", res)
	}
	if n := len(smtp.messages()); n != 1 {
		t.Fatalf("captured %d messages, want 1", n)
	}
	// Stopped again: a new invite waits, and arrives after the restart.
	smtp.stop()
	card2 := e.invite("di@example.com")
	if res := e.runOnce(m); res.Failed != 1 {
		t.Fatalf("RunOnce with the server stopped = %+v", res)
	}
	smtp.start()
	e.clock.Advance(time.Minute)
	if res := e.runOnce(m); res.Sent != 1 {
		t.Fatalf("RunOnce after the restart = %+v", res)
	}
	msgs := smtp.messages()
	if len(msgs) != 2 || msgs[1].EnvelopeTo != "di@example.com" {
		t.Fatalf("captured %+v", msgs)
	}
	if st, _ := e.status(e.outbox(card2.ID)[0].ID); st != store.OutboxSent {
		t.Errorf("second message: %s", st)
	}
}

// TestDeadAfterMaxAttempts: a message that keeps failing is given up after
// MaxAttempts, audited, and its token blanked.
func TestDeadAfterMaxAttempts(t *testing.T) {
	smtp := newCapture(t) // never started
	e := newEnv(t, openSQLite(t))
	card := e.invite("ed@example.com")
	var logs bytes.Buffer
	m := e.mailer(smtp.url(), notify.Options{MaxAttempts: 3, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	id := e.outbox(card.ID)[0].ID
	for i := 1; i <= 3; i++ {
		res := e.runOnce(m)
		if i < 3 && res.Failed != 1 || i == 3 && res.Dead != 1 {
			t.Fatalf("attempt %d: %+v", i, res)
		}
		e.clock.Advance(time.Hour)
	}
	if st, att := e.status(id); st != store.OutboxDead || att != 3 {
		t.Fatalf("status = %s, %d attempts; want dead after 3", st, att)
	}
	if res := e.runOnce(m); res != (notify.Result{}) {
		t.Fatalf("RunOnce after death = %+v", res)
	}
	audit, err := e.st.ListAudit(e.ctx, "acme", card.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var dead *store.AuditEvent
	for i := range audit {
		if audit[i].Action == "email.dead" {
			dead = &audit[i]
		}
	}
	if dead == nil || dead.Actor != "notify" || !strings.Contains(dead.Detail, fmt.Sprintf("message %d", id)) || !strings.Contains(dead.Detail, "3 attempts") {
		t.Fatalf("audit = %+v; want an email.dead line", audit)
	}
	var p directory.InviteMessage
	if err := json.Unmarshal(e.outbox(card.ID)[0].Payload, &p); err != nil || p.Token != "" || p.Seed != "" {
		t.Errorf("dead payload keeps the seed: %s", e.outbox(card.ID)[0].Payload)
	}
	if n, _, _ := e.st.OutboxBacklog(e.ctx, notify.Kinds); n != 0 {
		t.Errorf("backlog = %d", n)
	}
	if strings.Contains(logs.String(), "ed@example.com") {
		t.Errorf("logs hold the address:\n%s", logs.String())
	}
}

// TestWithoutSMTPStaysQueued: no SMTP configured — each message is logged
// as undeliverable (ids only), stays pending with no attempt counted, and
// goes out once a Mailer with SMTP runs.
func TestWithoutSMTPStaysQueued(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	card := e.invite("Fay.Gold@example.com")
	var logs bytes.Buffer
	off := e.mailer("", notify.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	id := e.outbox(card.ID)[0].ID
	if res := e.runOnce(off); res.Undeliverable != 1 {
		t.Fatalf("RunOnce = %+v, want one undeliverable", res)
	}
	if !strings.Contains(logs.String(), card.ID) || !strings.Contains(logs.String(), fmt.Sprintf(`"message":%d`, id)) {
		t.Errorf("log does not name the message and card:\n%s", logs.String())
	}
	if s := strings.ToLower(logs.String()); strings.Contains(s, "fay") || strings.Contains(s, "gold") {
		t.Errorf("log holds personal data:\n%s", logs.String())
	}
	if st, att := e.status(id); st != store.OutboxPending || att != 0 {
		t.Fatalf("status = %s, %d; want pending, no attempt", st, att)
	}
	var p directory.InviteMessage
	if err := json.Unmarshal(e.outbox(card.ID)[0].Payload, &p); err != nil || p.Seed == "" {
		t.Fatalf("queued payload lost its seed: %s", e.outbox(card.ID)[0].Payload)
	}
	e.clock.Advance(time.Minute)
	if res := e.runOnce(off); res.Undeliverable != 0 {
		t.Errorf("logged again after a minute: %+v", res)
	}
	e.clock.Advance(notify.DefaultUndeliverableEvery)
	if res := e.runOnce(off); res.Undeliverable != 1 {
		t.Errorf("not logged again after %s: %+v", notify.DefaultUndeliverableEvery, res)
	}
	// SMTP configured (a restart with smtp.url): the message goes.
	smtp := newCapture(t)
	smtp.start()
	e.clock.Advance(notify.DefaultUndeliverableEvery)
	if res := e.runOnce(e.mailer(smtp.url(), notify.Options{})); res.Sent != 1 {
		t.Fatalf("RunOnce with SMTP = %+v", res)
	}
	if n := len(smtp.messages()); n != 1 {
		t.Fatalf("captured %d", n)
	}
}

// TestTwoWorkersDeliverOnce: two Mailers on one PostgreSQL store, working
// at once, deliver every message exactly once.
func TestTwoWorkersDeliverOnce(t *testing.T) {
	smtp := newCapture(t)
	smtp.start()
	e := newEnv(t, openPostgres(t))
	const n = 30
	for i := 0; i < n; i++ {
		e.invite(fmt.Sprintf("person%02d@example.com", i))
	}
	workers := []*notify.Mailer{e.mailer(smtp.url(), notify.Options{Batch: 4}), e.mailer(smtp.url(), notify.Options{Batch: 4})}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = make([]int, len(workers))
	)
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := w.RunOnce(e.ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Failed+res.Dead > 0 {
					t.Errorf("worker %d: %+v", i, res)
				}
				if res.Sent == 0 {
					return
				}
				mu.Lock()
				sent[i] += res.Sent
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if sent[0]+sent[1] != n {
		t.Fatalf("workers sent %v, want %d in all", sent, n)
	}
	t.Logf("worker shares: %v", sent)
	seen := map[string]int{}
	for _, m := range smtp.messages() {
		seen[m.EnvelopeTo]++
	}
	if len(seen) != n {
		t.Fatalf("captured mail for %d people, want %d", len(seen), n)
	}
	for to, c := range seen {
		if c != 1 {
			t.Errorf("%s got %d mails", to, c)
		}
	}
	if b, _, _ := e.st.OutboxBacklog(e.ctx, notify.Kinds); b != 0 {
		t.Errorf("backlog = %d", b)
	}
}
