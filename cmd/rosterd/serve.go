package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/console"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/notify"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/tenant"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("serve", "Run the daemon: SCIM, SAML, the admin API and scheduled feeds, until SIGTERM or SIGINT.", stderr, &g)
	fs.StringVar(&g.listen, "listen", "", "`address` to listen on, host:port (overrides listen)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := prepareSchema(ctx, cfg, st, logger); err != nil {
		return err
	}

	keys := credential.NewKeyring(st, staticCredentials(cfg))
	invites, err := inviteKey(cfg, logger)
	if err != nil {
		return err
	}
	// The tenant registry: the file's tenants laid over the store's, asked
	// by every channel per request or per run, kept current by Watch.
	tenants := tenant.New(st, tenant.Options{Logger: logger.With("component", "tenants"), DropBox: cfg.APIDropBox(), Secrets: sync.OnceValues(func() (*secretbox.Box, error) { return secretsBox(cfg, logger) })})
	if err := applyTenants(ctx, tenants, cfg, g.config, logger); err != nil {
		return err
	}
	svc := directory.NewService(st, nil, directory.WithPolicies(tenants), directory.WithLogger(logger.With("component", "directory")),
		directory.WithInviteKey(invites))
	// The first start's secrets are made now and delivered (shown and
	// stored) once the listener is up: a start that fails before that
	// spends none of them.
	boot, err := mintBootstrap(ctx, cfg, keys)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	srv.SetTimeouts(daemon.Timeouts{ReadHeader: cfg.HTTP.ReadHeaderTimeout.Std(), ReadBody: cfg.HTTP.ReadBodyTimeout.Std()})
	srv.AddReadinessCheck(daemon.Check{Name: "store", Fn: st.Ready})

	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{}, 2)
	go func() {
		watchTenants(watchCtx, tenants, st, logger.With("component", "tenants"))
		watchDone <- struct{}{}
	}()
	// SIGHUP applies the file's tenants again, while requests go on.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		reloadOnHangup(watchCtx, hup, g, tenants, logger.With("component", "tenants"))
		watchDone <- struct{}{}
	}()
	defer func() { signal.Stop(hup); stopWatch(); <-watchDone; <-watchDone }()

	// SAML: one service provider per tenant that has SAML settings, under
	// /saml/{tenant}/, built from the registry as those settings are now;
	// its login codes are redeemed through the admin API.
	// The directory audits refusals, those that reach no card (a bad
	// signature, a replay) as well as those of a card.
	audit := saml.AuditorFunc(func(ctx context.Context, tenant string, reason saml.Reason, detail string) error {
		return svc.AuditLoginRefusal(ctx, tenant, string(reason), detail)
	})
	// The key-encryption key is needed (and a key file made) only when
	// an SP key is generated and kept in the store.
	samlServer, err := saml.New(ctx, svc, st, saml.RegistryTenants(tenants), saml.Options{PublicURL: cfg.PublicURL,
		Logger: logger.With("component", "saml"), Registerer: reg, Auditor: audit,
		LoadSecrets: func() (*secretbox.Box, error) { return secretsBox(cfg, logger) }})
	if errors.Is(err, secretbox.ErrUnknownKey) {
		return fmt.Errorf("%w: start with the secrets_key (or the %s) that sealed it", err, filepath.Join(cfg.DataDir, secretsKeyFile))
	}
	if err != nil {
		return err
	}
	samlServer.Mount(srv)
	srv.AddReadinessCheck(daemon.Check{Name: "saml", Fn: samlServer.Ready})
	samlCtx, stopSAML := context.WithCancel(ctx)
	defer stopSAML()
	go samlServer.Run(samlCtx)

	scimServer, err := scim.New(svc, keys, tenants, logger.With("component", "scim"), reg, scim.Options{PublicURL: cfg.PublicURL})
	if err != nil {
		return err
	}
	scimServer.Mount(srv)

	// Scheduled feeds, the registry's (the file's and the API's), after
	// resuming any run a crash left applying. The scheduler stops with the
	// server; a run in progress finishes. A registry change re-arms it.
	runner := &reconcile.Runner{Dir: svc, Store: st, Logger: logger.With("component", "sync")}
	feedChanges := tenants.Subscribe()
	feeds := newLiveFeeds(cfg, tenants, st, runner, logger.With("component", "sync"))
	sched, err := startScheduler(ctx, feeds.tenants(), st, runner, feeds.runnable(), logger.With("component", "schedule"))
	if err != nil {
		return err
	}
	// The drop box of source: upload feeds: PUT /drop/{tenant}/{feed}, and
	// SFTP when drop_box.sftp_listen is set.
	dropBox, dropBoxSFTP, stopDropBox, err := startDropBox(ctx, cfg, keys, runner, feeds, srv, reg, logger.With("component", "dropbox"))
	if err != nil {
		return err
	}
	defer stopDropBox()
	// Email delivery (notify): the outbox worker sends the invites and
	// reminders the directory queued, over smtp.url; without it they stay
	// queued and are logged as undeliverable. The invite links open
	// GET /invite/{tenant}/{token}, a page whose button (a POST) accepts
	// the invite: SAML tenants go on to their IdP, the
	// others to app_callback_url with a login code, redeemed through the
	// admin API (by the SAML server when there is one, else by the store).
	inviteCodes := notify.StoreLoginCodes{Dir: svc}
	invitePage, err := notify.NewInvitePage(svc, inviteCodes, tenants, notify.PageOptions{PublicURL: cfg.PublicURL,
		Logger: logger.With("component", "invite"), Registerer: reg})
	if err != nil {
		return err
	}
	invitePage.Mount(srv)
	mailer, err := notify.New(st, notify.Options{SMTPURL: cfg.SMTP.URL, From: cfg.SMTP.From, PublicURL: cfg.PublicURL, InviteKey: invites,
		Tenants: tenants, Logger: logger.With("component", "notify"), Registerer: reg})
	if err != nil {
		return err
	}
	mailCtx, stopMail := context.WithCancel(ctx)
	mailDone := make(chan struct{})
	go func() { mailer.Run(mailCtx); close(mailDone) }()
	defer func() { stopMail(); <-mailDone }()

	// Signed webhooks (notify/webhook): one dispatcher per endpoint, which
	// delivers while it holds the endpoint's lock (one replica at a time).
	var hookDone []chan struct{}
	hookCtx, stopHooks := context.WithCancel(ctx)
	for _, wh := range cfg.Webhooks {
		// A webhook that names no tenants gets every tenant's events,
		// those created while the daemon runs too.
		var all func() []string
		if len(wh.Tenants) == 0 {
			all = tenantIDs(tenants)
		}
		d, err := webhook.New(st, webhook.Options{URL: wh.URL, Secret: wh.Secret, Tenants: wh.Tenants, AllTenants: all, Keep: cfg.Events.Retention.Std(),
			Logger: logger.With("component", "webhook"), Registerer: reg})
		if err != nil {
			stopHooks()
			return err
		}
		done := make(chan struct{})
		hookDone = append(hookDone, done)
		go func() { d.Run(hookCtx); close(done) }()
	}
	// The endpoints the admin API adds to tenants, as the registry has
	// them now.
	apiHooks := &liveHooks{reg: tenants, st: st, keep: cfg.Events.Retention.Std(), logger: logger.With("component", "webhook"), registerer: reg}
	apiHooksDone := make(chan struct{})
	hookDone = append(hookDone, apiHooksDone)
	go func() { apiHooks.follow(hookCtx, tenants.Subscribe()); close(apiHooksDone) }()
	defer func() {
		stopHooks()
		for _, done := range hookDone {
			<-done
		}
	}()

	adminAPI := admin.New(keys, tenants, logger.With("component", "admin"), reg)
	adminAPI.WithLoginCodes(samlServer)
	adminAPI.With(admin.Services{Directory: svc, Store: st, Runner: runner, FeedsNow: feeds.forAdmin, Events: st, Webhooks: st,
		Registry: tenants, Keys: keys, Setup: st, SetupPortal: console.Prefix + "/setup/", PublicURL: cfg.PublicURL, UploadTokens: dropBox})
	adminAPI.Mount(srv)

	// The web console under /console/: the same directory, signed in with
	// an admin key.
	web, err := console.New(console.Deps{Keys: keys, Directory: svc, Audit: st, Tenants: consoleTenants{tenants},
		Runs:    consoleRuns{st: st, api: adminAPI, runner: runner},
		Imports: adminAPI, Brake: adminAPI,
		SetupLinks: st, Connections: tenants, SAML: samlServer, Domains: tenants, Sessions: st, DropBoxSFTP: dropBoxSFTP,
		PublicURL: cfg.PublicURL, Logger: logger.With("component", "console")})
	if err != nil {
		return err
	}
	samlServer.HandOffTo(web)
	web.Mount(srv)

	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() { sched.Run(schedCtx); close(schedDone) }()
	go feeds.follow(schedCtx, feedChanges, sched)
	defer func() { stopSched(); <-schedDone }()
	// Events older than the retention go, hourly; older cursors get 410.
	go pruneEvents(schedCtx, st, cfg.Events.Retention.Std(), logger.With("component", "events"))

	// Secrets go to a terminal only; JSON logs on a terminal are a log
	// stream too. A delivery that fails stops the daemon: nobody holds the
	// secrets, none was stored, and the next start makes them again.
	terminal := daemon.IsTerminal(stderr) && !strings.EqualFold(cfg.Log.Format, "json")
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var bootErr error
	err = srv.Run(runCtx, cfg.Listen, cfg.ShutdownTimeout.Std(), func(addr net.Addr) {
		if bootErr = boot.deliver(ctx, keys, stderr, terminal, logger, svc.Now()); bootErr != nil {
			stopRun()
			return
		}
		logger.Info("rosterd serving", "addr", addr.String(), "public_url", cfg.PublicURL, "store", cfg.Store.Driver, "tenants", len(tenants.List()), "version", version())
	})
	if bootErr != nil {
		return bootErr
	}
	return err
}

