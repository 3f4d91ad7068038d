package dropbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// CredentialKind is the kind of a stored upload token (store.Credential);
// its Tenant and Name are the feed's.
const CredentialKind = "upload_token"

// TokenPrefix starts every generated upload token.
const TokenPrefix = "rsu_"

// Keys keeps the upload tokens made through the API (*credential.Keyring).
type Keys interface {
	Check(ctx context.Context, kind, secret string) (store.Credential, error)
	AddScopedBy(ctx context.Context, by credential.Actor, kind, tenant, name, origin, secret string, readOnly bool, scopes []string, now time.Time) (store.Credential, error)
	List(ctx context.Context, kind string) ([]store.Credential, error)
	RevokeBy(ctx context.Context, by credential.Actor, id string) error
}

// Options configure New. Feeds are those served from the start (SetFeeds
// changes them); Keys is required for API-made tokens.
type Options struct {
	Feeds []Feed
	Keys  Keys
	// Run runs a feed (for run_on_upload). Nil: uploads wait for the
	// schedule.
	Run    func(ctx context.Context, tenant, feed string) error
	Logger *slog.Logger
	Now    func() time.Time
	// RetryBusy is the wait before running again a feed whose run was
	// refused as busy. Default 10s.
	RetryBusy time.Duration
	// Registerer takes the drop box's metrics. Default none.
	Registerer prometheus.Registerer
	// Refresh, when set, is called before a feed is looked up (an upload,
	// a login, a token made), so that a feed this replica's registry has
	// just changed is served at once rather than at the next SetFeeds
	// from following the registry. It may call SetFeeds.
	Refresh func()
}

// Box is the drop box: the HTTPS handler, the SFTP server and the runs on
// upload of every upload feed.
type Box struct {
	opt Options
	log *slog.Logger

	// mu guards the feeds and their runners. A request or SFTP session
	// looks its feed up once and keeps that *boxFeed: an upload in
	// progress when SetFeeds drops its feed still lands in its inbox.
	mu      sync.RWMutex
	feeds   map[string]*boxFeed      // tenant/feed
	users   map[string]*boxFeed      // SFTP user
	runners map[string]chan struct{} // tenant/feed → closed to stop its run_on_upload loop
	runCtx  context.Context          // Run's, while it runs; nil before and after
	setMu   sync.Mutex               // serializes SetFeeds
	running sync.WaitGroup           // the runners

	uploads *prometheus.CounterVec // via, result
	logins  *prometheus.CounterVec // method, result
}

// Upload results, the result label of rosterd_dropbox_uploads_total.
const (
	resultStored     = "stored"
	resultRefused    = "refused"    // a bad token, name or path
	resultTooLarge   = "too_large"  // over max_file_size
	resultIncomplete = "incomplete" // the transfer broke off, or was empty
)

type boxFeed struct {
	Feed
	tokenHash    [sha256.Size]byte
	hasToken     bool
	passwordHash [sha256.Size]byte
	hasPassword  bool
	wake         chan struct{} // run_on_upload: cap 1, a run is queued; kept across SetFeeds
}

// New checks the feeds and makes their folders.
func New(opt Options) (*Box, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RetryBusy <= 0 {
		opt.RetryBusy = 10 * time.Second
	}
	b := &Box{opt: opt, log: opt.Logger, feeds: map[string]*boxFeed{}, users: map[string]*boxFeed{},
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rosterd_dropbox_uploads_total",
			Help: "Drop box uploads, by way (https, sftp) and result (stored, refused, too_large, incomplete).",
		}, []string{"via", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rosterd_dropbox_sftp_logins_total",
			Help: "Drop box SFTP logins, by method (publickey, password) and result (ok, refused).",
		}, []string{"method", "result"}),
	}
	if opt.Registerer != nil {
		if err := opt.Registerer.Register(b.uploads); err != nil {
			return nil, fmt.Errorf("drop box metrics: %w", err)
		}
		if err := opt.Registerer.Register(b.logins); err != nil {
			return nil, fmt.Errorf("drop box metrics: %w", err)
		}
	}
	feeds, users, err := b.build(opt.Feeds)
	if err != nil {
		return nil, err
	}
	for _, bf := range feeds {
		removeStale(bf.incoming(), opt.Now().Add(-staleAfter), b.log)
	}
	b.feeds, b.users = feeds, users
	return b, nil
}

