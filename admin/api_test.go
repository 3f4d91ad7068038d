package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/dnstest"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	rwKey   = "rw-key"
	roKey   = "ro-key"
	scimTok = "scim-token"
	opKey   = "operator-key"
)

// env is the daemon's HTTP surface with the admin API and SCIM mounted
// over a real store, a directory with a pinned clock, and a runner whose
// feeds read snapshots the test sets.
type env struct {
	t     *testing.T
	url   string
	dir   *directory.Service
	store store.Backend
	clock *testenv.Clock
	keys  *credential.Keyring
	dns   *dnstest.Server

	mu    sync.Mutex
	snaps map[string][]reconcile.Record // by feed
}

func newEnv(t *testing.T, st store.Backend) *env { t.Helper(); return newEnvWith(t, st, nil) }

// newEnvWith is newEnv on a daemon whose drop box is dropBox (nil: not
// enabled), as the API's feeds with source: upload are checked against it.
func newEnvWith(t *testing.T, st store.Backend, dropBox *config.DropBox) *env {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	// The SCIM token sits in the keyring; the file's connection says
	// it is authoritative.
	dnsSrv := dnstest.Start(t)
	tenants := tenanttest.FromYAMLWith(t, st, `
tenants:
  - id: acme
    name: Acme
    safety: {max_disable_percent: 100, max_disable_count: 1000, min_snapshot_ratio: 0}
  - id: globex
    name: Globex
`, tenant.Options{Resolver: dnsSrv.Resolver(), DropBox: dropBox})
	// The file's defaults: invites by email, 7 days, reminders every 24 h.
	svc := directory.NewService(st, nil, directory.WithPolicies(tenants), directory.WithClock(clk.Now))
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: rwKey},
		{Kind: store.AdminKey, Name: "auditor", Secret: roKey, ReadOnly: true},
		{Kind: store.AdminKey, Name: "operator", Secret: opKey, Scopes: []string{store.ScopeOperator}},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: scimTok},
	})
	keys.Now = clk.Now
	e := &env{t: t, dir: svc, store: st, clock: clk, keys: keys, dns: dnsSrv, snaps: map[string][]reconcile.Record{}}
	feed := func(name string, lim reconcile.Limits) Feed {
		return Feed{Schedule: "0 6 * * 1", Location: time.UTC, Run: reconcile.Feed{
			Source: reconcile.Source{Tenant: "acme", Name: "file:" + name, Authoritative: true, Withdraw: true},
			Feed:   name, Kind: "file", Limits: lim,
			Fetch: func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
				e.mu.Lock()
				defer e.mu.Unlock()
				return reconcile.Snapshot{Name: name + ".csv", Records: e.snaps[name], Fetched: clk.Now()}, nil, nil
			}}}
	}
	lenient := reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000}
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	api := New(keys, tenants, logger, reg)
	api.With(Services{Directory: svc, Store: st, Runner: &reconcile.Runner{Dir: svc, Store: st, Now: clk.Now},
		Feeds:  map[string]Feed{"acme/hr": feed("hr", lenient), "acme/payroll": feed("payroll", reconcile.Limits{MaxDisablePercent: 100})},
		Events: st, Registry: tenants, Keys: keys, Setup: st, PublicURL: ts.URL})
	api.Mount(srv)
	sc, err := scim.New(svc, keys, tenants, logger, reg, scim.Options{PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	sc.Mount(srv)
	ts.Config.Handler = srv.Handler()
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) { fn(t, newEnv(t, st)) })
}

// setSnapshot makes the feed's next fetch list these people.
func (e *env) setSnapshot(feed string, emails ...string) {
	var recs []reconcile.Record
	for _, m := range emails {
		recs = append(recs, reconcile.Record{Key: strings.ToLower(m), Email: m, Attributes: store.Attributes{GivenName: strings.Split(m, "@")[0]}})
	}
	e.mu.Lock()
	e.snaps[feed] = recs
	e.mu.Unlock()
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// errCode is the error body's code, or "".
func (r response) errCode() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		return fmt.Sprint(e["code"])
	}
	return ""
}

func (r response) errField() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		return fmt.Sprint(e["field"])
	}
	return ""
}

