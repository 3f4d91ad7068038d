package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// The setup portal: a customer's IT admin opens a setup link an operator
// made (admin's GET /setup/{token} redeems it, once, into the
// rosterd_setup cookie and sends the browser here), and sets up the parts
// the link allows — SAML: the values to copy into the IdP, the IdP's
// metadata URL, and Test sign-in; SCIM: the base URL and a token shown
// once; HR files: where HR uploads to the drop box, and the last run
// (setup_feeds.go). The portal asks the setup session of every request, so a link
// revoked or past its expiry ends the portal at once.

// SetupLinks finds the link a setup session was redeemed from (the store).
type SetupLinks interface {
	SetupSession(ctx context.Context, sessionHash string, now time.Time) (store.SetupLink, error)
}

// Connections is the runtime tenant registry (*tenant.Registry): the
// tenant's SAML settings and SCIM connections, changed through the same
// calls the admin API makes.
type Connections interface {
	Get(ctx context.Context, id string) (*tenant.Tenant, error)
	UpdateTenant(ctx context.Context, actor tenant.Actor, id string, doc []byte) (*tenant.Tenant, error)
	CreateSCIMConnection(ctx context.Context, actor tenant.Actor, tenantID string, in tenant.SCIMConnectionInput) (tenant.SCIMConnection, string, error)
	AddSCIMToken(ctx context.Context, actor tenant.Actor, tenantID, id string, overlap time.Duration) (tenant.Token, string, error)
}

// SAML starts the console's logins through rosterd's own SP
// (*saml.Server): a sign-in, or the portal's Test sign-in. They end in
// Console.ConsoleLogin and Console.ConsoleTest.
type SAML interface {
	StartLogin(w http.ResponseWriter, r *http.Request, tenant, purpose string)
}

// setupCookie is admin's setup-session cookie (admin/setup.go).
const setupCookie = "rosterd_setup"

// setupSCIMConnection is the name of the SCIM connection the portal makes.
const setupSCIMConnection = "idp"

type setupKey struct{}

// setupLinkOf is the setup link of the request's setup session.
func setupLinkOf(r *http.Request) store.SetupLink {
	l, _ := r.Context().Value(setupKey{}).(store.SetupLink)
	return l
}

func setupActor(l store.SetupLink) tenant.Actor { return tenant.Actor("setup-link:" + l.ID) }

// inSetup serves a portal page to a live setup session whose link allows
// part ("" for any), and refuses everyone else with a page that says why.
func (c *Console) inSetup(part string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.deps.SetupLinks == nil || c.deps.Connections == nil {
			c.errorPage(w, r, http.StatusServiceUnavailable, "The setup portal is not configured in this rosterd.")
			return
		}
		ck, err := r.Cookie(setupCookie)
		if err != nil || ck.Value == "" {
			c.errorPage(w, r, http.StatusUnauthorized, "Open the setup link you were sent first: it signs this browser in to the setup portal.")
			return
		}
		sum := sha256.Sum256([]byte(ck.Value))
		l, err := c.deps.SetupLinks.SetupSession(r.Context(), hex.EncodeToString(sum[:]), c.deps.Now())
		if err == nil {
			if _, err = c.deps.Connections.Get(r.Context(), l.Tenant); err != nil {
				err = store.ErrNotFound
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			c.errorPage(w, r, http.StatusUnauthorized, "Your setup session has ended: the setup link expired or was revoked. Ask for a new one.")
			return
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if part != "" && !slices.Contains(l.Parts, part) {
			c.errorPage(w, r, http.StatusForbidden, fmt.Sprintf("Your setup link does not cover %s; it covers %s.", partName(part), partNames(l.Parts)))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), setupKey{}, l)))
	}
}

func partName(p string) string {
	switch p {
	case "saml":
		return "single sign-on (SAML)"
	case "scim":
		return "user provisioning (SCIM)"
	case "feeds":
		return "HR files"
	}
	return p
}