// build makes the served form of feeds: the secrets hashed, the folders
// made, a feed already served keeping its run queue. A feed that cannot be
// served is left out and its error joined into err.
func (b *Box) build(list []Feed) (feeds, users map[string]*boxFeed, err error) {
	b.mu.RLock()
	old := b.feeds
	b.mu.RUnlock()
	feeds, users = map[string]*boxFeed{}, map[string]*boxFeed{}
	var errs []error
	for _, f := range list {
		key := f.Tenant + "/" + f.Name
		bf := &boxFeed{Feed: f, wake: make(chan struct{}, 1)}
		if prev, ok := old[key]; ok {
			bf.wake = prev.wake // an upload's queued run survives the change
		}
		if f.Token != "" {
			bf.tokenHash, bf.hasToken = sha256.Sum256([]byte(f.Token)), true
		}
		if f.Password != "" {
			bf.passwordHash, bf.hasPassword = sha256.Sum256([]byte(f.Password)), true
		}
		bf.Token, bf.Password = "", "" // only the hashes stay
		if f.MaxSize <= 0 {
			errs = append(errs, fmt.Errorf("drop box feed %s: no size limit", key))
			continue
		}
		if _, dup := feeds[key]; dup {
			errs = append(errs, fmt.Errorf("drop box feed %s: declared twice", key))
			continue
		}
		made := true
		for _, dir := range []string{bf.Inbox(), bf.incoming()} {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				errs = append(errs, fmt.Errorf("drop box feed %s: %w", key, err))
				made = false
				break
			}
		}
		if !made {
			continue
		}
		feeds[key] = bf
		users[f.User()] = bf
	}
	return feeds, users, errors.Join(errs...)
}

// SetFeeds makes feeds the drop box's upload feeds from now on, as New
// does (tokens and passwords kept as hashes only, folders made): the
// registry's feeds change while the daemon runs. An upload in progress
// finishes into its feed's inbox; a feed no longer in feeds refuses the
// next upload and login as an unknown feed does, and its run_on_upload
// loop stops once a run in progress ends. A feed that cannot be served is
// left out, the others are set, and its error returned.
func (b *Box) SetFeeds(feeds []Feed) error {
	b.setMu.Lock() // one SetFeeds at a time: build reads the feeds before
	defer b.setMu.Unlock()
	built, users, err := b.build(feeds)
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, f := range built {
		if _, ok := b.feeds[key]; !ok {
			b.log.Info("drop box feed added", "tenant", f.Tenant, "feed", f.Name)
			// As New does: an API feed's crash leftovers from before a
			// restart are found here, not there.
			removeStale(f.incoming(), b.opt.Now().Add(-staleAfter), b.log)
		}
	}
	for key, f := range b.feeds {
		if _, ok := built[key]; !ok {
			b.log.Info("drop box feed removed: its uploads are refused from now on", "tenant", f.Tenant, "feed", f.Name)
		}
	}
	b.feeds, b.users = built, users
	b.armRunners()
	return err
}

// staleAfter is the age of a file in incoming that no upload writes any
// more (one a crash left behind): New and SetFeeds (for a feed it adds)
// remove those. Younger ones may be another replica's upload in progress,
// on a shared drop_box.dir.
const staleAfter = 24 * time.Hour

// removeStale removes the files in dir last modified before cutoff.
func removeStale(dir string, cutoff time.Time, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			log.Info("removed an upload a crash left unfinished", "file", filepath.Join(dir, e.Name()))
		}
	}
}

// feed returns the upload feed tenant/name.
func (b *Box) feed(tenant, name string) (*boxFeed, bool) {
	if b.opt.Refresh != nil {
		b.opt.Refresh()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	f, ok := b.feeds[tenant+"/"+name]
	return f, ok
}

// checkToken reports whether secret is an upload token of f: the
// configured one or one made through the API, compared as hashes in
// constant time.
func (b *Box) checkToken(ctx context.Context, f *boxFeed, secret string) (bool, error) {
	if secret == "" {
		return false, nil
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], f.tokenHash[:]) == 1 && f.hasToken {
		return true, nil
	}
	if b.opt.Keys == nil {
		return false, nil
	}
	c, err := b.opt.Keys.Check(ctx, CredentialKind, secret)
	switch {
	case errors.Is(err, credential.ErrInvalid):
		return false, nil
	case err != nil:
		return false, err
	}
	return c.Tenant == f.Tenant && c.Name == f.Name, nil
}

// ErrUnknownFeed: no feed with source: upload has that name.
var ErrUnknownFeed = errors.New("no feed with source: upload")

