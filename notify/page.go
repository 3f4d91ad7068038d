package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/tenant"
)

// Acceptor is what the invite page needs of the directory service.
type Acceptor interface {
	// LookupInvite finds the card of a token and changes nothing.
	LookupInvite(ctx context.Context, tenant, token string) (directory.Card, error)
	// AcceptInvite spends the token: the card becomes active.
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

// pageTenant is what the page needs of a live tenant as it is now; the
// zero PageTenant for none.
func (p *InvitePage) pageTenant(ctx context.Context, id string) PageTenant {
	t, err := p.tenants.Get(ctx, id)
	if err != nil {
		return PageTenant{}
	}
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
//	GET  /invite/{tenant}/{token}   the link the mails carry: a page saying
//	                                whose invite it is, with one button
//	POST /invite/{tenant}/{token}   that button: accepts the invite
//	GET  /invite/{token}            the same without a tenant: every
//	POST /invite/{token}            tenant is asked in turn
//
// Opening the link changes nothing. Mail scanners, chat link previews and
// security gateways fetch every link of a mail (GET or HEAD) before the
// person sees it; were the fetch the acceptance, the scanner would spend
// the token, activate the card and take its login code. So GET and HEAD
// only look the token up, and the page's form POSTs back to the same URL.
//
// The POST carries a CSRF token, double-submit: the GET sets a random
// 256-bit value in a cookie (HttpOnly, SameSite=Strict; under an https
// public_url named __Host-rosterd_invite_csrf, so Secure, Path / and set by
// this host alone; else rosterd_invite_csrf, Path /invite/) and puts the same value in the form;
// the POST is accepted only when both are there and equal (compared in
// constant time). Chosen over an HMAC of the invite token under a server
// secret because that would only prove the poster had seen the page —
// which anyone holding the link can — whereas a SameSite=Strict cookie
// cannot be sent by another site's form, nor set by it: a page elsewhere
// cannot make a person's browser accept an invite the attacker holds
// (and so sign the person in as the attacker's card: login CSRF). It
// needs no secret shared between replicas. A POST without the cookie
// (cookies blocked) gets a 403 page saying to open the link again.
//
// A good token makes the card active (the directory spends the token) and
// sends the person on: to the tenant's SAML login when it has one, else to
// its app_callback_url with a one-time login code. A token that is
// unknown, expired, replaced by a newer invite or used gets a plain page
// (410 Gone) saying to ask the admin for a new invite.
//
// Every answer is no-store (the token is in the URL), sends no Referer,
// may not be framed (the button must not be clickjacked), and runs no
// script: the CSP allows nothing but the page's one style sheet, by hash.
//
// The tenant-less form works because tokens are 256 random bits: two
// tenants holding the same token's hash does not happen, so the first
// tenant that knows the token is its tenant.
type InvitePage struct {
	dir     Acceptor
	codes   LoginCodes
	opt     PageOptions
	tenants Tenants
	// The CSRF cookie: under an https public_url "__Host-…", Secure,
	// Path /; else plain, Path public_url's path + /invite/.
	cookie, path string
	secure       bool
	accepts      *prometheus.CounterVec
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
	p := &InvitePage{dir: dir, codes: codes, opt: opt, tenants: tenants,
		cookie: "rosterd_invite_csrf", path: "/invite/"}
	if u, err := url.Parse(opt.PublicURL); err == nil && strings.Trim(u.Path, "/") != "" {
		// Served under a path by a proxy: the browser sees that path.
		p.path = "/" + strings.Trim(u.Path, "/") + "/invite/"
	}
	if strings.HasPrefix(strings.ToLower(opt.PublicURL), "https://") {
		// A __Host- cookie can be set only by this host, over https, for
		// the whole host: a sibling subdomain cannot plant one.
		p.cookie, p.path, p.secure = "__Host-rosterd_invite_csrf", "/", true
	}
	p.accepts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rosterd_invite_accepts_total",
		Help: "Invite acceptances (the page's button), by result: accepted, invalid (unknown, expired, replaced or used), refused (no or wrong CSRF token), error.",
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

// Mount registers the routes. A GET route answers HEAD too.
func (p *InvitePage) Mount(mux Mux) {
	mux.Handle("GET /invite/{tenant}/{token}", http.HandlerFunc(p.show))
	mux.Handle("GET /invite/{token}", http.HandlerFunc(p.show))
	mux.Handle("POST /invite/{tenant}/{token}", http.HandlerFunc(p.accept))
	mux.Handle("POST /invite/{token}", http.HandlerFunc(p.accept))
}

// show answers GET and HEAD: whose invite this is, and the button. It
// changes nothing in the store.
func (p *InvitePage) show(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	var (
		card   directory.Card
		tenant PageTenant
		err    = directory.ErrInviteInvalid
	)
	for _, id := range p.candidates(r) {
		card, err = p.dir.LookupInvite(r.Context(), id, token)
		if !errors.Is(err, directory.ErrInviteInvalid) {
			tenant = p.pageTenant(r.Context(), id)
			break
		}
	}
	p.headers(w, tenant)
	switch {
	case errors.Is(err, directory.ErrInviteInvalid):
		p.invalid(w)
		return
	case err != nil:
		p.opt.Logger.Error("looking up an invite", "err", err)
		page(w, http.StatusInternalServerError, pageView{Title: "Something went wrong", Message: "Your invitation could not be opened just now. Try the link again in a few minutes."})
		return
	}
	csrf := ""
	if c, err := r.Cookie(p.cookie); err == nil && plausibleToken(c.Value) {
		// Keep the value a page in another tab already holds.
		csrf = c.Value
	} else {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			p.opt.Logger.Error("no randomness for a CSRF token", "err", err)
			page(w, http.StatusInternalServerError, pageView{Title: "Something went wrong", Message: "Your invitation could not be opened just now. Try the link again in a few minutes."})
			return
		}
		csrf = base64.RawURLEncoding.EncodeToString(raw)
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookie, Value: csrf, Path: p.path, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode})
	name := tenant.Name
	if name == "" {
		name = tenant.ID
	}
	invitee := card.Attributes.DisplayName
	if invitee == "" {
		invitee = strings.TrimSpace(card.Attributes.GivenName + " " + card.Attributes.FamilyName)
	}
	var expires string
	if card.Invite != nil {
		expires = card.Invite.ExpiresAt.UTC().Format("Monday, 2 January 2006, 15:04 MST")
	}
	page(w, http.StatusOK, pageView{Title: "Your invitation to " + name, Form: true, TenantName: name,
		Invitee: invitee, Email: card.Email, Expires: expires, CSRF: csrf})
}

// accept answers the page's button: with the right CSRF token, the invite
// is spent and the person sent on.
func (p *InvitePage) accept(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	candidates := p.candidates(r)
	var known PageTenant
	if len(candidates) == 1 {
		known = p.pageTenant(r.Context(), candidates[0])
	}
	p.headers(w, known)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, pageView{Title: "This request could not be read", Message: "Open the invitation link from your email again and press the button."})
		return
	}
	for k := range r.PostForm {
		if k != "csrf" {
			page(w, http.StatusBadRequest, pageView{Title: "This request could not be read", Message: "The form has an unknown field " + strconv.Quote(k) + ". Open the invitation link from your email again and press the button."})
			return
		}
	}
	if !p.csrfOK(r) {
		p.accepts.WithLabelValues("refused").Inc()
		p.opt.Logger.Info("invite acceptance refused: no or wrong CSRF token", "tenant", known.ID)
		page(w, http.StatusForbidden, pageView{Title: "Please open your invitation again",
			Message: "This confirmation did not come from the invitation page, or the page is old. Open the invitation link from your email again and press the button (your browser must accept cookies from this site)."})
		return
	}
	var (
		card   directory.Card
		tenant PageTenant
		err    = directory.ErrInviteInvalid
	)
	for _, id := range candidates {
		card, err = p.dir.AcceptInvite(r.Context(), id, token)
		if !errors.Is(err, directory.ErrInviteInvalid) {
			tenant = p.pageTenant(r.Context(), id)
			break
		}
	}
	switch {
	case errors.Is(err, directory.ErrInviteInvalid):
		p.accepts.WithLabelValues("invalid").Inc()
		p.invalid(w)
		return
	case err != nil:
		p.accepts.WithLabelValues("error").Inc()
		p.opt.Logger.Error("accepting an invite", "err", err)
		page(w, http.StatusInternalServerError, pageView{Title: "Something went wrong", Message: "Your invitation could not be accepted just now. Try the link again in a few minutes."})
		return
	}
	// The tenant-less form learns its tenant only now: its CSP then names
	// that tenant's callback, which the redirect below goes to.
	p.headers(w, tenant)
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
	accepted := pageView{Title: "Invitation accepted", Message: "Your invitation to " + name + " is accepted. You can now sign in."}
	if tenant.AppCallbackURL == "" || p.codes == nil {
		page(w, http.StatusOK, accepted)
		return
	}
	code, err := p.codes.MintLoginCode(r.Context(), tenant.ID, card.ID)
	if err != nil {
		p.opt.Logger.Error("minting a login code after an invite", "tenant", tenant.ID, "card", card.ID, "err", err)
		page(w, http.StatusOK, pageView{Title: "Invitation accepted", Message: "Your invitation to " + name + " is accepted, but signing you in failed. Sign in to " + name + " as usual."})
		return
	}
	target, err := url.Parse(tenant.AppCallbackURL)
	if err != nil {
		page(w, http.StatusOK, accepted)
		return
	}
	q := target.Query()
	q.Set("code", code)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// candidates are the tenants a request's token may belong to.
