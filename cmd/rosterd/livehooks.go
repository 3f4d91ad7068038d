package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// liveHooks runs one webhook dispatcher per endpoint the admin API added
// to a live tenant, and follows the registry: a new endpoint starts, a
// changed one restarts with its new URL or secret (its id, and so its
// cursor, kept), a deleted one or one of a retired tenant stops. Whichever
// replica holds an endpoint's lock delivers for it. The file's endpoints
// are started once by serve.
type liveHooks struct {
	reg        *tenant.Registry
	st         store.Backend
	keep       time.Duration
	logger     *slog.Logger
	registerer prometheus.Registerer

	mu      sync.Mutex
	running map[string]*hookRun
	wg      sync.WaitGroup
}

type hookRun struct {
	version int64
	cancel  context.CancelFunc
}

// sync makes the running dispatchers the registry's endpoints now.
func (h *liveHooks) sync(ctx context.Context) {
	want := map[string]tenant.WebhookEndpoint{}
	for _, t := range h.reg.List() {
		if t.Retired() {
			continue
		}
		for _, e := range t.WebhookEndpoints() {
			if e.ManagedBy == store.ManagedByAPI {
				want[e.ID] = e
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		h.running = map[string]*hookRun{}
	}
	for id, run := range h.running {
		if e, ok := want[id]; !ok || e.Version != run.version {
			run.cancel()
			delete(h.running, id)
		}
	}
	for id, e := range want {
		if _, ok := h.running[id]; ok || ctx.Err() != nil {
			continue
		}
		d, err := webhook.New(h.st, webhook.Options{ID: e.ID, URL: e.URL, Secret: e.Secret, Tenants: e.Tenants, Keep: h.keep,
			Logger: h.logger, Registerer: h.registerer})
		if err != nil {
			h.logger.Error("webhook endpoint not started", "endpoint", id, "err", err)
			continue
		}
		dctx, cancel := context.WithCancel(ctx)
		h.running[id] = &hookRun{version: e.Version, cancel: cancel}
		h.wg.Add(1)
		go func() { defer h.wg.Done(); d.Run(dctx) }()
	}
}

// follow re-syncs at every registry reload until ctx ends, then waits for
// the dispatchers to stop.
func (h *liveHooks) follow(ctx context.Context, changes <-chan struct{}) {
	h.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			for _, run := range h.running {
				run.cancel()
			}
			h.running = nil
			h.mu.Unlock()
			h.wg.Wait()
			return
		case <-changes:
			h.sync(ctx)
		}
	}
}