// CreateToken makes a new upload token for the feed, stores its hash and
// returns it (shown once); by is audited as its maker. The token made
// before through the API stops working (audited as revoked by by); the
// configured one does not.
func (b *Box) CreateToken(ctx context.Context, by credential.Actor, tenant, feed string) (string, error) {
	f, ok := b.feed(tenant, feed)
	if !ok {
		return "", fmt.Errorf("%w: %s/%s", ErrUnknownFeed, tenant, feed)
	}
	if b.opt.Keys == nil {
		return "", errors.New("drop box: no credential store")
	}
	old, err := b.opt.Keys.List(ctx, CredentialKind)
	if err != nil {
		return "", err
	}
	secret, err := credential.Generate(TokenPrefix)
	if err != nil {
		return "", err
	}
	if _, err := b.opt.Keys.AddScopedBy(ctx, by, CredentialKind, f.Tenant, f.Name, "api", secret, false, nil, b.opt.Now().UTC()); err != nil {
		return "", err
	}
	for _, c := range old {
		if c.Tenant == f.Tenant && c.Name == f.Name {
			if err := b.opt.Keys.RevokeBy(ctx, by, c.ID); err != nil && !errors.Is(err, credential.ErrConfigured) {
				return "", fmt.Errorf("the new token works, but revoking the one before failed: %w", err)
			}
		}
	}
	b.log.Info("upload token created", "tenant", f.Tenant, "feed", f.Name, "by", by.Name)
	return secret, nil
}

// RevokeTokens revokes the upload tokens made through the API for
// tenant/feed (audited as revoked by by), whether or not the drop box
// serves the feed still: a feed deleted and made again under its name
// must not take the tokens of the one before.
func (b *Box) RevokeTokens(ctx context.Context, by credential.Actor, tenant, feed string) error {
	if b.opt.Keys == nil {
		return nil
	}
	list, err := b.opt.Keys.List(ctx, CredentialKind)
	if err != nil {
		return err
	}
	for _, c := range list {
		if c.Tenant != tenant || c.Name != feed {
			continue
		}
		if err := b.opt.Keys.RevokeBy(ctx, by, c.ID); err != nil && !errors.Is(err, credential.ErrConfigured) {
			return fmt.Errorf("revoking an upload token of %s/%s: %w", tenant, feed, err)
		}
		b.log.Info("upload token revoked with its feed", "tenant", tenant, "feed", feed, "by", by.Name)
	}
	return nil
}

// stored is called once an upload is in the inbox.
func (b *Box) stored(f *boxFeed, via, name string, size int64, remote string) (runQueued bool) {
	b.uploads.WithLabelValues(via, resultStored).Inc()
	b.log.Info("upload stored", "tenant", f.Tenant, "feed", f.Name, "via", via, "file", name, "bytes", size, "remote", remote)
	if !f.RunOnUpload || b.opt.Run == nil {
		return false
	}
	select {
	case f.wake <- struct{}{}:
	default: // a run is queued already: it reads the newest file
	}
	return true
}

// Run runs the feeds whose uploads ask for it (run_on_upload) until ctx
// ends, then waits for the runs in progress. Feeds that SetFeeds adds get
// their loop while Run runs.
func (b *Box) Run(ctx context.Context) {
	b.mu.Lock()
	b.runCtx = ctx
	b.armRunners()
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	b.runCtx = nil // no runner starts after this: the Wait below sees them all
	b.mu.Unlock()
	b.running.Wait()
}

// armRunners starts the loop of each run_on_upload feed that has none and
// stops those of feeds gone or no longer run_on_upload. b.mu is held.
func (b *Box) armRunners() {
	if b.runners == nil {
		b.runners = map[string]chan struct{}{}
	}
	for key, stop := range b.runners {
		if f, ok := b.feeds[key]; !ok || !f.RunOnUpload || b.runCtx == nil {
			close(stop)
			delete(b.runners, key)
		}
	}
	if b.runCtx == nil || b.opt.Run == nil {
		return
	}
	for key, f := range b.feeds {
		if _, ok := b.runners[key]; ok || !f.RunOnUpload {
			continue
		}
		stop, ctx := make(chan struct{}), b.runCtx
		b.runners[key] = stop
		b.running.Add(1)
		go func() {
			defer b.running.Done()
			b.runLoop(ctx, f.Tenant, f.Name, f.wake, stop)
		}()
	}
}

// runLoop runs tenant/feed at each wake until ctx ends or stop is closed
// (the feed was removed); a run in progress then finishes.
func (b *Box) runLoop(ctx context.Context, tenant, feed string, wake <-chan struct{}, stop <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-wake:
		}
		for {
			err := b.opt.Run(ctx, tenant, feed)
			if !errors.Is(err, reconcile.ErrBusy) {
				if err != nil && ctx.Err() == nil {
					b.log.Error("run on upload", "tenant", tenant, "feed", feed, "err", err)
				}
				break
			}
			// Another run holds the feed: it may have started before
			// the upload landed, so run again after it.
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-time.After(b.opt.RetryBusy):
			}
		}
	}
}
