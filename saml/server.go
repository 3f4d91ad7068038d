package saml

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/prometheus/client_golang/prometheus"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/ratelimit"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// Directory is what the service provider needs of the directory service.
type Directory interface {
	RecordLogin(ctx context.Context, l directory.Login) (directory.Card, error)
	MintLoginCode(ctx context.Context, tenant, cardID string, ttl time.Duration) (string, error)
	RedeemLoginCode(ctx context.Context, code, tenant string) (directory.Card, error)
}

// Auditor writes an audit line for a refused login that reached no card
// (a bad signature, a replay…); the directory audits refusals of a card
// itself (disabled, unknown person).
type Auditor interface {
	AuditLoginRefusal(ctx context.Context, tenant string, reason Reason, detail string) error
}

// TenantConfig is one tenant's service provider.
type TenantConfig struct {
	Tenant string
	// EntityID is ours; default PublicURL/saml/{tenant}/metadata.
	EntityID string
	// AppCallbackURL receives the login code; AllowedReturnURLs are the
	// return_to and RelayState targets it may be asked to pass on.
	AppCallbackURL    string
	AllowedReturnURLs []string
	AllowIDPInitiated bool
	// AllowSHA1 accepts RSA-SHA1 signatures and SHA-1 digests (old ADFS).
	AllowSHA1 bool
	// Attributes maps our attribute names (email, given_name, groups…) to
	// the IdP's attribute names.
	Attributes map[string]string
	// IdPMetadataURL or IdPMetadataFile: exactly one.
	IdPMetadataURL           string
	IdPMetadataFile          string
	AllowInsecureMetadataURL bool
	MetadataRefresh          time.Duration
	// SignRequests signs AuthnRequests (RSA-SHA256); they are signed
	// anyway when the IdP's metadata asks for it.
	SignRequests bool
	// ClockSkew is the tolerance on assertion times; RequestLifetime bounds
	// the login round trip (the request cookie, and an assertion's age).
	ClockSkew       time.Duration
	RequestLifetime time.Duration
	// CertFile and KeyFile sign; empty: a pair generated and kept in the
	// store. EncryptionCertFile and EncryptionKeyFile decrypt assertions.
	CertFile, KeyFile                     string
	EncryptionCertFile, EncryptionKeyFile string
}

// Tenants is where the server finds each tenant's SP settings as they are
// now, per request: RegistryTenants over the tenant registry.
type Tenants interface {
	// SAMLTenant returns the tenant's settings and a version that changes
	// whenever they do; false for a tenant without SAML (or none, or a
	// retired one).
	SAMLTenant(ctx context.Context, id string) (TenantConfig, string, bool)
	// SAMLTenantIDs lists the tenants with SAML now.
	SAMLTenantIDs() []string
	// TenantForDomain returns the live tenant whose email domains include
	// domain, and whether it has SAML.
	TenantForDomain(domain string) (id string, saml, ok bool)
}

// RegistryTenants serves each tenant's SP settings from the registry.
func RegistryTenants(reg *tenant.Registry) Tenants { return registryTenants{reg} }

type registryTenants struct{ reg *tenant.Registry }

func (r registryTenants) SAMLTenant(ctx context.Context, id string) (TenantConfig, string, bool) {
	t, err := r.reg.Get(ctx, id)
	if err != nil {
		return TenantConfig{}, "", false
	}
	tc, ok := ConfigOf(t)
	return tc, strconv.FormatInt(t.Version(), 10), ok
}

func (r registryTenants) TenantForDomain(domain string) (string, bool, bool) {
	t, ok := r.reg.ByDomain(domain)
	if !ok {
		return "", false, false
	}
	_, saml := t.SAML()
	return t.ID(), saml, true
}

func (r registryTenants) SAMLTenantIDs() []string {
	var ids []string
	for _, t := range r.reg.List() {
		if _, ok := t.SAML(); ok && !t.Retired() {
			ids = append(ids, t.ID())
		}
	}
	return ids
}

// ConfigOf is the SP settings of a tenant; false when it has no SAML.
func ConfigOf(t *tenant.Tenant) (TenantConfig, bool) {
	s, ok := t.SAML()
	if !ok {
		return TenantConfig{}, false
	}
	return TenantConfig{Tenant: t.ID(), EntityID: s.EntityID,
		AppCallbackURL: t.AppCallbackURL(), AllowedReturnURLs: t.AllowedReturnURLs(), AllowIDPInitiated: s.AllowIDPInitiated,
		Attributes: s.Attributes, IdPMetadataURL: s.IDPMetadataURL, IdPMetadataFile: s.IDPMetadataFile,
		AllowInsecureMetadataURL: s.AllowInsecureMetadataURL, MetadataRefresh: s.MetadataRefresh.Std(),
		SignRequests: s.SignRequestsEnabled(), ClockSkew: s.ClockSkew.Std(), RequestLifetime: s.RequestCookieLifetime.Std(),
		AllowSHA1: s.AllowSHA1, CertFile: s.CertFile, KeyFile: s.KeyFile, EncryptionCertFile: s.EncryptionCertFile, EncryptionKeyFile: s.EncryptionKeyFile}, true
}

// FixedTenants serves these settings, which never change: for tests and
// tools that have no registry.
func FixedTenants(tcs ...TenantConfig) Tenants {
	f := fixedTenants{m: map[string]TenantConfig{}}
	for _, tc := range tcs {
		f.m[tc.Tenant] = tc
		f.ids = append(f.ids, tc.Tenant)
	}
	return f
}