func (e *env) do(method, path, key string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case *multipartBody:
		rd, contentType = &b.buf, b.contentType
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

// must sends a request and fails the test unless it answers want.
func (e *env) must(want int, method, path string, body any) response {
	e.t.Helper()
	r := e.do(method, path, rwKey, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

func (e *env) scim(method, path string, body any) response {
	e.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.url+"/scim/acme/v2"+path, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+scimTok)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

const acme = "/api/v1/tenants/acme"

// cardID finds the card of an email through the API's search.
func (e *env) cardID(email string) string {
	e.t.Helper()
	r := e.must(200, "GET", acme+"/cards?q="+email, nil)
	cards, _ := r.Body["cards"].([]any)
	for _, c := range cards {
		c := c.(map[string]any)
		if strings.EqualFold(fmt.Sprint(c["email"]), email) {
			return fmt.Sprint(c["id"])
		}
	}
	e.t.Fatalf("no card for %s in %s", email, r.Raw)
	return ""
}

func (e *env) status(id string) string {
	e.t.Helper()
	return fmt.Sprint(e.must(200, "GET", acme+"/cards/"+id, nil).Body["status"])
}

// runFeed runs a feed through the API and checks it applied.
func (e *env) runFeed(feed string) response {
	e.t.Helper()
	r := e.must(201, "POST", acme+"/feeds/"+feed+"/runs", nil)
	if r.Body["status"] != store.RunApplied {
		e.t.Fatalf("run of %s: %s", feed, r.Raw)
	}
	return r
}

// outbox returns the outbox messages of a card.
func (e *env) outbox(cardID string) []store.OutboxMessage {
	e.t.Helper()
	return storetest.OutboxOf(e.t, e.store, "acme", cardID)
}

func TestAdminDisableSurvivesFileRunAndSCIM(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com")
		e.runFeed("hr")
		ann := e.cardID("ann@example.com")
		if s := e.status(ann); s == "disabled" {
			t.Fatalf("ann after the first run: %s", s)
		}

		r := e.must(200, "POST", acme+"/cards/"+ann+"/disable", map[string]string{"reason": "left for a competitor"})
		if r.Body["status"] != "disabled" {
			t.Fatalf("disable: %s", r.Raw)
		}

		// The file still lists her: the pin holds.
		e.clock.Advance(time.Hour)
		e.runFeed("hr")
		if s := e.status(ann); s != "disabled" {
			t.Fatalf("after a file run listing her: %s", s)
		}

		// The IdP says she is active: the pin holds.
		if sr := e.scim("POST", "/Users", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ann@example.com", "active": true,
			"emails": []any{map[string]any{"type": "work", "value": "ann@example.com", "primary": true}},
		}); sr.Status != 201 {
			t.Fatalf("SCIM create: %d %s", sr.Status, sr.Raw)
		}
		if s := e.status(ann); s != "disabled" {
			t.Fatalf("after SCIM active:true: %s", s)
		}
		ex := e.must(200, "GET", acme+"/cards/"+ann+"/explain", nil)
		if ex.Body["rule"] != float64(directory.RulePinned) || !strings.Contains(ex.Raw, "left for a competitor") {
			t.Fatalf("explain: %s", ex.Raw)
		}

		// The audit trail names the key.
		au := e.must(200, "GET", acme+"/audit?card="+ann+"&actor=admin:ops", nil)
		if evs, _ := au.Body["events"].([]any); len(evs) != 1 || !strings.Contains(au.Raw, "card.pinned") {
			t.Fatalf("audit by admin:ops: %s", au.Raw)
		}
		// Without card, the tenant's whole trail: this card's lines among
		// others, oldest first, paged by cursor.
		all := e.must(200, "GET", acme+"/audit?limit=1000", nil)
		evs, _ := all.Body["events"].([]any)
		mine, last := 0, 0.0
		for _, x := range evs {
			m := x.(map[string]any)
			if m["card_id"] == ann {
				mine++
			}
			if id := m["id"].(float64); id <= last {
				t.Fatalf("tenant audit out of order: %s", all.Raw)
			} else {
				last = id
			}
		}
		byCard := e.must(200, "GET", acme+"/audit?card="+ann+"&limit=1000", nil)
		if cardEvs, _ := byCard.Body["events"].([]any); mine == 0 || mine != len(cardEvs) || len(evs) <= mine {
			t.Fatalf("tenant audit has %d of ann's %d lines among %d", mine, len(cardEvs), len(evs))
		}
		first := e.must(200, "GET", acme+"/audit?limit=1", nil)
		next, _ := first.Body["next"].(string)
		second := e.must(200, "GET", acme+"/audit?limit=1&cursor="+next, nil)
		if next == "" || second.Body["events"].([]any)[0].(map[string]any)["id"] != evs[1].(map[string]any)["id"] {
			t.Fatalf("paging the tenant audit: %s then %s", first.Raw, second.Raw)
		}
	})
}

