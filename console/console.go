package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/ratelimit"
	"github.com/rosterd/rosterd/store"
)

// Keys checks admin API keys (*credential.Keyring), for the sign-in form.
type Keys interface {
	Check(ctx context.Context, kind, secret string) (store.Credential, error)
}

// Directory is what the console asks of the directory service
// (*directory.Service): the same calls the admin API makes.
type Directory interface {
	Now() time.Time
	Get(ctx context.Context, tenant, id string) (directory.Card, error)
	List(ctx context.Context, q directory.ListQuery) (directory.Page, error)
	Stats(ctx context.Context, tenant string) (map[directory.Status]int, error)
	Count(ctx context.Context, q directory.ListQuery) (map[directory.Status]int, error)
	CountUpTo(ctx context.Context, q directory.ListQuery, max int) (int, error)
	Claims(ctx context.Context, tenant, cardID string) ([]directory.Claim, error)
	// CustomAttributeNames: the custom attribute names of the cards q
	// selects (an export's custom.<name> columns).
	CustomAttributeNames(ctx context.Context, q directory.ListQuery, limit int) ([]string, error)
	Explain(ctx context.Context, tenant, cardID string) (directory.Explanation, error)
	Disable(ctx context.Context, actor directory.Actor, tenant, cardID, reason string) (directory.Card, error)
	Enable(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Release(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Invite(ctx context.Context, actor directory.Actor, in directory.AdminInput) (directory.Outcome, error)
	Reinvite(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Remind(ctx context.Context, actor directory.Actor, tenant, cardID string) (directory.Card, error)
	Bulk(ctx context.Context, actor directory.Actor, tenant string, in directory.BulkInput, ids []string, dryRun bool) ([]directory.BulkResult, error)
	Policy(tenant string) (directory.Policy, error)
}

// Audit reads a card's audit trail (the store); the console never writes.
type Audit interface {
	ListAudit(ctx context.Context, tenant, cardID string, afterID int64, limit int) ([]store.AuditEvent, error)
}

// Tenant is a tenant as the console lists it.
type Tenant struct {
	ID   string
	Name string
}

// Tenants names the tenants there are (today the configuration's list;
// the runtime tenant registry later).
type Tenants interface {
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// Brake says why a bulk action that would disable this many of a
// tenant's cards is held (none: it may go ahead).
type Brake interface {
	BulkHold(ctx context.Context, tenant string, disables int) []string
}

// StaticTenants is a fixed list of tenants.
type StaticTenants []Tenant

// ListTenants returns the list.
func (s StaticTenants) ListTenants(context.Context) ([]Tenant, error) { return s, nil }

// Deps are what the console works with. Keys, Directory, Audit and Tenants
// are required.
type Deps struct {
	Keys      Keys
	Directory Directory
	Audit     Audit
	Tenants   Tenants
	// Runs serves the held-plans pages; without it they say feeds are
	// not configured.
	Runs Runs
	// SetupLinks and Connections serve the setup portal; without them it
	// says it is not configured. SAML starts the console's logins through
	// rosterd's SP (Test sign-in; sign-in with SSO); the SP hands them
	// back to Console.ConsoleTest and Console.ConsoleLogin.
	SetupLinks  SetupLinks
	Connections Connections
	SAML        SAML
	// Imports serves the import pages (*admin.API); without it they say
	// imports are not configured.
	Imports Imports
	// Brake is the tenant's safety brake over a bulk action that would
	// disable people (*admin.API): when it holds, the confirmation asks
	// for the count typed in. Nil: no brake.
	Brake Brake
	// DropBoxSFTP is the drop box's SFTP server, for the portal's HR
	// files page; the zero value when it serves none.
	DropBoxSFTP DropBoxSFTP
	// Domains finds a work email's tenant, for sign-in with SSO (with
	// SAML and Connections).
	Domains Domains
	// PublicURL is rosterd's public base URL; when it is https the session
	// cookie is Secure.
	PublicURL string
	Logger    *slog.Logger
	// Sessions keeps the sessions (the store, so that a restart or a
	// second replica keeps them); default NewMemorySessions.
	Sessions store.ConsoleSessions
	// SessionIdle ends a session unused this long (default 30 min);
	// SessionMax ends any session this long after sign-in (default 12 h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Now is the clock of sessions (default time.Now); tests pin it.
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	deps     Deps
	pages    map[string]*page
	sessions *sessions
	secure   bool
	// ssoStarts bounds the sign-ins with SSO a source starts from a
	// browser with no stored session: each stores one (the login it waits
	// for), which anyone could otherwise make by the thousand.
	ssoStarts *ratelimit.Limiter
}

// Mux is where routes are registered (daemon.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// New checks the dependencies and loads the pages.
func New(d Deps) (*Console, error) {
	switch {
	case d.Keys == nil:
		return nil, errors.New("console: Deps.Keys is required")
	case d.Directory == nil:
		return nil, errors.New("console: Deps.Directory is required")
	case d.Audit == nil:
		return nil, errors.New("console: Deps.Audit is required")
	case d.Tenants == nil:
		return nil, errors.New("console: Deps.Tenants is required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.SessionIdle <= 0 {
		d.SessionIdle = 30 * time.Minute
	}
	if d.SessionMax <= 0 {
		d.SessionMax = 12 * time.Hour
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sessions == nil {
		d.Sessions = NewMemorySessions()
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	return &Console{deps: d, pages: pages, sessions: newSessions(d.Sessions, d.Now, d.SessionIdle, d.SessionMax, d.Logger),
		secure:    strings.HasPrefix(strings.ToLower(d.PublicURL), "https://"),
		ssoStarts: ratelimit.New(d.Now, ssoStartBurst, ssoStartEvery, ssoStartSources)}, nil
}

// route is one page or form action of the console.
type route struct {
	pattern string
	handler http.HandlerFunc
	// public routes are served without a signed-in session (they still get
	// an anonymous one, for the sign-in form's CSRF token; stored only once
	// it has something to keep).
	public bool
	// bare routes get no session at all (the stylesheet).
	bare bool
	// maxBody bounds the form's body (default maxFormBody).
	maxBody int64
}

// Prefix is where the console is mounted.
const Prefix = "/console"

// routes is the console's one route table.
func (c *Console) routes() []route {
	const t = Prefix + "/t/{t}"
	return []route{
		{pattern: "GET " + Prefix + "/static/", handler: c.static, public: true, bare: true},
		{pattern: "GET " + Prefix + "/sign-in", handler: c.signInPage, public: true},
		{pattern: "POST " + Prefix + "/sign-in", handler: c.signIn, public: true},
		{pattern: "POST " + Prefix + "/sign-out", handler: c.signOut, public: true},
		{pattern: "POST " + Prefix + "/sso", handler: c.ssoFind, public: true},
		{pattern: "GET " + Prefix + "/sso/start", handler: c.ssoStart, public: true},
		{pattern: "GET " + Prefix + "/sso/done", handler: c.ssoDone, public: true},

		{pattern: "GET " + Prefix + "/", handler: c.notFound, public: true},
		{pattern: "GET " + Prefix + "/{$}", handler: c.tenantList},
		{pattern: "GET " + t + "/users", handler: c.inTenant(c.users)},
		{pattern: "GET " + t + "/users/new", handler: c.inTenant(c.addPersonPage)},
		{pattern: "POST " + t + "/users/new", handler: c.inTenant(c.addPerson)},
		{pattern: "GET " + t + "/users/export.csv", handler: c.inTenant(c.usersExportCSV)},
		{pattern: "GET " + t + "/users/export.xlsx", handler: c.inTenant(c.usersExportXLSX)},
		{pattern: "GET " + t + "/users/bulk", handler: c.inTenant(c.bulkConfirm)},
		{pattern: "POST " + t + "/users/bulk", handler: c.inTenant(c.bulkApply)},
		{pattern: "GET " + t + "/cards/{id}", handler: c.inTenant(c.card)},
		{pattern: "POST " + t + "/cards/{id}/disable", handler: c.inTenant(c.cardDisable)},
		{pattern: "POST " + t + "/cards/{id}/enable", handler: c.inTenant(c.cardEnable)},
		{pattern: "POST " + t + "/cards/{id}/release", handler: c.inTenant(c.cardRelease)},
		{pattern: "POST " + t + "/cards/{id}/reinvite", handler: c.inTenant(c.cardReinvite)},
		{pattern: "POST " + t + "/cards/{id}/remind", handler: c.inTenant(c.cardRemind)},
		{pattern: "GET " + Prefix + "/setup/{$}", handler: c.inSetup("", c.setupHome), public: true},
		{pattern: "GET " + Prefix + "/setup/saml", handler: c.inSetup("saml", c.setupSAML), public: true},
		{pattern: "POST " + Prefix + "/setup/saml", handler: c.inSetup("saml", c.setupSAMLSave), public: true},
		{pattern: "GET " + Prefix + "/setup/saml/test", handler: c.inSetup("saml", c.setupSAMLTest), public: true},
		{pattern: "GET " + Prefix + "/setup/saml/result", handler: c.inSetup("saml", c.setupSAMLResult), public: true},
		{pattern: "GET " + Prefix + "/setup/scim", handler: c.inSetup("scim", c.setupSCIM), public: true},
		{pattern: "POST " + Prefix + "/setup/scim/token", handler: c.inSetup("scim", c.setupSCIMToken), public: true},
		{pattern: "GET " + Prefix + "/setup/feeds", handler: c.inSetup("feeds", c.setupFeeds), public: true},

		{pattern: "GET " + t + "/import", handler: c.inTenant(c.importPage)},
		{pattern: "POST " + t + "/import", handler: c.inTenant(c.importReview), maxBody: maxImportForm},
		{pattern: "POST " + t + "/import/apply", handler: c.inTenant(c.importApply)},
		{pattern: "GET " + t + "/imports/{id}", handler: c.inTenant(c.importSummary)},

		{pattern: "GET " + t + "/runs", handler: c.inTenant(c.heldPlans)},
		{pattern: "GET " + t + "/runs/{id}", handler: c.inTenant(c.runPage)},
		{pattern: "POST " + t + "/runs/{id}/approve", handler: c.inTenant(c.runApprove)},
		{pattern: "POST " + t + "/runs/{id}/reject", handler: c.inTenant(c.runReject)},
	}
}

// Mount registers the console's routes, each behind the security headers,
// the session and the CSRF check; all but the public ones behind sign-in.
func (c *Console) Mount(mux Mux) {
	for _, rt := range c.routes() {
		var h http.Handler = rt.handler
		if !rt.public {
			h = c.requireSignIn(h)
		}
		if !rt.bare {
			limit := rt.maxBody
			if limit == 0 {
				limit = maxFormBody
			}
			h = c.withSession(c.checkCSRF(h, limit))
		}
		mux.Handle(rt.pattern, securityHeaders(h))
	}
	mux.Handle("GET "+Prefix, http.RedirectHandler(Prefix+"/", http.StatusFound))
}

// csp admits the console's own stylesheet and images and nothing else.
// The scripts are the copy button's (static/copy.js) and the users
// page's selection (static/bulk.js).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix+"/")
	b, err := staticFS.ReadFile(name)
	if err != nil {
		c.errorPage(w, r, http.StatusNotFound, "There is no such file.")
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// notFound answers every other GET under /console/ with a page.
func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.errorPage(w, r, http.StatusNotFound, "There is no such page in the console.")
}

// tenantHandler serves a page of one tenant.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t Tenant)

// inTenant checks the path's tenant: known (else 404), and the signed-in
// key's own when the key is bound to one (else 403).
func (c *Console) inTenant(h tenantHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("t")
		who := identityOf(r)
		if who.Tenant != "" && who.Tenant != id {
			c.errorPage(w, r, http.StatusForbidden, "You are signed in for another tenant and may not open this one.")
			return
		}
		tenants, err := c.deps.Tenants.ListTenants(r.Context())
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, t := range tenants {
			if t.ID == id {
				if r.Method != http.MethodGet && r.Method != http.MethodHead && who.ReadOnly {
					c.errorPage(w, r, http.StatusForbidden, "You are signed in with a read-only key: you may look, not change.")
					return
				}
				h(w, r, t)
				return
			}
		}
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no tenant %q.", id))
	}
}

// tenantList: GET /console/ — the tenants the signed-in person may open.
func (c *Console) tenantList(w http.ResponseWriter, r *http.Request) {
	who := identityOf(r)
	all, err := c.deps.Tenants.ListTenants(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var tenants []Tenant
	for _, t := range all {
		if who.Tenant == "" || who.Tenant == t.ID {
			tenants = append(tenants, t)
		}
	}
	if len(tenants) == 1 && who.Tenant != "" {
		http.Redirect(w, r, tenantURL(tenants[0].ID)+"/users", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "tenants", "Tenants", tenantListView{Tenants: tenants})
}

type tenantListView struct {
	Tenants []Tenant
}

func tenantURL(id string) string { return Prefix + "/t/" + id }

// actor is who makes a change from the console: the signed-in key.
func actor(r *http.Request) directory.Actor {
	return directory.Actor{Name: "console:" + identityOf(r).Name}
}

// fail answers an error of the directory or the store with a page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.errorPage(w, r, http.StatusNotFound, "There is no such card in this tenant.")
	case errors.Is(err, directory.ErrUnknownTenant):
		c.errorPage(w, r, http.StatusNotFound, "There is no such tenant.")
	case errors.Is(err, directory.ErrVersionMismatch):
		c.errorPage(w, r, http.StatusConflict, "The card changed while you were looking at it; open it again.")
	case errors.Is(err, context.Canceled):
		c.errorPage(w, r, http.StatusServiceUnavailable, "The request was cancelled.")
	default:
		c.deps.Logger.Error("console request failed", "route", r.Pattern, "err", err)
		c.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on the server; the server log says what.")
	}
}