type fixedTenants struct {
	m   map[string]TenantConfig
	ids []string
}

func (f fixedTenants) SAMLTenant(_ context.Context, id string) (TenantConfig, string, bool) {
	tc, ok := f.m[id]
	return tc, "fixed", ok
}

func (f fixedTenants) SAMLTenantIDs() []string { return f.ids }

func (f fixedTenants) TenantForDomain(string) (string, bool, bool) { return "", false, false }

// Options are the server's collaborators and knobs.
type Options struct {
	// PublicURL is the base of the SP's URLs (https://rosterd.example.com).
	PublicURL string
	Logger    *slog.Logger
	// Registerer receives the metrics; nil: a private registry.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HTTPClient fetches IdP metadata; default a client with a timeout.
	HTTPClient *http.Client
	// Auditor, when set, audits refusals that reached no card.
	Auditor Auditor
	// CodeTTL is a login code's lifetime; default 60 s.
	CodeTTL time.Duration
	// Secrets seals the SP private keys generated and kept in the store.
	// Required when a tenant has no cert_file and key_file.
	Secrets *secretbox.Box
	// LoadSecrets, when Secrets is nil, is called for it the first time a
	// tenant needs a stored key (a tenant given SAML while the daemon
	// runs), so that no key-encryption key is made for a daemon that never
	// needs one.
	LoadSecrets func() (*secretbox.Box, error)
	// RefusalAuditBurst and RefusalAuditEvery rate-limit the audit lines
	// of refusals that reach no card, per tenant and source address: a
	// burst of RefusalAuditBurst (default 20), then one per
	// RefusalAuditEvery (default 3 s). Past it a refusal is answered,
	// logged and counted (rosterd_saml_refusal_audits_dropped_total), not
	// audited.
	RefusalAuditBurst int
	RefusalAuditEvery time.Duration
}

// The refusal audit limit's defaults: a burst of 20 audit lines per
// tenant and source, then one every 3 s (20 a minute); at most 10,000
// sources remembered.
const (
	defaultAuditBurst   = 20
	defaultAuditEvery   = 3 * time.Second
	defaultAuditSources = 10_000
)

// Server is the SAML service provider of every tenant that has one.
type Server struct {
	dir     Directory
	st      store.SAMLStore
	opt     Options
	logger  *slog.Logger
	now     func() time.Time
	secure  bool
	base    *url.URL
	tenants Tenants
	// cache holds each tenant's SP, built from the settings of one
	// version (Dex's connectors cache): a request for a tenant whose
	// settings changed builds a new one.
	mu    sync.Mutex
	cache map[string]*provider

	logins     *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	redeems    *prometheus.CounterVec
	mdFailures *prometheus.CounterVec
	mdStale    *prometheus.GaugeVec
	mdLoaded   *prometheus.GaugeVec
	// auditLimit bounds the audit lines of refusals that reach no card,
	// per tenant and source: anyone can post to an ACS, and each post must
	// not be able to add a line to the audit trail. Past the limit a
	// refusal is still answered, logged and counted (auditsDropped), just
	// not audited.
	auditLimit    *ratelimit.Limiter
	auditsDropped *prometheus.CounterVec
	// handoff ends the logins the console started (HandOffTo).
	handoff Handoff
}

// provider is one tenant's SP.
type provider struct {
	cfg      TenantConfig
	version  string
	self     Endpoint
	metadata url.URL
	acs      url.URL
	keys     KeyPair
	enc      *KeyPair
	cookie   []byte // HMAC key of the request cookies
	idp      *metadataSource
	// validate is Validator.Validate; tests swap it to reach the panic path.
	validate func(v *Validator, raw []byte, requestID string) (*Assertion, error)
}

// New builds the service providers of the tenants that have SAML now: each
// one's keys (from files, or from the store, generated on first start) and
// a first load of its IdP's metadata. A metadata load that fails is no
// error here: the tenant's login answers 503 and /readyz says why until a
// refresh succeeds. Run keeps refreshing. A tenant that gains SAML, or
// whose settings change, later gets its SP built at its next request.
func New(ctx context.Context, dir Directory, st store.SAMLStore, tenants Tenants, opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opt.CodeTTL <= 0 {
		opt.CodeTTL = 60 * time.Second
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	if opt.RefusalAuditBurst <= 0 {
		opt.RefusalAuditBurst = defaultAuditBurst
	}
	if opt.RefusalAuditEvery <= 0 {
		opt.RefusalAuditEvery = defaultAuditEvery
	}
	base, err := url.Parse(strings.TrimSuffix(opt.PublicURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("saml: public URL %q is not an absolute http(s) URL", opt.PublicURL)
	}
	s := &Server{dir: dir, st: st, opt: opt, logger: opt.Logger, now: opt.Now, secure: base.Scheme == "https", base: base,
		tenants: tenants, cache: map[string]*provider{}}
	s.auditLimit = ratelimit.New(opt.Now, opt.RefusalAuditBurst, opt.RefusalAuditEvery, defaultAuditSources)
	s.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rosterd_saml_logins_total",
		Help: "SAML logins by tenant and outcome (success, refused, disabled, pending_approval, unknown_person, error)."}, []string{"tenant", "outcome"})
	s.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rosterd_saml_refusals_total",
		Help: "SAML logins refused, by tenant and reason."}, []string{"tenant", "reason"})
	s.redeems = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rosterd_saml_login_code_redemptions_total",
		Help: "Login code redemptions by outcome (ok, invalid, disabled, error)."}, []string{"outcome"})
	s.mdFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rosterd_saml_idp_metadata_failures_total",
		Help: "Failed loads of a tenant's IdP metadata."}, []string{"tenant"})
	s.mdStale = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rosterd_saml_idp_metadata_stale",
		Help: "1 when the last load of the tenant's IdP metadata failed (logins use the last good one, if any)."}, []string{"tenant"})
	s.mdLoaded = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rosterd_saml_idp_metadata_loaded_timestamp_seconds",
		Help: "When the tenant's IdP metadata last loaded successfully."}, []string{"tenant"})
	s.auditsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rosterd_saml_refusal_audits_dropped_total",
		Help: "SAML refusals that reached no card and were not audited: past the rate limit per tenant and source address."}, []string{"tenant"})
	for _, c := range []prometheus.Collector{s.logins, s.refusals, s.redeems, s.mdFailures, s.mdStale, s.mdLoaded, s.auditsDropped} {
		if err := opt.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("saml: registering metrics: %w", err)
		}
	}

	for _, id := range tenants.SAMLTenantIDs() {
		tc, version, ok := tenants.SAMLTenant(ctx, id)
		if !ok {
			continue
		}
		p, err := s.newProvider(ctx, base, tc)
		if err != nil {
			return nil, fmt.Errorf("saml: tenant %s: %w", tc.Tenant, err)
		}
		p.version = version
		s.cache[id] = p
	}
	for _, p := range s.providers() {
		s.loadMetadata(ctx, p)
	}
	return s, nil
}

