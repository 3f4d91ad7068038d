package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/console"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/sync/dropbox"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// startDropBox serves the drop box of the feeds with source: upload:
// PUT /drop/{tenant}/{feed} on srv, the SFTP server on drop_box.sftp_listen
// (its port taken here, so that a busy port fails the start), and the runs
// of run_on_upload feeds. Its feeds are the file's (read here: a bad
// authorized_keys_file fails the start) and those the admin API makes,
// which follow the registry with feeds. stop ends them and waits; an
// upload in progress is abandoned, never stored half. sftp is the SFTP
// server as the console's setup portal shows it to HR (zero without one).
func startDropBox(ctx context.Context, cfg *config.Config, keys *credential.Keyring, runner *reconcile.Runner, feeds *liveFeeds,
	srv *daemon.Server, reg prometheus.Registerer, logger *slog.Logger) (box *dropbox.Box, sftp console.DropBoxSFTP, stop func(), err error) {
	upload, err := dropbox.FeedsOf(cfg)
	if err != nil {
		return nil, sftp, nil, err
	}
	box, err = dropbox.New(dropbox.Options{Feeds: upload, Keys: keys, Logger: logger, Registerer: reg,
		// A feed the API just made on this replica takes uploads at once.
		Refresh: func() { feeds.current() },
		Run: func(ctx context.Context, tenant, feed string) error {
			f, ok := feeds.runnable()[tenant+"/"+feed]
			if !ok {
				return fmt.Errorf("no feed %s/%s to run", tenant, feed)
			}
			_, err := runner.Run(ctx, f, reconcile.RunOptions{Trigger: "upload", Actor: "dropbox"})
			return err
		}})
	if err != nil {
		return nil, sftp, nil, err
	}
	feeds.serveDropBox(box, upload)
	box.Mount(srv)

	runCtx, stopRuns := context.WithCancel(ctx)
	runsDone := make(chan struct{})
	stopSFTP, sftpDone := func() {}, make(chan struct{})
	if cfg.DropBox.SFTPListen == "" {
		close(sftpDone)
	} else {
		signer, created, err := dropbox.LoadOrCreateHostKey(cfg.DropBoxHostKeyFile())
		if err != nil {
			stopRuns()
			return nil, sftp, nil, fmt.Errorf("drop_box: the SFTP host key: %w", err)
		}
		fp := ssh.FingerprintSHA256(signer.PublicKey())
		if created {
			logger.Warn("generated the drop box's SFTP host key; back it up with the data directory, and give HR its fingerprint for their known_hosts",
				"file", cfg.DropBoxHostKeyFile(), "fingerprint", fp)
		}
		ln, err := net.Listen("tcp", cfg.DropBox.SFTPListen)
		if err != nil {
			stopRuns()
			return nil, sftp, nil, fmt.Errorf("drop_box.sftp_listen: %w", err)
		}
		sftp = console.DropBoxSFTP{Listen: cfg.DropBox.SFTPListen, Fingerprint: fp}
		logger.Info("drop box serving SFTP", "addr", ln.Addr().String(), "host_key", fp, "feeds", len(upload))
		var sftpCtx context.Context
		sftpCtx, stopSFTP = context.WithCancel(ctx)
		go func() {
			if err := box.ServeSFTP(sftpCtx, ln, signer); err != nil {
				logger.Error("drop box SFTP server", "err", err)
			}
			close(sftpDone)
		}()
	}
	go func() { box.Run(runCtx); close(runsDone) }()
	return box, sftp, func() { stopSFTP(); <-sftpDone; stopRuns(); <-runsDone }, nil
}
