package notify

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/tenant"
)

// Acceptor is what the invite page needs of the directory service.
type Acceptor interface {
	AcceptInvite(ctx context.Context, tenant, token string) (directory.Card, error)
}

// LoginCodes mints the one-time login code a person who accepted an
// invite takes to the platform, as a SAML login does.
type LoginCodes interface {
	MintLoginCode(ctx context.Context, tenant, cardID string) (string, error)
}

// Tenants is the tenant registry as the invite page and the mailer ask
// it, per request (*tenant.Registry).
type Tenants interface {
	Get(ctx context.Context, id string) (*tenant.Tenant, error)
	List() []*tenant.Tenant
}

// pageTenantOf is what the page needs of a tenant as it is now.
func pageTenantOf(t *tenant.Tenant) PageTenant {
	_, saml := t.SAML()
	return PageTenant{ID: t.ID(), Name: t.Name(), AppCallbackURL: t.AppCallbackURL(), SAMLLogin: saml}
}

// PageTenant is what the invite page knows of a tenant.
type PageTenant struct {
	ID   string
	Name string
	// AppCallbackURL receives the login code after an accepted invite.
	AppCallbackURL string
	// SAMLLogin: the tenant signs in through its IdP; an accepted invite
	// goes on to /saml/{tenant}/login instead of getting a login code.
	SAMLLogin bool
}

// PageOptions are the invite page's collaborators.
type PageOptions struct {
	PublicURL  string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// InvitePage serves the link of an invite mail:
//
//	GET /invite/{tenant}/{token}   the link the mails carry
//	GET /invite/{token}            the form without a tenant: every
//	                               tenant is asked in turn
//
// A good token makes the card active (the directory spends the token) and
// sends the person on: to the tenant's SAML login when it has one, else to
// its app_callback_url with a one-time login code. A token that is
// unknown, expired, replaced by a newer invite or used gets a plain page
// (410 Gone) saying to ask the admin for a new invite.
//
// The tenant-less form works because tokens are 256 random bits: two
// tenants holding the same token's hash does not happen, so the first
// tenant that knows the token is its tenant.
type InvitePage struct {
	dir     Acceptor
	codes   LoginCodes
	opt     PageOptions
	tenants Tenants
	accepts *prometheus.CounterVec
}

// NewInvitePage returns the page for these tenants. codes may be nil: a
// tenant without SAML then gets the "accepted" page instead of a redirect.
func NewInvitePage(dir Acceptor, codes LoginCodes, tenants Tenants, opt PageOptions) (*InvitePage, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Registerer == nil {
		opt.Registerer = prometheus.NewRegistry()
	}
	p := &InvitePage{dir: dir, codes: codes, opt: opt, tenants: tenants}
	p.accepts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_invite_accepts_total",
		Help: "Invite links opened, by result: accepted, invalid (unknown, expired, replaced or used), error.",
	}, []string{"result"})
	if err := opt.Registerer.Register(p.accepts); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		p.accepts = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return p, nil
}

// Mux is where the page registers its routes (daemon.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the routes.
func (p *InvitePage) Mount(mux Mux) {
	mux.Handle("GET /invite/{tenant}/{token}", http.HandlerFunc(p.serve))
	mux.Handle("GET /invite/{token}", http.HandlerFunc(p.serve))
}