// secrets is Options.Secrets, loaded through LoadSecrets at first need.
func (s *Server) secrets() (*secretbox.Box, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.Secrets == nil && s.opt.LoadSecrets != nil {
		box, err := s.opt.LoadSecrets()
		if err != nil {
			return nil, err
		}
		s.opt.Secrets = box
	}
	return s.opt.Secrets, nil
}

// providers returns the SPs of the tenants that have SAML now, by tenant.
func (s *Server) providers() []*provider {
	var out []*provider
	for _, id := range s.tenants.SAMLTenantIDs() {
		s.mu.Lock()
		p := s.cache[id]
		s.mu.Unlock()
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// providerFor returns the tenant's SP as its settings are now, building
// (and loading the metadata of) a new one when they changed; nil for a
// tenant without SAML. A new SP that cannot be built is an error.
func (s *Server) providerFor(ctx context.Context, id string) (*provider, error) {
	tc, version, ok := s.tenants.SAMLTenant(ctx, id)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	p := s.cache[id]
	s.mu.Unlock()
	if p != nil && p.version == version {
		return p, nil
	}
	p, err := s.newProvider(ctx, s.base, tc)
	if err != nil {
		return nil, err
	}
	p.version = version
	s.loadMetadata(ctx, p)
	s.mu.Lock()
	if q := s.cache[id]; q != nil && q.version == version {
		p = q // another request built it first
	} else {
		s.cache[id] = p
	}
	s.mu.Unlock()
	s.logger.Info("SAML settings of the tenant loaded", "tenant", id, "version", version)
	return p, nil
}

// othersOf are the endpoints of the other tenants' SPs: an assertion meant
// for one of them is refused by name.
func (s *Server) othersOf(ctx context.Context, p *provider) []Endpoint {
	var out []Endpoint
	for _, id := range s.tenants.SAMLTenantIDs() {
		if id == p.cfg.Tenant {
			continue
		}
		if tc, _, ok := s.tenants.SAMLTenant(ctx, id); ok {
			out = append(out, s.endpointOf(tc))
		}
	}
	return out
}

// endpointOf is a tenant's SP entity id and ACS URL.
func (s *Server) endpointOf(tc TenantConfig) Endpoint {
	entity := tc.EntityID
	if entity == "" {
		entity = s.base.JoinPath("saml", tc.Tenant, "metadata").String()
	}
	return Endpoint{Tenant: tc.Tenant, EntityID: entity, ACSURL: s.base.JoinPath("saml", tc.Tenant, "acs").String()}
}

func (s *Server) newProvider(ctx context.Context, base *url.URL, tc TenantConfig) (*provider, error) {
	if tc.AppCallbackURL == "" {
		return nil, errors.New("app_callback_url is required: login codes are sent there")
	}
	if (tc.IdPMetadataURL == "") == (tc.IdPMetadataFile == "") {
		return nil, errors.New("set exactly one of idp_metadata_url and idp_metadata_file")
	}
	if tc.IdPMetadataURL != "" {
		u, err := url.Parse(tc.IdPMetadataURL)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && tc.AllowInsecureMetadataURL)) {
			return nil, fmt.Errorf("idp_metadata_url %q: must be https:// (or http:// with allow_insecure_metadata_url)", tc.IdPMetadataURL)
		}
	}
	if tc.RequestLifetime <= 0 {
		tc.RequestLifetime = 5 * time.Minute
	}
	if tc.MetadataRefresh <= 0 {
		tc.MetadataRefresh = 24 * time.Hour
	}
	p := &provider{cfg: tc, validate: (*Validator).Validate}
	p.metadata = *base.JoinPath("saml", tc.Tenant, "metadata")
	p.acs = *base.JoinPath("saml", tc.Tenant, "acs")
	if p.cfg.EntityID == "" {
		p.cfg.EntityID = p.metadata.String()
	}
	p.self = Endpoint{Tenant: tc.Tenant, EntityID: p.cfg.EntityID, ACSURL: p.acs.String()}

	var err error
	if tc.CertFile != "" {
		p.keys, err = LoadKeyPair(tc.CertFile, tc.KeyFile)
	} else {
		var (
			sealed bool
			box    *secretbox.Box
		)
		if box, err = s.secrets(); err != nil {
			return nil, err
		}
		p.keys, sealed, err = StoredKeyPair(ctx, s.st, box, tc.Tenant, s.now())
		if sealed {
			s.logger.Info("sealed the stored SAML SP key, kept in the clear by an older rosterd", "tenant", tc.Tenant)
		}
	}
	if err != nil {
		return nil, err
	}
	if tc.EncryptionCertFile != "" {
		enc, err := LoadKeyPair(tc.EncryptionCertFile, tc.EncryptionKeyFile)
		if err != nil {
			return nil, err
		}
		p.enc = &enc
	}
	// The request cookies are signed with a key derived from the SP key,
	// which every replica shares, so a login begun on one replica ends on
	// any other.
	mac := hmac.New(sha256.New, x509.MarshalPKCS1PrivateKey(p.keys.Key))
	mac.Write([]byte("rosterd saml request cookie\x00" + tc.Tenant))
	p.cookie = mac.Sum(nil)
	p.idp = &metadataSource{tenant: tc.Tenant, url: tc.IdPMetadataURL, file: tc.IdPMetadataFile, client: s.opt.HTTPClient}
	return p, nil
}