// applyTenants applies the file's tenants to the registry and says what
// changed.
func applyTenants(ctx context.Context, reg *tenant.Registry, cfg *config.Config, file string, logger *slog.Logger) error {
	if file == "" {
		file = "(defaults)"
	}
	rep, err := reg.Apply(ctx, cfg, file)
	if err != nil {
		return err
	}
	if len(rep.Created)+len(rep.Updated)+len(rep.NotInFile) > 0 {
		logger.Info("tenants of the configuration applied", "file", file, "created", rep.Created, "updated", rep.Updated,
			"unchanged", len(rep.Unchanged), "not_in_file", rep.NotInFile)
	}
	return nil
}

// tenantIDs lists the live tenants of the registry now.
func tenantIDs(reg *tenant.Registry) func() []string {
	return func() []string {
		var ids []string
		for _, t := range reg.List() {
			if !t.Retired() {
				ids = append(ids, t.ID())
			}
		}
		return ids
	}
}

// registryPoll is how often a replica looks at the registry's version
// counter; on PostgreSQL a NOTIFY wakes it at once, and the poll is the
// fallback for a notification lost with its connection.
const registryPoll = time.Second

// listener is a store that announces registry changes (PostgreSQL).
type listener interface {
	Listen(ctx context.Context, channel string, logger *slog.Logger) <-chan struct{}
}