func (p *InvitePage) candidates(r *http.Request) []string {
	if !plausibleToken(r.PathValue("token")) {
		return nil
	}
	if t := r.PathValue("tenant"); t != "" {
		if _, err := p.tenants.Get(r.Context(), t); err == nil {
			return []string{t}
		}
		return nil
	}
	var ids []string
	for _, t := range p.tenants.List() {
		if !t.Retired() {
			ids = append(ids, t.ID())
		}
	}
	return ids
}

// csrfOK: the form's token and the cookie's are there and equal.
func (p *InvitePage) csrfOK(r *http.Request) bool {
	c, err := r.Cookie(p.cookie)
	form := r.PostForm.Get("csrf")
	if err != nil || !plausibleToken(c.Value) || !plausibleToken(form) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

func (p *InvitePage) invalid(w http.ResponseWriter) {
	page(w, http.StatusGone, pageView{Title: "This invitation link is no longer valid",
		Message: "The link has expired, was replaced by a newer invitation, or was used already. Ask your administrator for a new invite."})
}

// headers are every answer's. The token is in the URL: no cache may keep
// the answer, and no page it leads to may learn it from the Referer.
// form-action names where the accepted invite's redirect may go: the
// browser checks a form's redirects against it too.
func (p *InvitePage) headers(w http.ResponseWriter, tenant PageTenant) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	formAction := []string{"'self'"}
	for _, u := range []string{p.opt.PublicURL, tenant.AppCallbackURL} {
		if o := origin(u); o != "" && !slices.Contains(formAction, o) {
			formAction = append(formAction, o)
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src '"+pageStyleHash+"'; form-action "+strings.Join(formAction, " ")+
		"; frame-ancestors 'none'; base-uri 'none'")
}

// origin is scheme://host of an absolute http(s) URL, "" otherwise.
func origin(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// plausibleToken rejects what no invite or CSRF token looks like (base64url
// of 32 bytes) before it reaches the database or a compare.
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

// pageStyle is the pages' one style sheet; the CSP allows it by its hash
// and allows no other style and no script at all.
const pageStyle = `body{font-family:sans-serif;line-height:1.5;max-width:36em;margin:3em auto;padding:0 1em}h1{font-size:1.3em}button{font:inherit;padding:.5em 1.2em;cursor:pointer}`

var pageStyleHash = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

// pageView is what a page shows: a message, or the invite's form.
type pageView struct {
	Title   string
	Message string
	// Form: the confirmation page of a good invite.
	Form       bool
	TenantName string
	Invitee    string // the card's name; may be empty
	Email      string
	Expires    string
	CSRF       string
}

// The form has no action: it posts back to the URL it came from, which
// keeps working behind a proxy that serves rosterd under a path.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title>
<style>` + pageStyle + `</style></head>
<body>
<main>
<h1>{{.Title}}</h1>
{{- if .Form}}
<p>This invitation to join {{.TenantName}} is for {{if .Invitee}}<strong>{{.Invitee}}</strong> ({{.Email}}){{else}}<strong>{{.Email}}</strong>{{end}}.</p>
{{- if .Expires}}
<p>It is valid until {{.Expires}}.</p>
{{- end}}
<form method="post">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit">Accept the invitation</button>
</form>
<p>Not you? Close this page: nothing happens until the button is pressed.</p>
{{- else}}
<p>{{.Message}}</p>
{{- end}}
</main>
</body>
</html>
`))

func page(w http.ResponseWriter, status int, v pageView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, v)
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
