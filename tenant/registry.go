package tenant

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
)

// ErrNotFound: no live tenant of that id (none, or retired).
var ErrNotFound = errors.New("tenant: not found")

// ErrInvalidToken: a SCIM token that is no token of that tenant.
var ErrInvalidToken = errors.New("tenant: invalid token")

// Options are the registry's collaborators.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Resolver looks up the TXT records that verify a domain; default
	// net.DefaultResolver.
	Resolver TXTResolver
	// Secrets returns the Box that seals the secrets of the tenants the
	// API manages (feed passwords), called when one is stored or read;
	// nil: such a secret cannot be stored.
	Secrets func() (*secretbox.Box, error)
	// DropBox is the daemon's drop box (config.Config.APIDropBox), which
	// the API's feeds with source: upload are checked against; nil: not
	// enabled, such a feed is refused.
	DropBox *config.DropBox
}

// TXTResolver is what looks up DNS TXT records (*net.Resolver).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Registry hands out the tenants as they are now. It is safe for
// concurrent use; a reload swaps the whole snapshot at once.
type Registry struct {
	st       store.Store
	logger   *slog.Logger
	now      func() time.Time
	resolver TXTResolver
	secrets  func() (*secretbox.Box, error)
	dropBox  *config.DropBox

	snap atomic.Pointer[snapshot]
	// static is the file's layer: its tenants (with their secrets) and
	// webhooks, laid over what the store holds.
	static atomic.Pointer[staticLayer]
	// reload serializes reloads, and changes made through this process.
	reload sync.Mutex

	subMu sync.Mutex
	subs  []chan struct{}
}

type staticLayer struct {
	file     string
	tenants  map[string]*config.Tenant
	webhooks []config.Webhook
}

// snapshot is every tenant at one registry version.
type snapshot struct {
	version int64
	byID    map[string]*Tenant
	ids     []string
	// tokens maps a SCIM token's hash to its tenant and connection.
	tokens map[string]tokenRef
	// domains maps an email domain to its tenant, verified or not (a
	// domain belongs to one tenant either way).
	domains map[string]string
}

type tokenRef struct {
	tenant, conn string
	expires      time.Time
}

// New returns a registry over st, empty until Reload or Apply.
func New(st store.Store, opt Options) *Registry {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	r := &Registry{st: st, logger: opt.Logger, now: opt.Now, resolver: opt.Resolver, secrets: opt.Secrets, dropBox: opt.DropBox}
	r.snap.Store(&snapshot{version: -1, byID: map[string]*Tenant{}, tokens: map[string]tokenRef{}, domains: map[string]string{}})
	r.static.Store(&staticLayer{tenants: map[string]*config.Tenant{}})
	return r
}