func TestContractorSurvivesFileRunThatOmitsThem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com")
		e.runFeed("hr")
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"carl@contractor.example"}, "role": "viewer", "groups": []string{"contractors"}})
		if r.Body["invited"] != float64(1) {
			t.Fatalf("invite: %s", r.Raw)
		}
		carl := e.cardID("carl@contractor.example")
		e.clock.Advance(time.Hour)
		e.runFeed("hr")
		if s := e.status(carl); s != "invite_pending" {
			t.Fatalf("contractor after a run that omits him: %s", s)
		}
		if r := e.must(200, "GET", acme+"/cards?group=contractors", nil); !strings.Contains(r.Raw, carl) {
			t.Fatalf("group filter: %s", r.Raw)
		}
	})
}

func TestReleaseHandsControlBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setSnapshot("hr", "ann@example.com", "bob@example.com")
		e.runFeed("hr")
		ann := e.cardID("ann@example.com")
		e.must(200, "POST", acme+"/cards/"+ann+"/disable", nil)

		// Released, the file's claim decides again: enabled.
		if r := e.must(200, "POST", acme+"/cards/"+ann+"/release", nil); r.Body["status"] == "disabled" {
			t.Fatalf("release: %s", r.Raw)
		}
		// The next run that omits her disables her.
		e.setSnapshot("hr", "bob@example.com")
		e.clock.Advance(time.Hour)
		e.runFeed("hr")
		if s := e.status(ann); s != "disabled" {
			t.Fatalf("after a run that omits her: %s", s)
		}

		// An admin-held contractor, released, is listed by nobody: the
		// next run that lists him brings him back.
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"text": "dan@example.com"})
		dan := e.cardID("dan@example.com")
		if r := e.must(200, "POST", acme+"/cards/"+dan+"/release", nil); r.Body["status"] != "disabled" {
			t.Fatalf("release of an admin-only card: %s", r.Raw)
		}
		e.setSnapshot("hr", "bob@example.com", "dan@example.com")
		e.clock.Advance(time.Hour)
		e.runFeed("hr")
		if s := e.status(dan); s == "disabled" {
			t.Fatalf("dan after a run that lists him: %s", s)
		}
	})
}

type multipartBody struct {
	buf         bytes.Buffer
	contentType string
}

func upload(name string, content []byte, fields map[string]string) *multipartBody {
	b := &multipartBody{}
	mw := multipart.NewWriter(&b.buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	b.contentType = mw.FormDataContentType()
	return b
}

func TestImportUpdatingExistingCardsSendsNoInvite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		csv1 := "Email,First Name,Department\nann@example.com,Ann,Sales\n"
		r := e.must(201, "POST", acme+"/imports", upload("people.csv", []byte(csv1), map[string]string{"invite": "true"}))
		if r.Body["status"] != store.RunApplied {
			t.Fatalf("import: %s", r.Raw)
		}
		ann := e.cardID("ann@example.com")
		if n := len(e.outbox(ann)); n != 1 {
			t.Fatalf("new card by an import with invite: %d outbox rows, want 1", n)
		}
		e.clock.Advance(time.Hour)
		csv2 := "Email,First Name,Department\nann@example.com,Ann,Marketing\ncy@example.com,Cy,Sales\n"
		r = e.must(201, "POST", acme+"/imports", upload("people2.csv", []byte(csv2), map[string]string{"invite": "true"}))
		if r.Body["status"] != store.RunApplied {
			t.Fatalf("second import: %s", r.Raw)
		}
		card := e.must(200, "GET", acme+"/cards/"+ann, nil)
		if !strings.Contains(card.Raw, "Marketing") {
			t.Fatalf("the import did not update ann: %s", card.Raw)
		}
		if n := len(e.outbox(ann)); n != 1 {
			t.Fatalf("updated card: %d outbox rows, want still 1", n)
		}
		if n := len(e.outbox(e.cardID("cy@example.com"))); n != 1 {
			t.Fatalf("card created by the second import: %d outbox rows, want 1", n)
		}
		// Without invite, a new card gets none.
		e.must(201, "POST", acme+"/imports", upload("p3.csv", []byte("Email\ndee@example.com\n"), nil))
		if n := len(e.outbox(e.cardID("dee@example.com"))); n != 0 {
			t.Fatalf("import without invite: %d outbox rows", n)
		}
		// A dry run changes nothing.
		r = e.must(201, "POST", acme+"/imports", upload("p4.csv", []byte("Email\nerin@example.com\n"), map[string]string{"dry_run": "1", "invite": "true"}))
		if r.Body["status"] != store.RunPlanned || r.Body["dry_run"] != true {
			t.Fatalf("dry run: %s", r.Raw)
		}
		if l := e.must(200, "GET", acme+"/cards?q=erin", nil); strings.Contains(l.Raw, "erin@") {
			t.Fatalf("dry run created a card: %s", l.Raw)
		}
		if r := e.do("POST", acme+"/imports", rwKey, upload("x.csv", []byte("Email\n"), map[string]string{"dry_run": "maybe"})); r.Status != 400 || r.errField() != "dry_run" {
			t.Fatalf("bad dry_run: %d %s", r.Status, r.Raw)
		}
	})
}

