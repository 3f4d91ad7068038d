package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Run listens on addr and serves Handler until ctx is cancelled; the caller
// cancels it on SIGTERM or SIGINT (signal.NotifyContext). Then Run marks the
// server as shutting down (/healthz and /readyz answer 503 on connections
// still open), stops accepting connections, and waits up to shutdownTimeout
// for in-flight requests to finish.
//
// It returns nil after a clean shutdown; an error naming addr when it cannot
// listen; an error wrapping context.DeadlineExceeded when requests were still
// running at the deadline (their connections are then closed, but their
// handlers' goroutines are not stopped). onListening, if not nil, is called
// once with the bound address (useful with port 0) before requests are served.
//
// Request contexts are not cancelled when ctx is: a request in flight at
// shutdown runs to its end or to the deadline. A Server is Run once.
func (s *Server) Run(ctx context.Context, addr string, shutdownTimeout time.Duration, onListening func(net.Addr)) error {
	if shutdownTimeout <= 0 {
		return fmt.Errorf("daemon: shutdown timeout must be positive, got %s", shutdownTimeout)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is in use by another process: %w", addr, err)
		}
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}

	srv := &http.Server{
		Handler: s.Handler(),
		// The body has its own deadline, per request (limitBodyRead).
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		// Keep-alive connections from load balancers are reused for a while,
		// but an idle client cannot hold a connection for ever.
		IdleTimeout: 2 * time.Minute,
		// Requests carry a bearer token and a few small headers; the
		// default 1 MiB is generous for an attacker.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}

	s.logger.Info("http server listening", "addr", ln.Addr().String())
	// onListening runs with the port bound and before the first request
	// is served (connections wait in the backlog): whatever it delivers,
	// such as the bootstrap secrets, is out before anyone sees the server
	// answer.
	if onListening != nil {
		onListening(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve only returns by itself on a broken listener.
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}

	s.shuttingDown.Store(true)
	s.logger.Info("http server shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("shutting down http server on %s: requests still running after %s: %w", addr, shutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", addr, err)
	}
	s.logger.Info("http server stopped")
	return nil
}