func partNames(ps []string) string {
	var out []string
	for _, p := range ps {
		out = append(out, partName(p))
	}
	return strings.Join(out, " and ")
}

type setupPart struct {
	Name, Label, URL string
}

type setupHomeView struct {
	TenantName string
	Parts      []setupPart
	Expires    time.Time
}

// setupHome: GET /console/setup/ — what the link lets the IT admin set up.
func (c *Console) setupHome(w http.ResponseWriter, r *http.Request) {
	l := setupLinkOf(r)
	t, err := c.deps.Connections.Get(r.Context(), l.Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	view := setupHomeView{TenantName: t.Name(), Expires: l.ExpiresAt}
	if view.TenantName == "" {
		view.TenantName = t.ID()
	}
	for _, p := range l.Parts {
		label := partName(p)
		view.Parts = append(view.Parts, setupPart{Name: p, Label: strings.ToUpper(label[:1]) + label[1:], URL: Prefix + "/setup/" + p})
	}
	c.render(w, r, http.StatusOK, "setup", "Set up "+view.TenantName, view)
}

// idpGuide is one IdP's steps, for the page's choice of IdP.
type idpGuide struct {
	ID, Name string
	Steps    []string
	Current  bool
	URL      string
}

var idpGuides = []idpGuide{
	{ID: "okta", Name: "Okta", Steps: []string{
		"In the Okta Admin Console, go to Applications → Create App Integration → SAML 2.0.",
		"Single sign-on URL: the ACS URL below. Audience URI (SP Entity ID): the entity id below.",
		"Name ID format: EmailAddress. Add attribute statements email, givenName and sn.",
		"Finish, then copy the app's Metadata URL (Sign On tab) into the field below."}},
	{ID: "entra", Name: "Microsoft Entra ID", Steps: []string{
		"In Entra admin center, go to Enterprise applications → New application → Create your own application (non-gallery).",
		"Single sign-on → SAML: Identifier (Entity ID) is the entity id below, Reply URL the ACS URL below.",
		"Copy the App Federation Metadata Url (SAML Certificates) into the field below."}},
	{ID: "google", Name: "Google Workspace", Steps: []string{
		"In the Google Admin console, go to Apps → Web and mobile apps → Add app → Add custom SAML app.",
		"ACS URL and Entity ID: the values below; Name ID format EMAIL, Name ID Basic Information > Primary email.",
		"Download the IdP metadata, publish it at an https URL you control, and paste that URL below."}},
	{ID: "other", Name: "Other SAML IdP", Steps: []string{
		"Create a SAML 2.0 application for rosterd in your IdP, from the SP metadata URL below or from the entity id and ACS URL.",
		"Send the person's email as the NameID (emailAddress) or as an email attribute.",
		"Paste the IdP's metadata URL into the field below."}},
}

type setupSAMLView struct {
	TenantName               string
	EntityID, ACSURL, SPMeta string
	Configured               bool
	MetadataURL              string
	Guides                   []idpGuide
	Guide                    idpGuide
	Error                    string
	Result                   *saml.TestResult
	Advice                   string
	ResultOK                 bool
	MappedEmail, MappedName  string
	MappedGroups, MappedRole string
	HasTest                  bool
}

func (c *Console) setupSAMLView(r *http.Request, t *tenant.Tenant, idp string) setupSAMLView {
	base := strings.TrimSuffix(c.deps.PublicURL, "/") + "/saml/" + t.ID()
	v := setupSAMLView{TenantName: t.Name(), EntityID: base + "/metadata", ACSURL: base + "/acs", SPMeta: base + "/metadata", HasTest: c.deps.SAML != nil}
	if v.TenantName == "" {
		v.TenantName = t.ID()
	}
	if s, ok := t.SAML(); ok {
		v.Configured, v.MetadataURL = true, s.IDPMetadataURL
		if s.EntityID != "" {
			v.EntityID = s.EntityID
		}
	}
	for _, g := range idpGuides {
		g.Current = g.ID == idp
		g.URL = Prefix + "/setup/saml?idp=" + g.ID
		if g.Current {
			v.Guide = g
		}
		v.Guides = append(v.Guides, g)
	}
	return v
}

// setupSAML: GET /console/setup/saml?idp= — the SP's values to copy, the
// IdP's steps, the metadata URL field and Test sign-in.
func (c *Console) setupSAML(w http.ResponseWriter, r *http.Request) {
	idp := r.URL.Query().Get("idp")
	if idp == "" {
		idp = "other"
	}
	if !slices.ContainsFunc(idpGuides, func(g idpGuide) bool { return g.ID == idp }) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("idp %q is not one of okta, entra, google, other.", idp))
		return
	}
	for name := range r.URL.Query() {
		if name != "idp" {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The SAML setup page has no parameter %q (it takes idp).", name))
			return
		}
	}
	t, err := c.deps.Connections.Get(r.Context(), setupLinkOf(r).Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "setup_saml", "Single sign-on · "+t.Name(), c.setupSAMLView(r, t, idp))
}