// inviteToken returns the token of a card's newest invite or reminder.
func (e *env) inviteToken(cardID string) string {
	e.t.Helper()
	msgs := e.outbox(cardID)
	if len(msgs) == 0 {
		e.t.Fatalf("no outbox message for %s", cardID)
	}
	var m directory.InviteMessage
	if err := json.Unmarshal(msgs[len(msgs)-1].Payload, &m); err != nil {
		e.t.Fatalf("outbox payload %s: %v", msgs[len(msgs)-1].Payload, err)
	}
	token, err := e.dir.InviteKey().Token("acme", m)
	if err != nil {
		e.t.Fatalf("outbox payload %s: %v", msgs[len(msgs)-1].Payload, err)
	}
	return token
}

func TestInviteExpiresAndReinviteReplacesToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(200, "POST", acme+"/cards/invite", map[string]any{"text": "ann@example.com,  not-an-email;\nbo@example.com"})
		res, _ := r.Body["results"].([]any)
		if len(res) != 3 || r.Body["invited"] != float64(2) || r.Body["refused"] != float64(1) {
			t.Fatalf("invite: %s", r.Raw)
		}
		bad := res[1].(map[string]any)["error"].(map[string]any)
		if bad["code"] != "invalid_email" || bad["field"] != "emails[1]" {
			t.Fatalf("invalid address reported as %v", bad)
		}
		ann := e.cardID("ann@example.com")
		if s := e.status(ann); s != "invite_pending" {
			t.Fatalf("after invite: %s", s)
		}
		oldToken := e.inviteToken(ann)

		e.clock.Advance(7*24*time.Hour - time.Minute)
		if s := e.status(ann); s != "invite_pending" {
			t.Fatalf("a minute before 7 days: %s", s)
		}
		e.clock.Advance(time.Minute)
		if s := e.status(ann); s != "invite_expired" {
			t.Fatalf("after 7 days: %s", s)
		}
		if l := e.must(200, "GET", acme+"/cards?status=invite_expired", nil); !strings.Contains(l.Raw, ann) {
			t.Fatalf("status filter: %s", l.Raw)
		}
		st := e.must(200, "GET", acme+"/cards/stats", nil)
		if c := st.Body["counts"].(map[string]any); c["invite_expired"] != float64(2) || st.Body["total"] != float64(2) {
			t.Fatalf("stats: %s", st.Raw)
		}

		if r := e.must(200, "POST", acme+"/cards/"+ann+"/reinvite", nil); r.Body["status"] != "invite_pending" {
			t.Fatalf("reinvite: %s", r.Raw)
		}
		newToken := e.inviteToken(ann)
		if newToken == oldToken {
			t.Fatal("reinvite kept the token")
		}
		ctx := context.Background()
		if _, err := e.dir.AcceptInvite(ctx, "acme", oldToken); !errors.Is(err, directory.ErrInviteInvalid) {
			t.Fatalf("old token after reinvite: %v", err)
		}
		if _, err := e.dir.AcceptInvite(ctx, "acme", newToken); err != nil {
			t.Fatalf("new token: %v", err)
		}
		if s := e.status(ann); s != "active" {
			t.Fatalf("after accepting: %s", s)
		}
		// Active: no more invites.
		if r := e.do("POST", acme+"/cards/"+ann+"/reinvite", rwKey, nil); r.Status != 409 || r.errCode() != "not_invitable" {
			t.Fatalf("reinvite of an active card: %d %s", r.Status, r.Raw)
		}
	})
}