// Get returns the live tenant of that id; ErrNotFound for none and for a
// retired one.
func (r *Registry) Get(_ context.Context, id string) (*Tenant, error) {
	t, ok := r.snap.Load().byID[id]
	if !ok || t.Retired() {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return t, nil
}

// Lookup returns the tenant of that id, retired or not.
func (r *Registry) Lookup(id string) (*Tenant, bool) {
	t, ok := r.snap.Load().byID[id]
	return t, ok
}

// List returns every tenant, retired ones included, by id.
func (r *Registry) List() []*Tenant {
	s := r.snap.Load()
	out := make([]*Tenant, 0, len(s.ids))
	for _, id := range s.ids {
		out = append(out, s.byID[id])
	}
	return out
}

// ByDomain returns the live tenant whose verified email domains include
// domain (any case). A domain not yet verified routes nowhere: anyone may
// list a domain, and sign-in by email must not follow a claim nobody
// proved.
func (r *Registry) ByDomain(domain string) (*Tenant, bool) {
	s := r.snap.Load()
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	id, ok := s.domains[d]
	if !ok {
		return nil, false
	}
	t, ok := s.byID[id]
	if !ok || t.Retired() {
		return nil, false
	}
	if st, ok := t.Domain(d); !ok || !st.Verified {
		return nil, false
	}
	return t, true
}

// Version is the registry version of the snapshot served.
func (r *Registry) Version() int64 { return r.snap.Load().version }

// Policy is the directory's policy of a live tenant (directory.Policies).
func (r *Registry) Policy(tenant string) (directory.Policy, bool) {
	t, err := r.Get(context.Background(), tenant)
	if err != nil {
		return directory.Policy{}, false
	}
	return t.Policy(), true
}

// CheckSCIMToken returns the live tenant and connection a SCIM bearer
// token belongs to; ErrInvalidToken when it is no token of tenant (or
// expired). The token is looked up by its hash and compared again in
// constant time.
func (r *Registry) CheckSCIMToken(_ context.Context, tenant, secret string) (*Tenant, SCIMConnection, error) {
	if secret == "" {
		return nil, SCIMConnection{}, ErrInvalidToken
	}
	h := credential.Hash(secret)
	s := r.snap.Load()
	ref, ok := s.tokens[h]
	if !ok || subtle.ConstantTimeCompare([]byte(ref.tenant), []byte(tenant)) != 1 {
		return nil, SCIMConnection{}, ErrInvalidToken
	}
	if !ref.expires.IsZero() && !r.now().Before(ref.expires) {
		return nil, SCIMConnection{}, ErrInvalidToken
	}
	t, ok := s.byID[tenant]
	if !ok || t.Retired() {
		return nil, SCIMConnection{}, ErrInvalidToken
	}
	c, ok := t.SCIMConnection(ref.conn)
	if !ok {
		return nil, SCIMConnection{}, ErrInvalidToken
	}
	return t, c, nil
}

// Reload reads the registry from the store and swaps in the new snapshot.
func (r *Registry) Reload(ctx context.Context) error {
	r.reload.Lock()
	defer r.reload.Unlock()
	return r.reloadLocked(ctx)
}

func (r *Registry) reloadLocked(ctx context.Context) error {
	// The version first: a change committed while the rest is read makes
	// the next poll reload again, never miss it.
	v, err := r.st.RegistryVersion(ctx)
	if err != nil {
		return err
	}
	recs, err := r.st.ListTenants(ctx)
	if err != nil {
		return err
	}
	conns, err := r.st.ListSCIMConnections(ctx)
	if err != nil {
		return err
	}
	toks, err := r.st.ListSCIMTokens(ctx)
	if err != nil {
		return err
	}
	doms, err := r.st.ListTenantDomains(ctx)
	if err != nil {
		return err
	}
	domainRec := make(map[string]store.DomainRecord, len(doms))
	for _, d := range doms {
		domainRec[d.Tenant+"\x00"+d.Domain] = d
	}
	feeds, hooks, err := r.loadFeeds(ctx)
	if err != nil {
		return err
	}
	static := r.static.Load()
	s := &snapshot{version: v, byID: make(map[string]*Tenant, len(recs)), tokens: make(map[string]tokenRef, len(toks)), domains: map[string]string{}}
	connName := make(map[string]string, len(conns))
	byConn := map[string][]Token{}
	for _, tk := range toks {
		byConn[tk.ConnectionID] = append(byConn[tk.ConnectionID], Token{ID: tk.ID, ManagedBy: tk.ManagedBy, CreatedAt: tk.CreatedAt, ExpiresAt: tk.ExpiresAt})
	}
	scimOf := map[string][]SCIMConnection{}
	for _, c := range conns {
		connName[c.ID] = c.Name
		scimOf[c.Tenant] = append(scimOf[c.Tenant], SCIMConnection{ID: c.ID, Name: c.Name, Authoritative: c.Authoritative,
			ManagedBy: c.ManagedBy, Tokens: byConn[c.ID], CreatedAt: c.CreatedAt})
	}
	for _, tk := range toks {
		s.tokens[tk.Hash] = tokenRef{tenant: tk.Tenant, conn: connName[tk.ConnectionID], expires: tk.ExpiresAt}
	}
	for _, rec := range recs {
		spec, ok := static.tenants[rec.ID]
		if !ok || rec.ManagedBy != store.ManagedByConfig {
			if spec, err = decodeSpec(rec.ID, rec.Spec); err != nil {
				// One broken row must not take every tenant down.
				r.logger.Error("tenant left out of the registry", "tenant", rec.ID, "err", err)
				continue
			}
			if err := r.openSecrets(rec.ID, spec); err != nil {
				r.logger.Error("a stored secret does not open: what uses it fails until it is set again or the key that sealed it is configured",
					"tenant", rec.ID, "err", err)
			}
		} else {
			spec = stripSCIM(spec)
		}
		spec.Name = rec.Name
		t := &Tenant{id: rec.ID, managedBy: rec.ManagedBy, apiMayExtend: rec.APIMayExtend, retiredAt: rec.RetiredAt,
			createdAt: rec.CreatedAt, updatedAt: rec.UpdatedAt, version: rec.Version, spec: spec, scim: scimOf[rec.ID]}
		for _, w := range static.webhooks {
			if len(w.Tenants) == 0 || containsString(w.Tenants, rec.ID) {
				t.webhooks = append(t.webhooks, w)
			}
		}
		for _, f := range feeds[rec.ID] {
			if _, inFile := spec.FindFeed(f.Name); inFile {
				// The file declared a feed of that name since: it wins.
				r.logger.Warn("a feed the API added is shadowed by the configuration's feed of the same name", "tenant", rec.ID, "feed", f.Name)
				continue
			}
			t.feeds = append(t.feeds, f)
		}
		t.hooks = hooks[rec.ID]
		for _, d := range spec.Domains {
			s.domains[d] = rec.ID
			t.domains = append(t.domains, domainStatus(rec, d, domainRec[rec.ID+"\x00"+d]))
		}
		s.byID[rec.ID] = t
		s.ids = append(s.ids, rec.ID)
	}
	sort.Strings(s.ids)
	r.snap.Store(s)
	r.announce()
	return nil
}

// Subscribe returns a channel that receives (without blocking the
// registry: one pending signal at most) after each reload that swapped in
// a snapshot, such as a change made on another replica: the scheduler
// and the webhook dispatchers re-arm from it.
func (r *Registry) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	r.subMu.Lock()
	r.subs = append(r.subs, ch)
	r.subMu.Unlock()
	return ch
}

func (r *Registry) announce() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for _, ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Watch keeps the snapshot current until ctx ends: it reloads when the
// store's registry version moved past the snapshot's, checked every
// interval (default 1 s) and at once when wake receives (PostgreSQL's
// NOTIFY; nil: poll only).
func (r *Registry) Watch(ctx context.Context, interval time.Duration, wake <-chan struct{}) {
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("reloading the tenant registry", "err", err)
		}
	}
}

// Refresh reloads when the store's registry version is not the
// snapshot's.
func (r *Registry) Refresh(ctx context.Context) error {
	v, err := r.st.RegistryVersion(ctx)
	if err != nil {
		return err
	}
	if v == r.Version() {
		return nil
	}
	return r.Reload(ctx)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