func (p *InvitePage) serve(w http.ResponseWriter, r *http.Request) {
	// The token is in the URL: no cache may keep the answer, and no page
	// it leads to may learn it from the Referer.
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")

	token := r.PathValue("token")
	var candidates []*tenant.Tenant
	if id := r.PathValue("tenant"); id != "" {
		if t, err := p.tenants.Get(r.Context(), id); err == nil {
			candidates = []*tenant.Tenant{t}
		}
	} else {
		for _, t := range p.tenants.List() {
			if !t.Retired() {
				candidates = append(candidates, t)
			}
		}
	}
	if !plausibleToken(token) {
		candidates = nil
	}
	var (
		card   directory.Card
		tenant PageTenant
		err    = directory.ErrInviteInvalid
	)
	for _, t := range candidates {
		card, err = p.dir.AcceptInvite(r.Context(), t.ID(), token)
		if !errors.Is(err, directory.ErrInviteInvalid) {
			tenant = pageTenantOf(t)
			break
		}
	}
	switch {
	case errors.Is(err, directory.ErrInviteInvalid):
		p.accepts.WithLabelValues("invalid").Inc()
		page(w, http.StatusGone, "This invitation link is no longer valid",
			"The link has expired, was replaced by a newer invitation, or was used already. Ask your administrator for a new invite.")
		return
	case err != nil:
		p.accepts.WithLabelValues("error").Inc()
		p.opt.Logger.Error("accepting an invite", "err", err)
		page(w, http.StatusInternalServerError, "Something went wrong", "Your invitation could not be accepted just now. Try the link again in a few minutes.")
		return
	}
	p.accepts.WithLabelValues("accepted").Inc()
	p.opt.Logger.Info("invite accepted", "tenant", tenant.ID, "card", card.ID)
	name := tenant.Name
	if name == "" {
		name = tenant.ID
	}
	if tenant.SAMLLogin {
		http.Redirect(w, r, strings.TrimRight(p.opt.PublicURL, "/")+"/saml/"+url.PathEscape(tenant.ID)+"/login", http.StatusSeeOther)
		return
	}
	if tenant.AppCallbackURL == "" || p.codes == nil {
		page(w, http.StatusOK, "Invitation accepted", "Your invitation to "+name+" is accepted. You can now sign in.")
		return
	}
	code, err := p.codes.MintLoginCode(r.Context(), tenant.ID, card.ID)
	if err != nil {
		p.opt.Logger.Error("minting a login code after an invite", "tenant", tenant.ID, "card", card.ID, "err", err)
		page(w, http.StatusOK, "Invitation accepted", "Your invitation to "+name+" is accepted, but signing you in failed. Sign in to "+name+" as usual.")
		return
	}
	target, err := url.Parse(tenant.AppCallbackURL)
	if err != nil {
		page(w, http.StatusOK, "Invitation accepted", "Your invitation to "+name+" is accepted. You can now sign in.")
		return
	}
	q := target.Query()
	q.Set("code", code)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// plausibleToken rejects what no invite token looks like (base64url of
// 32 bytes) before it reaches the database.
func plausibleToken(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 36em; margin: 3em auto; padding: 0 1em;">
<h1 style="font-size: 1.3em;">{{.Title}}</h1>
<p>{{.Message}}</p>
</body>
</html>
`))

func page(w http.ResponseWriter, status int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message string }{title, message})
}

// StoreLoginCodes mints and redeems login codes through the directory, as
// the SAML service provider does, so that the platform redeems both kinds
// through one endpoint — also in installations without SAML.
type StoreLoginCodes struct {
	Dir interface {
		MintLoginCode(ctx context.Context, tenant, cardID string, ttl time.Duration) (string, error)
		RedeemLoginCode(ctx context.Context, code, tenant string) (directory.Card, error)
	}
	// TTL is the code's lifetime; default 60 s, as SAML's.
	TTL time.Duration
}

// MintLoginCode implements LoginCodes.
func (c StoreLoginCodes) MintLoginCode(ctx context.Context, tenant, cardID string) (string, error) {
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	return c.Dir.MintLoginCode(ctx, tenant, cardID, ttl)
}

// ErrInvalidCode is directory.ErrInvalidCode.
var ErrInvalidCode = directory.ErrInvalidCode

// Redeem spends a login code and returns its card (directory's
// RedeemLoginCode: tenant, when not empty, must be the code's; a card
// disabled since is refused with directory.ErrDisabled).
func (c StoreLoginCodes) Redeem(ctx context.Context, code, tenant string) (directory.Card, error) {
	return c.Dir.RedeemLoginCode(ctx, code, tenant)
}