func TestRemindTooSoon(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@example.com"}})
		ann := e.cardID("ann@example.com")
		// Within 24 h of the invite: too soon.
		e.clock.Advance(time.Hour)
		r := e.do("POST", acme+"/cards/"+ann+"/remind", rwKey, nil)
		if r.Status != 429 || r.errCode() != "too_soon" {
			t.Fatalf("remind an hour after the invite: %d %s", r.Status, r.Raw)
		}
		if s, _ := strconv.Atoi(r.Header.Get("Retry-After")); s != 23*3600 {
			t.Fatalf("Retry-After %q, want %d", r.Header.Get("Retry-After"), 23*3600)
		}
		e.clock.Advance(24 * time.Hour)
		e.must(200, "POST", acme+"/cards/"+ann+"/remind", nil)
		e.clock.Advance(2 * time.Hour)
		r = e.do("POST", acme+"/cards/"+ann+"/remind", rwKey, nil)
		if r.Status != 429 || r.Header.Get("Retry-After") != strconv.Itoa(22*3600) {
			t.Fatalf("second remind within 24 h: %d %v %s", r.Status, r.Header, r.Raw)
		}
		if n := len(e.outbox(ann)); n != 2 {
			t.Fatalf("outbox: %d messages, want invite + one reminder", n)
		}
	})
}

