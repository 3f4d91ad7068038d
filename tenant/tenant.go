package tenant

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// Tenant is one tenant as it is at one moment: an immutable value, safe to
// hold for the length of a request or a run. Its methods return copies.
type Tenant struct {
	id           string
	managedBy    string
	apiMayExtend bool
	retiredAt    time.Time
	createdAt    time.Time
	updatedAt    time.Time
	version      int64
	// spec holds the settings; never changed once the Tenant is built.
	spec     *config.Tenant
	scim     []SCIMConnection
	webhooks []config.Webhook
	// domains are spec.Domains with their verification.
	domains []Domain
	// feeds and hooks are those the API added (their secrets opened).
	feeds []Feed
	hooks []WebhookEndpoint
}

// SCIMConnection is one SCIM client of a tenant, named in claims as
// "scim:<name>".
type SCIMConnection struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Authoritative connections decide enabled/disabled; the others only
	// enrich attributes.
	Authoritative bool    `json:"authoritative"`
	ManagedBy     string  `json:"managed_by"`
	Tokens        []Token `json:"tokens"`
	// CreatedAt is when the connection was first stored.
	CreatedAt time.Time `json:"created_at"`
}

// Token is one bearer token of a SCIM connection, without its secret.
type Token struct {
	ID        string    `json:"id"`
	ManagedBy string    `json:"managed_by"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt ends a rotated token's overlap; zero: never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// FromConfig is a tenant of the file alone, before any store: what the
// one-shot commands (sync, import) work with.
func FromConfig(t *config.Tenant) *Tenant {
	return &Tenant{id: t.ID, managedBy: store.ManagedByConfig, apiMayExtend: t.APIMayExtend, spec: stripSCIM(t)}
}

func stripSCIM(t *config.Tenant) *config.Tenant {
	c := t.Clone()
	c.SCIM = nil
	return c
}

// ID is the tenant's stable identifier.
func (t *Tenant) ID() string { return t.id }

// Name is shown to people.
func (t *Tenant) Name() string { return t.spec.Name }

// ManagedBy is store.ManagedByConfig or store.ManagedByAPI.
func (t *Tenant) ManagedBy() string { return t.managedBy }

// APIMayExtend reports whether the API may add to a config-managed tenant.
func (t *Tenant) APIMayExtend() bool { return t.apiMayExtend }

// Retired reports whether the tenant was retired.
func (t *Tenant) Retired() bool { return !t.retiredAt.IsZero() }

// Version grows with every stored change of the tenant's row.
func (t *Tenant) Version() int64 { return t.version }

// Policy is the directory's policy of the tenant.
func (t *Tenant) Policy() directory.Policy {
	s := t.spec
	return directory.Policy{
		Invite:           s.Invite,
		InviteTTL:        s.InviteTTL.Std(),
		ReminderInterval: s.ReminderInterval.Std(),
		AutoInvite:       s.AutoInviteEnabled(),
		JIT:              s.JIT,
		Precedence:       slices.Clone(s.Precedence),
		Roles:            slices.Clone(s.Roles),
		DefaultRole:      s.DefaultRole,
		RoleRules:        roleRules(s.RoleRules),
		Approval:         s.Approval,
		Relations:        slices.Clone(s.Relations),
		SSODomains:       slices.Clone(s.SSODomains),
	}
}

// roleRules turns a tenant's configured role rules into the directory's.
func roleRules(rules []config.RoleRule) []directory.RoleRule {
	var out []directory.RoleRule
	for _, r := range rules {
		out = append(out, directory.RoleRule{Source: r.Source, Group: r.Group, Value: r.Value, Role: r.Role})
	}
	return out
}

// Limits are the safety limits of one sync run or import of the tenant.
func (t *Tenant) Limits() reconcile.Limits {
	s := t.spec.Safety
	return reconcile.Limits{MaxDisablePercent: s.MaxDisablePercent, MaxDisableCount: s.MaxDisableCount, MinSnapshotRatio: s.MinSnapshotRatio}
}

// AppCallbackURL is where login codes go after a SAML login or an invite
// link; "" when none is set.
func (t *Tenant) AppCallbackURL() string { return t.spec.AppCallbackURL }

// AllowedReturnURLs are the return URLs the app may ask for.
func (t *Tenant) AllowedReturnURLs() []string { return slices.Clone(t.spec.AllowedReturnURLs) }

// SAML returns the tenant's SAML settings, or false when it has none.
func (t *Tenant) SAML() (config.SAML, bool) {
	if t.spec.SAML == nil {
		return config.SAML{}, false
	}
	return *t.spec.Clone().SAML, true
}

// Domains returns the tenant's email domains.
func (t *Tenant) Domains() []string { return slices.Clone(t.spec.Domains) }

// Webhooks returns the webhooks of the file that receive the tenant's
// events (WebhookEndpoints: those the API added too).
func (t *Tenant) Webhooks() []config.Webhook { return slices.Clone(t.webhooks) }

// SCIMConnections returns the tenant's SCIM connections by name.
func (t *Tenant) SCIMConnections() []SCIMConnection {
	out := make([]SCIMConnection, len(t.scim))
	for i, c := range t.scim {
		c.Tokens = slices.Clone(c.Tokens)
		out[i] = c
	}
	return out
}

// SCIMConnection returns the connection of that name.
func (t *Tenant) SCIMConnection(name string) (SCIMConnection, bool) {
	for _, c := range t.SCIMConnections() {
		if c.Name == name {
			return c, true
		}
	}
	return SCIMConnection{}, false
}

// Settings returns a copy of the tenant's settings, as the file's
// tenants[] entry takes them (without SCIM connections, which the
// registry keeps apart).
func (t *Tenant) Settings() *config.Tenant { return t.spec.Clone() }

// View is what the admin API shows of a tenant: its settings without
// secrets, and who manages it.
type View struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	ManagedBy    string           `json:"managed_by"`
	APIMayExtend bool             `json:"api_may_extend"`
	Retired      bool             `json:"retired"`
	RetiredAt    time.Time        `json:"retired_at,omitzero"`
	CreatedAt    time.Time        `json:"created_at,omitzero"`
	UpdatedAt    time.Time        `json:"updated_at,omitzero"`
	Version      int64            `json:"version"`
	Settings     json.RawMessage  `json:"settings"`
	SCIM         []SCIMConnection `json:"scim_connections"`
}

// View returns the tenant as the admin API shows it.
func (t *Tenant) View() View {
	settings, _ := specJSON(t.spec)
	scim := t.SCIMConnections()
	if scim == nil {
		scim = []SCIMConnection{}
	}
	return View{ID: t.id, Name: t.spec.Name, ManagedBy: t.managedBy, APIMayExtend: t.apiMayExtend, Retired: t.Retired(),
		RetiredAt: t.retiredAt, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt, Version: t.version, Settings: settings, SCIM: scim}
}