// watchTenants keeps the registry current: a reload whenever the store's
// registry version moves.
func watchTenants(ctx context.Context, reg *tenant.Registry, st store.Backend, logger *slog.Logger) {
	var wake <-chan struct{}
	if l, ok := st.(listener); ok {
		wake = l.Listen(ctx, store.RegistryChannel, logger)
	}
	reg.Watch(ctx, registryPoll, wake)
}

// reloadOnHangup reads the configuration file again at each SIGHUP and
// applies its tenants to the registry (their settings, SCIM connections and
// tokens, SAML). A file that does not load is logged and changes nothing.
// Their feeds are re-armed with the rest. Other keys (listen, store,
// admin_keys, the file's webhooks) take effect at the next start.
// Requests in flight are not touched: each holds the snapshot it began
// with.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, g globalFlags, reg *tenant.Registry, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if g.config == "" {
			logger.Info("SIGHUP: no configuration file to read again")
			continue
		}
		cfg, err := loadConfig(g)
		if err != nil {
			logger.Error("SIGHUP: the configuration file does not load; nothing changed", "file", g.config, "err", err)
			continue
		}
		if err := applyTenants(ctx, reg, cfg, g.config, logger); err != nil {
			logger.Error("SIGHUP: applying the configuration's tenants", "file", g.config, "err", err)
			continue
		}
		logger.Info("SIGHUP: the configuration's tenants applied", "file", g.config)
	}
}

// consoleTenants lists the registry's tenants for the console, as they
// are now: one the API created is there at once, a retired one is not.
type consoleTenants struct{ reg *tenant.Registry }

func (c consoleTenants) ListTenants(context.Context) ([]console.Tenant, error) {
	var out []console.Tenant
	for _, t := range c.reg.List() {
		if !t.Retired() {
			out = append(out, console.Tenant{ID: t.ID(), Name: t.Name()})
		}
	}
	return out, nil
}