func TestHeldPlanApproveAndReject(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	e.setSnapshot("payroll", "ann@example.com", "bob@example.com", "cy@example.com")
	e.runFeed("payroll")
	e.setSnapshot("payroll", "ann@example.com")
	e.clock.Advance(time.Hour)
	held := e.must(201, "POST", acme+"/feeds/payroll/runs", nil)
	if held.Body["status"] != store.RunHeld {
		t.Fatalf("run disabling 2 with max_disable_count 0: %s", held.Raw)
	}
	id := fmt.Sprint(held.Body["id"])
	csv := e.do("GET", acme+"/runs/"+id+"/plan", rwKey, nil, "Accept", "text/csv")
	if csv.Status != 200 || !strings.HasPrefix(csv.Raw, "action,key,email") || strings.Count(csv.Raw, "withdraw") != 2 {
		t.Fatalf("plan CSV: %d %s", csv.Status, csv.Raw)
	}
	if p := e.must(200, "GET", acme+"/runs/"+id+"/plan", nil); p.Body["counts"] == nil {
		t.Fatalf("plan JSON: %s", p.Raw)
	}
	if r := e.do("POST", acme+"/runs/"+id+"/approve", roKey, nil); r.Status != 403 {
		t.Fatalf("approve with a read-only key: %d", r.Status)
	}
	if r := e.must(200, "POST", acme+"/runs/"+id+"/approve", nil); r.Body["status"] != store.RunApplied || r.Body["actor"] != "admin:ops" {
		t.Fatalf("approve: %s", r.Raw)
	}
	if s := e.status(e.cardID("bob@example.com")); s != "disabled" {
		t.Fatalf("bob after the approved plan: %s", s)
	}
	if r := e.do("POST", acme+"/runs/"+id+"/reject", rwKey, nil); r.Status != 409 || r.errCode() != "not_held" {
		t.Fatalf("reject of an applied run: %d %s", r.Status, r.Raw)
	}
	runs := e.must(200, "GET", acme+"/runs?feed=payroll&limit=1", nil)
	if l, _ := runs.Body["runs"].([]any); len(l) != 1 || runs.Body["next"] == nil {
		t.Fatalf("runs page: %s", runs.Raw)
	}
	feeds := e.must(200, "GET", acme+"/feeds", nil)
	if !strings.Contains(feeds.Raw, `"next_run":"2026-11-23T06:00:00Z"`) || !strings.Contains(feeds.Raw, `"last_run"`) {
		t.Fatalf("feeds: %s", feeds.Raw)
	}
	if r := e.do("POST", acme+"/feeds/nope/runs", rwKey, nil); r.Status != 404 {
		t.Fatalf("unknown feed: %d", r.Status)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	e.must(200, "POST", acme+"/cards/invite", map[string]any{"emails": []string{"ann@example.com"}})
	ann := e.cardID("ann@example.com")
	big := `{"reason":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, tc := range []struct {
		method, path, key string
		body              any
		status            int
		code, field       string
	}{
		{"GET", "/api/v1/tenants/nope/cards", rwKey, nil, 404, "unknown_tenant", "t"},
		{"GET", acme + "/cards/0000", rwKey, nil, 404, "not_found", "id"},
		{"POST", acme + "/cards/0000/disable", rwKey, nil, 404, "not_found", "id"},
		{"DELETE", acme + "/cards/" + ann, rwKey, nil, 405, "method_not_allowed", ""},
		{"POST", acme + "/cards/" + ann + "/disable", rwKey, big, 413, "body_too_large", ""},
		{"POST", acme + "/cards/" + ann + "/disable", rwKey, `{"reason": 5}`, 400, "invalid_value", "reason"},
		{"POST", acme + "/cards/" + ann + "/disable", rwKey, `{"reson": "x"}`, 400, "unknown_field", "reson"},
		{"POST", acme + "/cards/" + ann + "/disable", rwKey, `{"reason": `, 400, "invalid_json", ""},
		{"POST", acme + "/cards/" + ann + "/disable", roKey, nil, 403, "read_only_key", ""},
		{"PATCH", acme + "/cards/" + ann, rwKey, `{"groups": "x"}`, 400, "invalid_value", "groups"},
		{"GET", acme + "/cards?status=gone", rwKey, nil, 400, "invalid_value", "status"},
		{"GET", acme + "/cards?limit=5000", rwKey, nil, 400, "invalid_value", "limit"},
		{"POST", acme + "/cards/invite", rwKey, `{}`, 400, "invalid_value", "emails"},
		{"GET", acme + "/cards", "", nil, 401, "unauthenticated", ""},
	} {
		r := e.do(tc.method, tc.path, tc.key, tc.body)
		if r.Status != tc.status || r.errCode() != tc.code || (tc.field != "" && r.errField() != tc.field) {
			t.Errorf("%s %s: %d %.200s, want %d %s field %q", tc.method, tc.path, r.Status, r.Raw, tc.status, tc.code, tc.field)
		}
	}
}

func TestEditAndExport(t *testing.T) {
	e := newEnv(t, storetest.Migrated(t, storetest.OpenSQLite))
	e.setSnapshot("hr", "ann@example.com", "bob@example.com")
	e.runFeed("hr")
	ann := e.cardID("ann@example.com")
	r := e.must(200, "PATCH", acme+"/cards/"+ann, map[string]any{"department": "Research", "display_name": "=Ann"})
	if !strings.Contains(r.Raw, `"department":"Research"`) {
		t.Fatalf("edit: %s", r.Raw)
	}
	// A second edit keeps the fields it does not name.
	r = e.must(200, "PATCH", acme+"/cards/"+ann, map[string]any{"location": "Berlin"})
	if !strings.Contains(r.Raw, `"department":"Research"`) || !strings.Contains(r.Raw, `"location":"Berlin"`) {
		t.Fatalf("second edit: %s", r.Raw)
	}
	ex := e.must(200, "GET", acme+"/cards/"+ann+"/explain", nil)
	if !strings.Contains(ex.Raw, `{"name":"department","value":"Research","source":"admin"}`) {
		t.Fatalf("explain after the edit: %s", ex.Raw)
	}
	res := e.do("GET", acme+"/cards/export.csv?status=enabled", roKey, nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", res.Status, res.Raw)
	}
	lines := strings.Split(strings.TrimSpace(res.Raw), "\n")
	if len(lines) != 3 || lines[0] != "email,given_name,family_name,display_name,title,department,location,employee_id,manager_email,role,groups,status,sources,last_login,created,last_known_source,last_known_at,role_source,relations" {
		t.Fatalf("export: %q", res.Raw)
	}
	if !strings.HasPrefix(lines[1], "ann@example.com,ann,,'=Ann,,Research,Berlin,,,,,invite_pending,admin;file:hr,,2026-11-20T09:00:00Z,,") {
		t.Fatalf("export row: %q", lines[1])
	}
}