func (s *Server) loadMetadata(ctx context.Context, p *provider) {
	if err := p.idp.load(ctx, s.now()); err != nil {
		s.mdFailures.WithLabelValues(p.cfg.Tenant).Inc()
		s.mdStale.WithLabelValues(p.cfg.Tenant).Set(1)
		s.logger.Warn("IdP metadata load failed", "tenant", p.cfg.Tenant, "kept_last_good", p.idp.IdP() != nil, "err", err)
		return
	}
	s.mdStale.WithLabelValues(p.cfg.Tenant).Set(0)
	s.mdLoaded.WithLabelValues(p.cfg.Tenant).Set(float64(s.now().Unix()))
}

// Run refreshes every tenant's IdP metadata on its interval (a failed load
// is retried within a minute) and purges expired assertion ids and login
// codes, until ctx ends.
func (s *Server) Run(ctx context.Context) {
	next := map[*provider]time.Time{}
	for _, p := range s.providers() {
		next[p] = s.now().Add(s.retryIn(p))
	}
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-purge.C:
			if n, err := s.st.PurgeSAML(ctx, s.now()); err != nil {
				s.logger.Warn("purging expired SAML rows", "err", err)
			} else if n > 0 {
				s.logger.Debug("purged expired SAML rows", "rows", n)
			}
		case <-tick.C:
			current := s.providers()
			for _, p := range current {
				if n, ok := next[p]; !ok {
					// Built at a request since: its metadata is fresh.
					next[p] = s.now().Add(s.retryIn(p))
					continue
				} else if s.now().Before(n) {
					continue
				}
				s.loadMetadata(ctx, p)
				next[p] = s.now().Add(s.retryIn(p))
			}
			for p := range next {
				if !slices.Contains(current, p) {
					delete(next, p)
				}
			}
		}
	}
}

func (s *Server) retryIn(p *provider) time.Duration {
	if p.idp.health() != nil {
		return min(p.cfg.MetadataRefresh, time.Minute)
	}
	return p.cfg.MetadataRefresh
}

// Refresh loads every tenant's IdP metadata now.
func (s *Server) Refresh(ctx context.Context) {
	for _, p := range s.providers() {
		s.loadMetadata(ctx, p)
	}
}

