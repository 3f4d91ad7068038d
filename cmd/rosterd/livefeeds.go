package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/dropbox"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/ldapfeed"
	"github.com/rosterd/rosterd/sync/reconcile"
	"github.com/rosterd/rosterd/sync/schedule"
	"github.com/rosterd/rosterd/tenant"
)

// liveFeeds are the runnable feeds of the registry's live tenants (the
// file's and those the admin API added), rebuilt whenever the registry
// changes on this replica or another: the scheduler is re-armed with
// them, the admin API runs them, and the drop box serves their upload
// feeds.
type liveFeeds struct {
	cfg    *config.Config
	reg    *tenant.Registry
	st     store.Backend
	runner *reconcile.Runner
	now    func() time.Time
	logger *slog.Logger
	cur    atomic.Pointer[feedSet]

	// mu makes rebuilds one at a time, so that the last one handed to
	// the drop box is built from the newest registry.
	mu sync.Mutex
	// box, once set by serveDropBox, is handed fileUploads (the file's
	// upload feeds, read at start) and the API's upload feeds at every
	// rebuild.
	box         *dropbox.Box
	fileUploads []dropbox.Feed
}

type feedSet struct {
	// version is the registry snapshot the set was built from.
	version int64
	tenants []*tenant.Tenant
	feeds   map[string]reconcile.Feed
	admin   map[string]admin.Feed
}

func newLiveFeeds(cfg *config.Config, reg *tenant.Registry, st store.Backend, runner *reconcile.Runner, logger *slog.Logger) *liveFeeds {
	l := &liveFeeds{cfg: cfg, reg: reg, st: st, runner: runner, logger: logger}
	l.rebuild()
	return l
}

// rebuild builds every feed of the registry's live tenants as they are
// now, and hands the drop box its upload feeds.
func (l *liveFeeds) rebuild() *feedSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := &feedSet{version: l.reg.Version(), feeds: map[string]reconcile.Feed{}, admin: map[string]admin.Feed{}}
	uploads := slices.Clone(l.fileUploads)
	for _, t := range l.reg.List() {
		if t.Retired() {
			continue
		}
		set.tenants = append(set.tenants, t)
		for _, fc := range t.Feeds() {
			// The file's upload feeds are fileUploads; those the API
			// made (its rows, or in a tenant it manages) are added.
			if fc.Kind == "file" && fc.File.IsUpload() && (fc.ManagedBy == store.ManagedByAPI || t.ManagedBy() == store.ManagedByAPI) {
				if f, err := dropbox.FeedOf(l.cfg, t.ID(), fc.Feed); err != nil {
					l.logger.Error("the drop box leaves out a feed", "tenant", t.ID(), "feed", fc.Name, "err", err)
				} else {
					uploads = append(uploads, f)
				}
			}
			f, ok := buildFeed(l.cfg, t, fc, l.now, l.logger)
			if !ok {
				continue
			}
			key := t.ID() + "/" + fc.Name
			set.feeds[key] = f
			loc, _ := fc.Location() // validated when it was stored
			set.admin[key] = admin.Feed{Run: f, Schedule: fc.Schedule, Location: loc}
		}
	}
	// The drop box first: a caller of current that sees this version
	// finds its upload feeds served.
	if l.box != nil {
		if err := l.box.SetFeeds(uploads); err != nil {
			l.logger.Error("the drop box leaves out a feed", "err", err)
		}
	}
	l.cur.Store(set)
	return set
}

// serveDropBox makes box serve the file's upload feeds (fileUploads) and
// the API's, from now on at every rebuild.
func (l *liveFeeds) serveDropBox(box *dropbox.Box, fileUploads []dropbox.Feed) {
	l.mu.Lock()
	l.box, l.fileUploads = box, fileUploads
	l.mu.Unlock()
	l.rebuild()
}

// buildFeed makes a tenant's feed runnable; false for an unknown kind. A
// source: upload feed reads its drop box inbox (cfg's drop_box.dir).
func buildFeed(cfg *config.Config, t *tenant.Tenant, fc tenant.Feed, now func() time.Time, logger *slog.Logger) (reconcile.Feed, bool) {
	switch fc.Kind {
	case "file":
		return filefeed.NewFeed(t.ID(), dropbox.AsDirFeed(cfg, t.ID(), fc.Feed), t.Limits(), now), true
	case "ldap":
		return ldapfeed.NewFeed(t.ID(), fc.Feed, t.Limits(), logger), true
	}
	return reconcile.Feed{}, false
}

// runnable are the feeds by "tenant/feed".
func (l *liveFeeds) runnable() map[string]reconcile.Feed { return l.current().feeds }

// current is the set for the registry as it is now: rebuilt here when a
// reload happened that follow has not caught up with yet, so a feed the
// API just created runs (and takes uploads) at once on the replica that
// created it.
func (l *liveFeeds) current() *feedSet {
	set := l.cur.Load()
	if set.version != l.reg.Version() {
		set = l.rebuild()
	}
	return set
}

// forAdmin are the feeds as the admin API shows and runs them.
func (l *liveFeeds) forAdmin() map[string]admin.Feed { return l.current().admin }

// tenants are the live tenants the set was built from.
func (l *liveFeeds) tenants() []*tenant.Tenant { return l.current().tenants }

// follow rebuilds the feeds and re-arms sched at every registry reload
// (changes is the registry's Subscribe channel), until ctx ends. A feed
// created, changed or deleted on any replica is (re)scheduled here
// within the registry's reload; the due-time claim in the store makes
// one replica run each due time.
func (l *liveFeeds) follow(ctx context.Context, changes <-chan struct{}, sched *schedule.Scheduler) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
		set := l.rebuild()
		jobs, err := feedJobs(ctx, set.tenants, set.feeds, l.st, l.runner, false)
		if err != nil {
			l.logger.Error("re-arming the scheduled feeds", "err", err)
			continue
		}
		if err := sched.Set(jobs); err != nil {
			l.logger.Error("re-arming the scheduled feeds", "err", err)
		}
	}
}
