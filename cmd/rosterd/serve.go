package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/notify"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/scim"
	"github.com/rosterd/rosterd/sync/reconcile"
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
	svc := directory.NewService(st, policies(cfg), directory.WithLogger(logger.With("component", "directory")), directory.WithInviteKey(invites))
	// Secrets go to a terminal only; JSON logs on a terminal are a log
	// stream too.
	terminal := daemon.IsTerminal(stderr) && !strings.EqualFold(cfg.Log.Format, "json")
	if err := bootstrap(ctx, cfg, keys, stderr, terminal, logger, svc.Now()); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	srv.SetTimeouts(daemon.Timeouts{ReadHeader: cfg.HTTP.ReadHeaderTimeout.Std(), ReadBody: cfg.HTTP.ReadBodyTimeout.Std()})
	srv.AddReadinessCheck(daemon.Check{Name: "store", Fn: st.Ready})

	var tenants []admin.Tenant
	for _, t := range cfg.Tenants {
		tenants = append(tenants, admin.Tenant{ID: t.ID, Name: t.Name, ImportLimits: reconcile.Limits{MaxDisablePercent: t.Safety.MaxDisablePercent,
			MaxDisableCount: t.Safety.MaxDisableCount, MinSnapshotRatio: t.Safety.MinSnapshotRatio}})
	}
	// SAML: one service provider per tenant that configures one, under
	// /saml/{tenant}/; its login codes are redeemed through the admin API.
	var loginCodes admin.LoginCodes
	var samlTenants []saml.TenantConfig
	for _, t := range cfg.Tenants {
		if t.SAML == nil {
			continue
		}
		s := t.SAML
		samlTenants = append(samlTenants, saml.TenantConfig{Tenant: t.ID, EntityID: s.EntityID,
			AppCallbackURL: t.AppCallbackURL, AllowedReturnURLs: t.AllowedReturnURLs, AllowIDPInitiated: s.AllowIDPInitiated,
			AllowSHA1: s.AllowSHA1, Attributes: s.Attributes, IdPMetadataURL: s.IDPMetadataURL, IdPMetadataFile: s.IDPMetadataFile,
			AllowInsecureMetadataURL: s.AllowInsecureMetadataURL, MetadataRefresh: s.MetadataRefresh.Std(),
			SignRequests: s.SignRequestsEnabled(), ClockSkew: s.ClockSkew.Std(), RequestLifetime: s.RequestCookieLifetime.Std(),
			CertFile: s.CertFile, KeyFile: s.KeyFile, EncryptionCertFile: s.EncryptionCertFile, EncryptionKeyFile: s.EncryptionKeyFile})
	}
	if len(samlTenants) > 0 {
		// The directory audits refusals, those that reach no card (a bad
		// signature, a replay) as well as those of a card.
		audit := saml.AuditorFunc(func(ctx context.Context, tenant string, reason saml.Reason, detail string) error {
			return svc.AuditLoginRefusal(ctx, tenant, string(reason), detail)
		})
		// The key-encryption key seals an SP key generated and kept in the
		// store.
		var secrets *secretbox.Box
		for _, tc := range samlTenants {
			if tc.CertFile == "" {
				if secrets, err = secretsBox(cfg, logger); err != nil {
					return err
				}
				break
			}
		}
		samlServer, err := saml.New(ctx, svc, st, samlTenants, saml.Options{PublicURL: cfg.PublicURL,
			Logger: logger.With("component", "saml"), Registerer: reg, Auditor: audit, Secrets: secrets})
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
		loginCodes = samlServer
	}

	var tenantIDs []string
	var conns []scim.Connection
	for _, t := range cfg.Tenants {
		tenantIDs = append(tenantIDs, t.ID)
		for _, c := range t.SCIM {
			conns = append(conns, scim.Connection{Tenant: t.ID, Name: c.Name, Authoritative: c.AuthoritativeEnabled()})
		}
	}
	scimServer, err := scim.New(svc, keys, tenantIDs, conns, logger.With("component", "scim"), reg, scim.Options{PublicURL: cfg.PublicURL})
	if err != nil {
		return err
	}
	scimServer.Mount(srv)

	// Scheduled feeds, after resuming any run a crash left applying. The
	// scheduler stops with the server; a run in progress finishes.
	feeds := feedsOf(cfg, nil, logger.With("component", "sync"))
	runner := &reconcile.Runner{Dir: svc, Store: st, Logger: logger.With("component", "sync")}
	sched, err := startScheduler(ctx, cfg, st, runner, feeds, logger.With("component", "schedule"))
	if err != nil {
		return err
	}
	// Email delivery (notify): the outbox worker sends the invites and
	// reminders the directory queued, over smtp.url; without it they stay
	// queued and are logged as undeliverable. The invite links open
	// GET /invite/{tenant}/{token}, a page whose button (a POST) accepts
	// the invite: SAML tenants go on to their IdP, the
	// others to app_callback_url with a login code, redeemed through the
	// admin API (by the SAML server when there is one, else by the store).
	mailTenants := map[string]string{}
	var pageTenants []notify.PageTenant
	for _, t := range cfg.Tenants {
		mailTenants[t.ID] = t.Name
		pageTenants = append(pageTenants, notify.PageTenant{ID: t.ID, Name: t.Name, AppCallbackURL: t.AppCallbackURL, SAMLLogin: t.SAML != nil})
	}
	inviteCodes := notify.StoreLoginCodes{Dir: svc}
	if loginCodes == nil {
		loginCodes = inviteCodes
	}
	invitePage, err := notify.NewInvitePage(svc, inviteCodes, pageTenants, notify.PageOptions{PublicURL: cfg.PublicURL,
		Logger: logger.With("component", "invite"), Registerer: reg})
	if err != nil {
		return err
	}
	invitePage.Mount(srv)
	mailer, err := notify.New(st, notify.Options{SMTPURL: cfg.SMTP.URL, From: cfg.SMTP.From, PublicURL: cfg.PublicURL, InviteKey: invites,
		TenantNames: mailTenants, Logger: logger.With("component", "notify"), Registerer: reg})
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
		hookTenants := wh.Tenants
		if len(hookTenants) == 0 {
			hookTenants = tenantIDs
		}
		d, err := webhook.New(st, webhook.Options{URL: wh.URL, Secret: wh.Secret, Tenants: hookTenants, Keep: cfg.Events.Retention.Std(),
			Logger: logger.With("component", "webhook"), Registerer: reg})
		if err != nil {
			stopHooks()
			return err
		}
		done := make(chan struct{})
		hookDone = append(hookDone, done)
		go func() { d.Run(hookCtx); close(done) }()
	}
	defer func() {
		stopHooks()
		for _, done := range hookDone {
			<-done
		}
	}()

	adminAPI := admin.New(keys, tenants, logger.With("component", "admin"), reg)
	if loginCodes != nil {
		adminAPI.WithLoginCodes(loginCodes)
	}
	adminAPI.With(admin.Services{Directory: svc, Store: st, Runner: runner, Feeds: adminFeeds(cfg, feeds), Events: st, Webhooks: st})
	adminAPI.Mount(srv)

	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() { sched.Run(schedCtx); close(schedDone) }()
	defer func() { stopSched(); <-schedDone }()
	// Events older than the retention go, hourly; older cursors get 410.
	go pruneEvents(schedCtx, st, cfg.Events.Retention.Std(), logger.With("component", "events"))

	return srv.Run(ctx, cfg.Listen, cfg.ShutdownTimeout.Std(), func(addr net.Addr) {
		logger.Info("rosterd serving", "addr", addr.String(), "public_url", cfg.PublicURL, "store", cfg.Store.Driver, "tenants", len(cfg.Tenants), "version", version())
	})
}

// adminFeeds pairs each runnable feed with its schedule, for the admin API.
func adminFeeds(cfg *config.Config, feeds map[string]reconcile.Feed) map[string]admin.Feed {
	out := map[string]admin.Feed{}
	for _, t := range cfg.Tenants {
		for _, fc := range t.Feeds {
			f, ok := feeds[t.ID+"/"+fc.Name]
			if !ok {
				continue
			}
			loc, _ := fc.Location() // validated at start
			out[t.ID+"/"+fc.Name] = admin.Feed{Run: f, Schedule: fc.Schedule, Location: loc}
		}
	}
	return out
}
