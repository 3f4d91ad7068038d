package admin

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// Setup links: an operator makes a link for a customer's IT admin; opening
// it redeems its token, once, into a browser session scoped to the tenant
// and the parts the operator allowed. The portal the session opens is the
// console's; GET /setup/session says what the session may do.

// setupParts are what a setup link may allow.
var setupParts = []string{"saml", "scim", "feeds"}

const (
	setupTokenPrefix  = "rsl_"
	setupCookie       = "rosterd_setup"
	defaultSetupTTL   = 7 * 24 * time.Hour
	maxSetupTTL       = 30 * 24 * time.Hour
	setupSessionBytes = 32
)

func (a *API) setupRoutes() []route {
	const t = "/api/v1/tenants/{t}/setup-links"
	return []route{
		{pattern: "POST " + t, handler: a.connections(a.withSetup(a.createSetupLink))},
		{pattern: "GET " + t, handler: a.connections(a.withSetup(a.listSetupLinks))},
		{pattern: "DELETE " + t + "/{id}", handler: a.connections(a.withSetup(a.revokeSetupLink))},
		{pattern: "GET /setup/{token}", handler: a.withSetup(a.openSetupLink), public: true},
		{pattern: "GET /api/v1/setup/session", handler: a.withSetup(a.setupSession), public: true},
	}
}

func (a *API) withSetup(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.services.Setup == nil || a.services.Registry == nil {
			daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "setup links are not configured")
			return
		}
		h(w, r)
	}
}

type setupLinkView struct {
	ID         string    `json:"id"`
	Parts      []string  `json:"parts"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RedeemedAt time.Time `json:"redeemed_at,omitzero"`
}

func setupView(l store.SetupLink) setupLinkView {
	return setupLinkView{ID: l.ID, Parts: l.Parts, CreatedBy: l.CreatedBy, CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, RevokedAt: l.RevokedAt, RedeemedAt: l.RedeemedAt}
}

func (a *API) now() time.Time {
	if a.services.Directory != nil {
		return a.services.Directory.Now()
	}
	return time.Now().UTC()
}

func (a *API) createSetupLink(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Parts []string `json:"parts"`
		TTL   string   `json:"ttl"`
	}
	if !decodeJSON(w, r, &in, false) {
		return
	}
	tenantID := r.PathValue("t")
	var problems []problem
	if _, err := a.services.Registry.Get(r.Context(), tenantID); err != nil {
		a.registryFail(w, r, err)
		return
	}
	if len(in.Parts) == 0 {
		problems = append(problems, problem{Path: "parts", Message: "name what the link may set up: saml, scim, feeds"})
	}
	for i, p := range in.Parts {
		if !slices.Contains(setupParts, p) {
			problems = append(problems, problem{Path: "parts[" + strconv.Itoa(i) + "]", Message: "unknown part " + p + " (want saml, scim or feeds)"})
		}
	}
	ttl := defaultSetupTTL
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 || d > maxSetupTTL {
			problems = append(problems, problem{Path: "ttl", Message: "a duration up to 720h, like \"168h\""})
		}
		ttl = d
	}
	if len(problems) > 0 {
		daemon.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error": map[string]any{"code": "invalid_document", "message": problems[0].Path + ": " + problems[0].Message}, "problems": problems})
		return
	}
	token, err := credential.Generate(setupTokenPrefix)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.now()
	l := store.SetupLink{ID: uuid.NewString(), Tenant: tenantID, TokenHash: credential.Hash(token), Parts: slices.Compact(slices.Sorted(slices.Values(in.Parts))),
		CreatedBy: actor(r).Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := a.services.Setup.PutSetupLink(r.Context(), l); err != nil {
		a.fail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusCreated, map[string]any{"link": setupView(l),
		"url": strings.TrimSuffix(a.services.PublicURL, "/") + "/setup/" + token, "note": "the link is shown this once; send it to the customer's IT admin"})
}

func (a *API) listSetupLinks(w http.ResponseWriter, r *http.Request) {
	links, err := a.services.Setup.ListSetupLinks(r.Context(), r.PathValue("t"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]setupLinkView, 0, len(links))
	for _, l := range links {
		out = append(out, setupView(l))
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"setup_links": out})
}

func (a *API) revokeSetupLink(w http.ResponseWriter, r *http.Request) {
	err := a.services.Setup.RevokeSetupLink(r.Context(), r.PathValue("t"), r.PathValue("id"), a.now())
	if errors.Is(err, store.ErrNotFound) {
		daemon.WriteError(w, http.StatusNotFound, "not_found", "id", "no such setup link in this tenant")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var setupPage = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto; line-height: 1.5">
<h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>`))

func writeSetupPage(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = setupPage.Execute(w, struct{ Title, Message string }{title, message})
}

// openSetupLink redeems a link's token into this browser's session, once.
// The same browser may open the link again while its session lasts; any
// other gets a page saying the link is spent.
func (a *API) openSetupLink(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	token := r.PathValue("token")
	if c, err := r.Cookie(setupCookie); err == nil {
		if l, err := a.services.Setup.SetupSession(r.Context(), credential.Hash(c.Value), now); err == nil && l.TokenHash == credential.Hash(token) {
			http.Redirect(w, r, a.setupPortal(), http.StatusSeeOther)
			return
		}
	}
	session, err := credential.Generate("")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	l, err := a.services.Setup.RedeemSetupLink(r.Context(), credential.Hash(token), credential.Hash(session), now)
	if err == nil {
		if _, err = a.services.Registry.Get(r.Context(), l.Tenant); err != nil {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		writeSetupPage(w, http.StatusGone, "This setup link cannot be used",
			"The link has expired, was revoked, or was opened already in another browser. Ask for a new one.")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: setupCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.services.PublicURL, "https://"), MaxAge: int(l.ExpiresAt.Sub(now).Seconds())})
	a.logger.Info("setup link opened", "tenant", l.Tenant, "link", l.ID)
	http.Redirect(w, r, a.setupPortal(), http.StatusSeeOther)
}

// setupPortal is where an opened link goes.
func (a *API) setupPortal() string {
	if a.services.SetupPortal != "" {
		return a.services.SetupPortal
	}
	return "/api/v1/setup/session"
}

// setupSession says what the browser's setup session may do: the tenant
// and the parts its link allowed, until when.
func (a *API) setupSession(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(setupCookie)
	if err != nil {
		daemon.WriteError(w, http.StatusUnauthorized, "no_session", "", "open your setup link first")
		return
	}
	l, err := a.services.Setup.SetupSession(r.Context(), credential.Hash(c.Value), a.now())
	if err == nil {
		if _, err = a.services.Registry.Get(r.Context(), l.Tenant); err != nil {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		daemon.WriteError(w, http.StatusUnauthorized, "no_session", "", "the setup session has ended: its link expired or was revoked")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"tenant": l.Tenant, "parts": l.Parts, "expires_at": l.ExpiresAt})
}
