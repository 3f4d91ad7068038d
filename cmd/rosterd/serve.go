package main

import (
	"context"
	"io"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/scim"
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
	svc := directory.NewService(st, policies(cfg), directory.WithLogger(logger.With("component", "directory")))
	if err := bootstrap(ctx, cfg, keys, stderr, svc.Now()); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	srv := daemon.NewServer(logger, reg)
	srv.AddReadinessCheck(daemon.Check{Name: "store", Fn: st.Ready})

	var tenants []admin.Tenant
	for _, t := range cfg.Tenants {
		tenants = append(tenants, admin.Tenant{ID: t.ID, Name: t.Name})
	}
	admin.New(keys, tenants, logger.With("component", "admin"), reg).Mount(srv)

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

	return srv.Run(ctx, cfg.Listen, cfg.ShutdownTimeout.Std(), func(addr net.Addr) {
		logger.Info("rosterd serving", "addr", addr.String(), "public_url", cfg.PublicURL, "store", cfg.Store.Driver, "tenants", len(cfg.Tenants), "version", version())
	})
}
