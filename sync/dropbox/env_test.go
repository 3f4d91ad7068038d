package dropbox

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	hrToken      = "hr-upload-token-0123456789abcdef0123"
	payrollToken = "payroll-upload-token-0123456789abcdef"
	otherToken   = "other-tenant-token-0123456789abcdef01"
	roster       = "Email,First Name,Last Name\nann@example.com,Ann,Lee\nbob@example.com,Bob,Roy\n"
)

// env is a drop box with three upload feeds (acme/hr, acme/payroll,
// globex/hr) over a real store, and the file feed that reads acme/hr's
// inbox.
type env struct {
	t      *testing.T
	cfg    *config.Config
	st     store.Backend
	keys   *credential.Keyring
	dir    *directory.Service
	runner *reconcile.Runner
	box    *Box
	hr     reconcile.Feed // acme/hr as filefeed runs it
	log    *slogBuffer

	mu   sync.Mutex
	runs []store.Run // runs started by run_on_upload
}

// envOptions vary the environment.
type envOptions struct {
	runOnUpload bool
	hrKeys      []ssh.PublicKey
	hrPassword  string
	payrollKeys []ssh.PublicKey
	maxSize     int64
}

func newEnv(t *testing.T, st store.Backend, o envOptions) *env {
	t.Helper()
	e := &env{t: t, st: st, log: &slogBuffer{}}
	e.cfg = &config.Config{DataDir: t.TempDir()}
	archive := ""
	hrFeed := config.Feed{Name: "hr", Kind: "file", File: config.FileFeed{Source: config.UploadSource, Key: "email", Archive: &archive,
		RunOnUpload: o.runOnUpload, Upload: config.Upload{Token: hrToken}}}
	e.cfg.Tenants = []config.Tenant{
		{ID: "acme", Feeds: []config.Feed{hrFeed,
			{Name: "payroll", Kind: "file", File: config.FileFeed{Source: config.UploadSource, Upload: config.Upload{Token: payrollToken}}}}},
		{ID: "globex", Feeds: []config.Feed{{Name: "hr", Kind: "file", File: config.FileFeed{Source: config.UploadSource, Upload: config.Upload{Token: otherToken}}}}},
	}
	feeds, err := FeedsOf(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range feeds {
		if o.maxSize > 0 {
			feeds[i].MaxSize = o.maxSize
		}
		switch feeds[i].User() {
		case "acme.hr":
			feeds[i].AuthorizedKeys, feeds[i].Password = o.hrKeys, o.hrPassword
		case "acme.payroll":
			feeds[i].AuthorizedKeys = o.payrollKeys
		}
	}
	policy := directory.DefaultPolicy()
	policy.Invite = "none"
	e.dir = directory.NewService(st, map[string]directory.Policy{"acme": policy, "globex": policy})
	e.runner = &reconcile.Runner{Dir: e.dir, Store: st}
	e.hr = filefeed.NewFeed("acme", AsDirFeed(e.cfg, "acme", hrFeed), reconcile.Limits{MaxDisablePercent: 100, MaxDisableCount: 1000}, nil)
	e.keys = credential.NewKeyring(st, nil)
	e.box, err = New(Options{Feeds: feeds, Keys: e.keys, Logger: slog.New(slog.NewTextHandler(e.log, nil)), RetryBusy: 50 * time.Millisecond,
		Run: func(ctx context.Context, tenant, feed string) error {
			if tenant != "acme" || feed != "hr" {
				t.Errorf("run on upload of %s/%s", tenant, feed)
				return nil
			}
			run, err := e.runner.Run(ctx, e.hr, reconcile.RunOptions{Trigger: "upload", Actor: "dropbox"})
			if err == nil {
				e.mu.Lock()
				e.runs = append(e.runs, run)
				e.mu.Unlock()
			}
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.box.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("drop box log:\n%s", e.log.String())
		}
	})
	return e
}

// https serves the drop box over TLS; handlerDone receives after each
// request's handler returned.
func (e *env) https() (srv *httptest.Server, handlerDone <-chan struct{}) {
	mux := http.NewServeMux()
	e.box.Mount(mux)
	done := make(chan struct{}, 16)
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mux.ServeHTTP(w, r)
	}))
	e.t.Cleanup(srv.Close)
	return srv, done
}

// files lists the names in a feed's folder (inbox or incoming).
func (e *env) files(tenant, feed, sub string) []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(FeedDir(e.cfg, tenant, feed), sub))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	sort.Strings(out)
	return out
}

// runHR runs acme/hr as its schedule would.
func (e *env) runHR() store.Run {
	e.t.Helper()
	run, err := e.runner.Run(context.Background(), e.hr, reconcile.RunOptions{Trigger: "schedule", Actor: "scheduler"})
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return run
}

// cardCount counts a tenant's cards.
func (e *env) cardCount(tenant string) int {
	e.t.Helper()
	n := 0
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := e.dir.GetByEmail(context.Background(), tenant, email); err == nil {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type slogBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *slogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *slogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