// setupSAMLSave: POST /console/setup/saml — sets the IdP's metadata URL,
// keeping the tenant's other SAML settings. A refused URL comes back as
// the form again with the problem (200: the page is the answer).
func (c *Console) setupSAMLSave(w http.ResponseWriter, r *http.Request) {
	l := setupLinkOf(r)
	t, err := c.deps.Connections.Get(r.Context(), l.Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	idp := r.PostForm.Get("idp")
	if !slices.ContainsFunc(idpGuides, func(g idpGuide) bool { return g.ID == idp }) {
		idp = "other"
	}
	mdURL := strings.TrimSpace(r.PostForm.Get("metadata_url"))
	insecure, problem := checkMetadataURL(mdURL, !c.secure)
	if problem != "" {
		v := c.setupSAMLView(r, t, idp)
		v.Error = problem
		c.render(w, r, http.StatusOK, "setup_saml", "Single sign-on · "+t.Name(), v)
		return
	}
	settings := map[string]any{}
	var cur struct {
		SAML map[string]any `json:"saml"`
	}
	if json.Unmarshal(t.View().Settings, &cur) == nil && cur.SAML != nil {
		settings = cur.SAML
	}
	delete(settings, "idp_metadata_file")
	settings["idp_metadata_url"] = mdURL
	if insecure {
		settings["allow_insecure_metadata_url"] = true
	} else {
		delete(settings, "allow_insecure_metadata_url")
	}
	doc, _ := json.Marshal(map[string]any{"saml": settings})
	if _, err := c.deps.Connections.UpdateTenant(r.Context(), setupActor(l), l.Tenant, doc); err != nil {
		v := c.setupSAMLView(r, t, idp)
		v.Error = registryProblem(err)
		c.deps.Logger.Info("setup portal: SAML settings refused", "tenant", l.Tenant, "link", l.ID, "err", err)
		c.render(w, r, http.StatusOK, "setup_saml", "Single sign-on · "+t.Name(), v)
		return
	}
	c.deps.Logger.Info("setup portal: SAML settings saved", "tenant", l.Tenant, "link", l.ID)
	c.sessions.setFlash(r.Context(), sessionOf(r), "Saved. Now run Test sign-in to check that the IdP and rosterd understand each other.")
	http.Redirect(w, r, Prefix+"/setup/saml?idp="+url.QueryEscape(idp), http.StatusSeeOther)
}

// checkMetadataURL says whether a metadata URL is plain http, or why it is
// refused. Plain http is taken only when loopbackHTTP (rosterd itself runs
// on plain http: a trial on one machine) and only to a loopback address,
// where it crosses no network; a production rosterd (public_url https)
// takes https only, so that a customer's IT admin cannot point it at a
// plain-http service on its own host.
func checkMetadataURL(raw string, loopbackHTTP bool) (insecure bool, problem string) {
	if raw == "" {
		return false, "Paste the IdP's metadata URL."
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false, fmt.Sprintf("The metadata URL %q is not a URL like https://idp.example.com/metadata.", raw)
	}
	switch u.Scheme {
	case "https":
		return false, ""
	case "http":
		if ip := net.ParseIP(u.Hostname()); loopbackHTTP && ((ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost") {
			return true, ""
		}
		return false, "The metadata URL must start with https://: the IdP's signing certificate comes from it."
	}
	return false, fmt.Sprintf("The metadata URL %q must start with https://.", raw)
}

// registryProblem is a refusal of the registry in words.
func registryProblem(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) && len(ce.Problems) > 0 {
		var out []string
		for _, p := range ce.Problems {
			out = append(out, p.Path+": "+p.Message)
		}
		return "The settings were refused: " + strings.Join(out, "; ")
	}
	var me *tenant.ManagedError
	if errors.As(err, &me) {
		return "This organization's settings are kept in rosterd's configuration file; ask the platform's operators to change them."
	}
	return "The settings could not be saved: " + err.Error()
}

// setupSAMLTest: GET /console/setup/saml/test — starts a test login; it
// ends in ConsoleTest and on the result page. A link, not a form: the
// CSP's form-action 'self' would stop a form's redirect to the IdP, and
// starting a login changes nothing (its outcome goes only to the session
// that started it).
func (c *Console) setupSAMLTest(w http.ResponseWriter, r *http.Request) {
	if c.deps.SAML == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Single sign-on is not available in this rosterd.")
		return
	}
	nonce, err := c.sessions.expect(r.Context(), sessionOf(r), pendingTest, setupLinkOf(r).Tenant, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.deps.SAML.StartLogin(w, r, setupLinkOf(r).Tenant, saml.TestPurpose+nonce)
}

// setupSAMLResult: GET /console/setup/saml/result — what the test login
// brought, or why it was refused.
func (c *Console) setupSAMLResult(w http.ResponseWriter, r *http.Request) {
	l := setupLinkOf(r)
	t, err := c.deps.Connections.Get(r.Context(), l.Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	res, ok := c.sessions.takeTest(r.Context(), sessionOf(r))
	if !ok || res.Tenant != l.Tenant {
		c.errorPage(w, r, http.StatusNotFound, "There is no test sign-in to show: run Test sign-in from the single sign-on page.")
		return
	}
	v := c.setupSAMLView(r, t, "other")
	v.Result, v.ResultOK = &res, res.Reason == ""
	if !v.ResultOK {
		v.Advice = adviceFor(res.Reason)
	}
	a := res.Login.Attributes
	v.MappedEmail, v.MappedName, v.MappedRole = res.Login.Email, strings.TrimSpace(a.GivenName+" "+a.FamilyName), a.Role
	v.MappedGroups = strings.Join(a.Groups, ", ")
	c.render(w, r, http.StatusOK, "setup_saml_result", "Test sign-in · "+v.TenantName, v)
}

type setupSCIMView struct {
	TenantName  string
	BaseURL     string
	Connections []tenant.SCIMConnection
	// Token is the new token, shown this once.
	Token string
}

func (c *Console) scimView(t *tenant.Tenant) setupSCIMView {
	v := setupSCIMView{TenantName: t.Name(), BaseURL: strings.TrimSuffix(c.deps.PublicURL, "/") + "/scim/" + t.ID() + "/v2",
		Connections: t.SCIMConnections()}
	if v.TenantName == "" {
		v.TenantName = t.ID()
	}
	return v
}

// setupSCIM: GET /console/setup/scim — the SCIM base URL and the
// connection's tokens (not their secrets).
func (c *Console) setupSCIM(w http.ResponseWriter, r *http.Request) {
	t, err := c.deps.Connections.Get(r.Context(), setupLinkOf(r).Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "setup_scim", "User provisioning · "+t.Name(), c.scimView(t))
}

// setupSCIMToken: POST /console/setup/scim/token — a new bearer token,
// shown on this answer once (only its hash is kept): the portal's
// connection is made with it the first time, and later tokens are added
// to it, the older ones kept working (rotate by revoking through the
// operators).
func (c *Console) setupSCIMToken(w http.ResponseWriter, r *http.Request) {
	l := setupLinkOf(r)
	t, err := c.deps.Connections.Get(r.Context(), l.Tenant)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var secret string
	idx := slices.IndexFunc(t.SCIMConnections(), func(sc tenant.SCIMConnection) bool { return sc.Name == setupSCIMConnection })
	if idx < 0 {
		_, secret, err = c.deps.Connections.CreateSCIMConnection(r.Context(), setupActor(l), l.Tenant, tenant.SCIMConnectionInput{Name: setupSCIMConnection})
	} else {
		_, secret, err = c.deps.Connections.AddSCIMToken(r.Context(), setupActor(l), l.Tenant, t.SCIMConnections()[idx].ID, 0)
	}
	if err != nil {
		c.deps.Logger.Warn("setup portal: no SCIM token", "tenant", l.Tenant, "link", l.ID, "err", err)
		c.errorPage(w, r, http.StatusConflict, registryProblem(err))
		return
	}
	c.deps.Logger.Info("setup portal: SCIM token made", "tenant", l.Tenant, "link", l.ID)
	if t, err = c.deps.Connections.Get(r.Context(), l.Tenant); err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.scimView(t)
	v.Token = secret
	c.render(w, r, http.StatusCreated, "setup_scim", "User provisioning · "+v.TenantName, v)
}

// refusalAdvice says what a refused test sign-in means for the IT admin
// setting the IdP up, and what to change there.
var refusalAdvice = map[saml.Reason]string{
	saml.ReasonUnsigned:          "The IdP's answer was not signed. Turn on signing of the assertion (or of the response) in the IdP.",
	saml.ReasonBadSignature:      "The signature does not match the certificate in the IdP's metadata. Check that the metadata URL is this IdP's, or save it again after a certificate change.",
	saml.ReasonWeakSignature:     "The IdP signs with SHA-1. Switch its signature algorithm to RSA-SHA256.",
	saml.ReasonWrongIssuer:       "The answer came from another IdP than the one the metadata URL describes. Paste the metadata URL of the IdP you signed in at.",
	saml.ReasonWrongAudience:     "The IdP sent the answer for another application. Set its Audience (SP entity id) to the entity id on the single sign-on page.",
	saml.ReasonWrongDestination:  "The IdP sent the answer to another address. Set its ACS URL (reply URL) to the one on the single sign-on page.",
	saml.ReasonWrongRecipient:    "The IdP sent the answer to another address. Set its ACS URL (reply URL) to the one on the single sign-on page.",
	saml.ReasonExpired:           "The answer had run out when it arrived. Check the IdP's clock, and start Test sign-in again.",
	saml.ReasonNotYetValid:       "The answer is not valid yet: the IdP's clock is ahead. Check its clock.",
	saml.ReasonNoEmail:           "No email address arrived. Send the person's email as the NameID (emailAddress format) or as an attribute named email.",
	saml.ReasonIdPStatus:         "The IdP refused the sign-in itself; its own log says why (a user not assigned to the application, often).",
	saml.ReasonReplay:            "This answer was used before. Start Test sign-in again.",
	saml.ReasonUnknownRequest:    "The answer does not belong to a sign-in started here. Start Test sign-in from the single sign-on page.",
	saml.ReasonIdPInitiated:      "The sign-in was started at the IdP. Start it with Test sign-in here instead.",
	saml.ReasonUndecryptable:     "The assertion is encrypted for another key. Turn assertion encryption off, or give the IdP this rosterd's encryption certificate.",
	saml.ReasonSignatureWrapping: "The answer's structure was refused as unsafe. Check the IdP's signing settings.",
}

func adviceFor(r saml.Reason) string {
	if a, ok := refusalAdvice[r]; ok {
		return a
	}
	return "The IdP's answer was refused. The detail below says which check failed."
}