// Ready is the readiness check: every tenant has IdP metadata and its last
// refresh worked. The error names each tenant that has not.
func (s *Server) Ready(context.Context) error {
	var problems []string
	for _, p := range s.providers() {
		if err := p.idp.health(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Mux is where routes are registered (daemon.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers /saml/{tenant}/metadata, /login and /acs.
func (s *Server) Mount(mux Mux) {
	mux.Handle("GET /saml/{tenant}/metadata", http.HandlerFunc(s.serveMetadata))
	mux.Handle("GET /saml/{tenant}/login", http.HandlerFunc(s.serveLogin))
	mux.Handle("GET /saml/login", http.HandlerFunc(s.serveLoginByDomain))
	mux.Handle("POST /saml/{tenant}/acs", http.HandlerFunc(s.serveACS))
}

func (s *Server) provider(w http.ResponseWriter, r *http.Request) *provider {
	p, err := s.providerFor(r.Context(), r.PathValue("tenant"))
	if err != nil {
		s.logger.Error("building the tenant's SAML service provider", "tenant", r.PathValue("tenant"), "err", err)
		page(w, http.StatusServiceUnavailable, "Single sign-on is not available", "Single sign-on is not set up correctly for your organization. Tell your administrator.", "")
		return nil
	}
	if p == nil {
		page(w, http.StatusNotFound, "Not found", "There is no single sign-on here.", "")
	}
	return p
}

// spFor builds crewjam's view of the SP for the current IdP metadata. It is
// a plain struct; building it per request costs nothing worth caching.
func (p *provider) spFor(idp *IdP) *crewjam.ServiceProvider {
	sp := &crewjam.ServiceProvider{
		EntityID:          p.cfg.EntityID,
		Key:               p.keys.Key,
		Certificate:       p.keys.Cert,
		MetadataURL:       p.metadata,
		AcsURL:            p.acs,
		AllowIDPInitiated: p.cfg.AllowIDPInitiated,
		AuthnNameIDFormat: crewjam.UnspecifiedNameIDFormat,
	}
	if idp != nil {
		sp.IDPMetadata = idp.Descriptor
		if p.cfg.SignRequests || idp.WantSignedRequests {
			sp.SignatureMethod = dsig.RSASHA256SignatureMethod
		}
	}
	return sp
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	p := s.provider(w, r)
	if p == nil {
		return
	}
	sp := p.spFor(p.idp.IdP())
	sp.SignatureMethod = dsig.RSASHA256SignatureMethod // advertise the signing key either way
	md := sp.Metadata()
	cert := func(c *x509.Certificate) crewjam.KeyInfo {
		return crewjam.KeyInfo{X509Data: crewjam.X509Data{X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.Raw)}}}}
	}
	// crewjam offers the signing certificate for encryption too; offer
	// encryption only with the key that decrypts.
	kds := []crewjam.KeyDescriptor{{Use: "signing", KeyInfo: cert(p.keys.Cert)}}
	if p.enc != nil {
		kds = append(kds, crewjam.KeyDescriptor{Use: "encryption", KeyInfo: cert(p.enc.Cert), EncryptionMethods: []crewjam.EncryptionMethod{
			{Algorithm: "http://www.w3.org/2001/04/xmlenc#aes128-cbc"}, {Algorithm: "http://www.w3.org/2001/04/xmlenc#aes256-cbc"},
			{Algorithm: "http://www.w3.org/2009/xmlenc11#aes128-gcm"}, {Algorithm: "http://www.w3.org/2009/xmlenc11#aes256-gcm"},
			{Algorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"}}})
	}
	authnSigned := p.cfg.SignRequests
	for i := range md.SPSSODescriptors {
		d := &md.SPSSODescriptors[i]
		d.KeyDescriptors = kds
		d.AuthnRequestsSigned = &authnSigned
		// Only the POST binding is served at the ACS.
		d.AssertionConsumerServices = d.AssertionConsumerServices[:1]
		d.NameIDFormats = []crewjam.NameIDFormat{crewjam.EmailAddressNameIDFormat}
	}
	body, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		page(w, http.StatusInternalServerError, "Error", "The metadata could not be produced.", "")
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Content-Disposition", `inline; filename="rosterd-`+p.cfg.Tenant+`-metadata.xml"`)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// requestCookie is what the browser carries from /login to /acs.
type requestCookie struct {
	Tenant    string `json:"t"`
	RequestID string `json:"r"`
	ReturnTo  string `json:"u,omitempty"`
	Expires   int64  `json:"e"`
	// Purpose marks a login the console started (StartLogin): it ends in
	// the console's Handoff, not at the platform.
	Purpose string `json:"p,omitempty"`
}

const cookiePrefix = "rosterd_saml_"

func (p *provider) sealCookie(c requestCookie) string {
	payload, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, p.cookie)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (p *provider) openCookie(v string, now time.Time) (requestCookie, bool) {
	b64, sig, ok := strings.Cut(v, ".")
	if !ok {
		return requestCookie{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(b64)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return requestCookie{}, false
	}
	mac := hmac.New(sha256.New, p.cookie)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return requestCookie{}, false
	}
	var c requestCookie
	if json.Unmarshal(payload, &c) != nil || c.Tenant != p.cfg.Tenant || now.Unix() >= c.Expires {
		return requestCookie{}, false
	}
	return c, true
}

func (s *Server) setCookie(w http.ResponseWriter, p *provider, name, value string, maxAge int) {
	c := &http.Cookie{Name: name, Value: value, Path: "/saml/" + p.cfg.Tenant + "/", MaxAge: maxAge, HttpOnly: true}
	if s.secure {
		// The IdP posts back from its own site: only a SameSite=None cookie
		// goes along, and browsers take those only when Secure.
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	} else {
		c.SameSite = http.SameSiteLaxMode
	}
	http.SetCookie(w, c)
}

// serveLoginByDomain is the platform's one "Sign in with SSO" button:
// GET /saml/login?email=ann@acme.com (or ?domain=acme.com) finds the
// tenant that holds the domain and goes on to its login, return_to
// passed along. An unknown domain, or one whose tenant has no SSO, gets a
// page that says so.
func (s *Server) serveLoginByDomain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	domain := q.Get("domain")
	if email := q.Get("email"); email != "" {
		at := strings.LastIndexByte(email, '@')
		if at < 0 || len(email) > 320 {
			page(w, http.StatusBadRequest, "Sign-in not started", "That is not an email address. Enter the address you use at work.", "")
			return
		}
		domain = email[at+1:]
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || len(domain) > 253 {
		page(w, http.StatusBadRequest, "Sign-in not started", "Enter your work email address to sign in with single sign-on.", "")
		return
	}
	id, hasSAML, ok := s.tenants.TenantForDomain(domain)
	if !ok {
		// The domain is not repeated into the page: it came from the URL.
		page(w, http.StatusNotFound, "No single sign-on for this address",
			"No organization has set up single sign-on for the domain of this email address. Check the address, or sign in another way.", "")
		return
	}
	if !hasSAML {
		page(w, http.StatusNotFound, "No single sign-on for this address",
			"Your organization has not set up single sign-on yet. Sign in another way, or ask your administrator.", "")
		return
	}
	target := s.base.JoinPath("saml", id, "login")
	if rt := q.Get("return_to"); rt != "" {
		target.RawQuery = url.Values{"return_to": {rt}}.Encode()
	}
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	p := s.provider(w, r)
	if p == nil {
		return
	}
	returnTo := r.URL.Query().Get("return_to")
	if returnTo != "" && !p.allowedReturn(returnTo) {
		s.logger.Warn("saml login with a return_to that is not allowed", "tenant", p.cfg.Tenant)
		page(w, http.StatusBadRequest, "Sign-in not started", "The address to return to after sign-in is not one this service may send you to.", "")
		return
	}
	s.startLogin(w, r, p, returnTo, "")
}

// startLogin sends the browser to the IdP with a signed AuthnRequest, and
// keeps its id, return_to and purpose in the request cookie.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, p *provider, returnTo, purpose string) {
	idp := p.idp.IdP()
	if idp == nil {
		page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Single sign-on is not available right now. Please try again in a few minutes.", "")
		return
	}
	sp := p.spFor(idp)
	req, err := sp.MakeAuthenticationRequest(idp.SSOURL, crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		s.logger.Error("making AuthnRequest", "tenant", p.cfg.Tenant, "err", err)
		page(w, http.StatusInternalServerError, "Sign-in unavailable", "Single sign-on could not be started.", "")
		return
	}
	now := s.now()
	req.IssueInstant = now.UTC()
	relay := randomToken(18)
	redirect, err := req.Redirect(relay, sp)
	if err != nil {
		s.logger.Error("signing AuthnRequest", "tenant", p.cfg.Tenant, "err", err)
		page(w, http.StatusInternalServerError, "Sign-in unavailable", "Single sign-on could not be started.", "")
		return
	}
	life := p.cfg.RequestLifetime
	s.setCookie(w, p, cookiePrefix+relay, p.sealCookie(requestCookie{Tenant: p.cfg.Tenant, RequestID: req.ID, ReturnTo: returnTo,
		Expires: now.Add(life).Unix(), Purpose: purpose}), int(life/time.Second))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// allowedReturn: same scheme and host as an allowed URL, and a path under
// its path (an allowed URL ending in "/" admits what is below it; one
// without, itself only). Paths are compared as the browser will resolve
// them: percent-decoded and with dot segments removed, so "/app/%2e%2e/x"
// is "/x". An encoded slash or backslash, an empty segment ("//", which an
// app that redirects to the path alone turns into another host), and a
// control character are refused outright: no two readers agree on them.
func (p *provider) allowedReturn(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" || (u.Scheme != "https" && u.Scheme != "http") ||
		strings.ContainsAny(raw, "\\\r\n\t") {
		return false
	}
	// Encoded separators are looked for in the text itself: u.EscapedPath
	// re-encodes the decoded path when the raw one has bytes it would
	// escape otherwise, and then "%2f" reads as "/".
	beforeQuery, _, _ := strings.Cut(raw, "?")
	beforeQuery, _, _ = strings.Cut(beforeQuery, "#")
	if lower := strings.ToLower(beforeQuery); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return false
	}
	up, ok := returnPath(u)
	if !ok {
		return false
	}
	for _, a := range p.cfg.AllowedReturnURLs {
		au, err := url.Parse(a)
		if err != nil || !strings.EqualFold(au.Scheme, u.Scheme) || !strings.EqualFold(au.Host, u.Host) {
			continue
		}
		ap, ok := returnPath(au)
		if !ok {
			continue
		}
		if up == ap || (strings.HasSuffix(ap, "/") && strings.HasPrefix(up, ap)) {
			return true
		}
	}
	return false
}

// returnPath is u's path as a browser resolves it: decoded, dot segments
// removed (RFC 3986 §5.2.4), "/" when empty. ok is false for a path no
// comparison can be trusted on. url.Parse has decoded u.Path, "%2e" into
// "." too, as browsers read it.
func returnPath(u *url.URL) (string, bool) {
	esc := strings.ToLower(u.EscapedPath())
	if strings.Contains(esc, "%2f") || strings.Contains(esc, "%5c") {
		return "", false
	}
	for _, c := range []byte(u.Path) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	in := u.Path
	if in == "" {
		in = "/"
	}
	if !strings.HasPrefix(in, "/") {
		return "", false
	}
	segs := strings.Split(in[1:], "/")
	var out []string
	for i, seg := range segs {
		last := i == len(segs)-1
		switch seg {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			// Climbing above the root means nothing to a browser (it
			// stays at "/") and much to a path-joining app: refused.
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
			if last {
				out = append(out, "")
			}
		case "":
			if !last {
				return "", false
			}
			out = append(out, "")
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

// maxResponseSize bounds the ACS form.
const maxResponseSize = 1 << 20

func (s *Server) serveACS(w http.ResponseWriter, r *http.Request) {
	p := s.provider(w, r)
	if p == nil {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	ref := randomToken(6)
	r.Body = http.MaxBytesReader(w, r.Body, maxResponseSize)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("SAMLResponse") == "" {
		s.refused(r, w, p, ref, refuse(ReasonMalformed, "no SAMLResponse form field"))
		return
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r.PostForm.Get("SAMLResponse")), ""))
	if err != nil {
		s.refused(r, w, p, ref, refuse(ReasonMalformed, "SAMLResponse is not base64"))
		return
	}
	idp := p.idp.IdP()
	if idp == nil {
		page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Single sign-on is not available right now. Please try again in a few minutes.", ref)
		return
	}
	relay := r.PostForm.Get("RelayState")
	var rc requestCookie
	if relay != "" && !strings.ContainsAny(relay, ":/") {
		if c, err := r.Cookie(cookiePrefix + relay); err == nil {
			rc, _ = p.openCookie(c.Value, s.now())
			s.setCookie(w, p, cookiePrefix+relay, "", -1)
		}
	}
	a, err := s.validate(p, idp, raw, rc.RequestID)
	if err == nil {
		var fresh bool
		fresh, err = s.st.RememberAssertion(r.Context(), p.cfg.Tenant, a.ID, a.Expires)
		if err == nil && !fresh {
			err = refuse(ReasonReplay, "assertion %s was used before", a.ID)
		}
	}
	var ref2 *Refusal
	if rc.Purpose != "" && s.handoff != nil && isTest(rc.Purpose) {
		// A test of the connection: shown to the one who started it,
		// recorded nowhere (no card changes, no login code).
		s.tested(w, r, p, rc.Purpose, a, err, ref)
		return
	}
	if errors.As(err, &ref2) {
		s.refused(r, w, p, ref, ref2)
		return
	}
	if err != nil {
		s.failed(w, p, ref, "recording the assertion id", err)
		return
	}

	returnTo := rc.ReturnTo
	if a.InResponseTo == "" && relay != "" {
		// IdP-initiated: RelayState, when it is a URL, is where the person
		// wants to go; only an allowed one is passed on.
		if p.allowedReturn(relay) {
			returnTo = relay
		} else {
			s.logger.Warn("IdP-initiated RelayState is not an allowed return URL; dropped", "tenant", p.cfg.Tenant, "ref", ref)
		}
	}

	login, refusal := p.identity(a)
	if refusal != nil {
		s.refused(r, w, p, ref, refusal)
		return
	}
	card, err := s.dir.RecordLogin(r.Context(), login)
	switch {
	case errors.Is(err, directory.ErrPendingApproval): // an ErrDisabled too: first
		s.refused(r, w, p, ref, &Refusal{Reason: ReasonPendingApproval, Detail: "card " + card.ID + " waits for approval"})
		return
	case errors.Is(err, directory.ErrDisabled):
		s.refused(r, w, p, ref, &Refusal{Reason: ReasonCardDisabled, Detail: "card " + card.ID})
		return
	case errors.Is(err, directory.ErrUnknownPerson):
		s.refused(r, w, p, ref, &Refusal{Reason: ReasonUnknownPerson, Detail: "no card and just-in-time creation is off"})
		return
	case err != nil:
		var bad *directory.InvalidEmailError
		if errors.As(err, &bad) {
			s.refused(r, w, p, ref, &Refusal{Reason: ReasonNoEmail, Detail: "the email the IdP sent is not valid"})
			return
		}
		s.failed(w, p, ref, "recording the login", err)
		return
	}
	if rc.Purpose != "" && s.handoff != nil {
		s.logins.WithLabelValues(p.cfg.Tenant, "success").Inc()
		s.logger.Info("saml login to the console", "tenant", p.cfg.Tenant, "card", card.ID, "ref", ref)
		s.handoff.ConsoleLogin(w, r, rc.Purpose, card)
		return
	}
	code, err := s.mintCode(r.Context(), p.cfg.Tenant, card.ID)
	if err != nil {
		s.failed(w, p, ref, "storing the login code", err)
		return
	}
	s.logins.WithLabelValues(p.cfg.Tenant, "success").Inc()
	s.logger.Info("saml login", "tenant", p.cfg.Tenant, "card", card.ID, "idp_initiated", a.InResponseTo == "", "ref", ref)
	target, _ := url.Parse(p.cfg.AppCallbackURL)
	q := target.Query()
	q.Set("code", code)
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// validate runs the validator and turns a panic in it into a refusal:
// crewjam/saml v0.5.1 panics on an assertion without Issuer, and whatever
// XML library code a hostile response reaches must not crash the request.
func (s *Server) validate(p *provider, idp *IdP, raw []byte, requestID string) (a *Assertion, err error) {
	defer func() {
		if v := recover(); v != nil {
			a, err = nil, refuse(ReasonPanic, "validation panicked: %v", v)
		}
	}()
	v := &Validator{SP: p.self, Others: s.othersOf(context.Background(), p), IdPEntityID: idp.EntityID, IdPCerts: idp.Certs,
		ClockSkew: p.cfg.ClockSkew, MaxAge: p.cfg.RequestLifetime, AllowIDPInitiated: p.cfg.AllowIDPInitiated,
		AllowSHA1: p.cfg.AllowSHA1, Now: s.now}
	if p.enc != nil {
		v.DecryptionKey = p.enc.Key
	}
	return p.validate(v, raw, requestID)
}

// Well-known attribute names tried when the tenant maps none.
var defaultAttributes = map[string][]string{
	"email":        {"email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
	"given_name":   {"given_name", "givenName", "firstName", "urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"},
	"family_name":  {"family_name", "sn", "surname", "lastName", "urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"},
	"display_name": {"display_name", "displayName", "urn:oid:2.16.840.1.113730.3.1.241", "http://schemas.microsoft.com/identity/claims/displayname"},
	"groups":       {"groups", "memberOf", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"},
}

// identity turns an assertion into a login: the email from the mapped
// attribute, else from an emailAddress NameID; the mapped attributes.
func (p *provider) identity(a *Assertion) (directory.Login, *Refusal) {
	get := func(ours string) []string {
		if theirs, ok := p.cfg.Attributes[ours]; ok {
			return a.Attributes[theirs]
		}
		for _, name := range defaultAttributes[ours] {
			if v := a.Attributes[name]; len(v) > 0 {
				return v
			}
		}
		return nil
	}
	first := func(ours string) string {
		for _, v := range get(ours) {
			if v != "" {
				return v
			}
		}
		return ""
	}
	email := first("email")
	if email == "" && a.NameIDFormat == emailNameIDFormat {
		email = a.NameID
	}
	if email == "" {
		return directory.Login{}, refuse(ReasonNoEmail, "NameID format %q and no email attribute", a.NameIDFormat)
	}
	attrs := directory.Attributes{
		GivenName: first("given_name"), FamilyName: first("family_name"), DisplayName: first("display_name"),
		Title: first("title"), Department: first("department"), Location: first("location"),
		EmployeeID: first("employee_id"), ManagerEmail: first("manager_email"), Role: first("role"),
	}
	for _, g := range get("groups") {
		if g != "" {
			attrs.Groups = append(attrs.Groups, g)
		}
	}
	return directory.Login{Tenant: p.cfg.Tenant, Email: email, NameID: a.NameID, Attributes: attrs}, nil
}

// refused answers a refused login with a plain page, and counts, logs and
// audits it.
func (s *Server) refused(req *http.Request, w http.ResponseWriter, p *provider, ref string, r *Refusal) {
	tenant := p.cfg.Tenant
	outcome := "refused"
	switch r.Reason {
	case ReasonCardDisabled:
		outcome = "disabled"
	case ReasonUnknownPerson:
		outcome = "unknown_person"
	case ReasonPendingApproval:
		outcome = "pending_approval"
	}
	s.logins.WithLabelValues(tenant, outcome).Inc()
	s.refusals.WithLabelValues(tenant, string(r.Reason)).Inc()
	s.logger.Warn("saml login refused", "tenant", tenant, "reason", string(r.Reason), "detail", r.Detail, "ref", ref)
	// The directory audited refusals of a card already; a POST that is
	// not even a SAML response (anyone can send one) is counted and
	// logged, not written to the audit trail, and the others only up to
	// the rate limit of their tenant and source address.
	if s.opt.Auditor != nil && outcome == "refused" && r.Reason != ReasonMalformed {
		if !s.auditLimit.Allow(tenant, req.RemoteAddr) {
			s.auditsDropped.WithLabelValues(tenant).Inc()
		} else if err := s.opt.Auditor.AuditLoginRefusal(req.Context(), tenant, r.Reason, r.Detail+" (ref "+ref+")"); err != nil {
			s.logger.Error("auditing a refused saml login", "tenant", tenant, "err", err)
		}
	}
	switch r.Reason {
	case ReasonPendingApproval:
		waitingForApproval(w, ref)
	case ReasonCardDisabled, ReasonUnknownPerson:
		page(w, http.StatusForbidden, "Sign-in refused",
			"Your account cannot sign in to this service. Please contact your administrator.", ref)
	default:
		page(w, http.StatusForbidden, "Sign-in failed",
			"The sign-in could not be completed. Please start again from the application; if this keeps happening, contact your administrator.", ref)
	}
}

func (s *Server) failed(w http.ResponseWriter, p *provider, ref, what string, err error) {
	s.logins.WithLabelValues(p.cfg.Tenant, "error").Inc()
	s.logger.Error("saml login failed", "tenant", p.cfg.Tenant, "step", what, "err", err, "ref", ref)
	page(w, http.StatusInternalServerError, "Sign-in failed", "Something went wrong on our side. Please try again in a moment.", ref)
}

// LoginCodePrefix marks login codes (directory.LoginCodePrefix).
const LoginCodePrefix = directory.LoginCodePrefix

// mintCode makes the login code the platform redeems for this login.
func (s *Server) mintCode(ctx context.Context, tenant, cardID string) (string, error) {
	return s.dir.MintLoginCode(ctx, tenant, cardID, s.opt.CodeTTL)
}

// ErrInvalidCode is directory.ErrInvalidCode.
var ErrInvalidCode = directory.ErrInvalidCode

// Redeem spends a login code and returns its card (directory's
// RedeemLoginCode), counting the outcome in rosterd_saml_login_code_redemptions_total.
func (s *Server) Redeem(ctx context.Context, code, tenant string) (directory.Card, error) {
	card, err := s.dir.RedeemLoginCode(ctx, code, tenant)
	switch {
	case err == nil:
		s.redeems.WithLabelValues("ok").Inc()
	case errors.Is(err, directory.ErrInvalidCode):
		s.redeems.WithLabelValues("invalid").Inc()
	case errors.Is(err, directory.ErrDisabled):
		s.redeems.WithLabelValues("disabled").Inc()
	default:
		s.redeems.WithLabelValues("error").Inc()
		return directory.Card{}, err
	}
	return card, err
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+): it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuditorFunc is an Auditor of a function.
type AuditorFunc func(ctx context.Context, tenant string, reason Reason, detail string) error

// AuditLoginRefusal implements Auditor.
func (f AuditorFunc) AuditLoginRefusal(ctx context.Context, tenant string, reason Reason, detail string) error {
	return f(ctx, tenant, reason, detail)
}
