package config

import (
	"time"
)

// Config is the whole daemon's configuration: one YAML file, or Default()
// when there is none. Fields hold the values after ApplyDefaults; each
// comment names the YAML key's default.
type Config struct {
	// Listen is the HTTP listen address, host:port. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// PublicURL is the base of every link rosterd hands out (SAML endpoints,
	// invite links). Default "http://" + Listen, with a wildcard or empty host
	// replaced by localhost.
	PublicURL string `yaml:"public_url"`
	// DataDir holds the default SQLite file and generated keys. Default ".",
	// the working directory (not the config file's directory).
	DataDir string `yaml:"data_dir"`
	// Store selects the database. Default SQLite in DataDir.
	Store Store `yaml:"store"`
	// AutoMigrate applies pending schema migrations at start. Default true;
	// read it with AutoMigrateEnabled.
	AutoMigrate *bool `yaml:"auto_migrate"`
	// ShutdownTimeout bounds a graceful shutdown. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// HTTP bounds how long a client may take to send a request. Defaults
	// 10s for the headers, 60s for the body.
	HTTP HTTP `yaml:"http"`
	// Log configures log/slog output. Default level info, format auto.
	Log Log `yaml:"log"`
	// AdminKeys are the bearer keys of the admin API. Default none: the
	// daemon then generates a bootstrap key at first start.
	AdminKeys []AdminKey `yaml:"admin_keys"`
	// SMTP is the outgoing mail server for invites. Default none.
	SMTP SMTP `yaml:"smtp"`
	// Webhooks receive card events. Default none.
	Webhooks []Webhook `yaml:"webhooks"`
	// DropBox is the hosted drop box of feeds with source: upload (see
	// dropbox.go). Default: no SFTP server, inboxes in DataDir/dropbox.
	DropBox DropBox `yaml:"drop_box"`
	// Events configures the event log. Default retention 720h.
	Events Events `yaml:"events"`
	// Tenants are the organizations served. Default: when the file names
	// none, one tenant with id "default" and name "Default".
	Tenants []Tenant `yaml:"tenants"`
	// SecretsKey is the one key an operator keeps: the key-encryption key
	// of the secrets rosterd stores and must use again (the SAML SP keys
	// it generates), and the key invite tokens are derived from (HKDF),
	// so that no stored row holds a usable invite. 32 bytes, as hex or
	// base64 (DecodeKey). Default none: a key generated at first start
	// into DataDir/secrets.key (mode 0600). Replicas sharing one
	// PostgreSQL, and every command that queues invites (import, sync
	// run), must hold the same: set it, the same on each.
	SecretsKey string `yaml:"secrets_key"`
	// SecretsKeyFile names a file holding SecretsKey; Parse reads it into
	// SecretsKey and clears this field. Default none.
	SecretsKeyFile string `yaml:"secrets_key_file"`
	// SecretsOldKeyFiles name files holding earlier secrets keys, during a
	// rotation: what they sealed still opens, and new secrets are sealed
	// under SecretsKey (rosterd secrets rotate). Default none.
	SecretsOldKeyFiles []string `yaml:"secrets_old_key_files"`

	// lines maps each key path written in the file to its line, so that
	// Validate can point at the line and ApplyDefaults can tell an explicit
	// zero ("max_disable_count: 0") from a key left out. Nil when the Config
	// was not parsed from a file.
	lines map[string]int
}

// Store selects and configures the database.
type Store struct {
	// Driver is "sqlite" or "postgres". Default "sqlite".
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path or the Postgres connection string.
	// Default for sqlite: filepath.Join(DataDir, "rosterd.db"); required for
	// postgres.
	DSN string `yaml:"dsn"`
	// DSNFile names a file holding DSN; Parse reads it into DSN and clears
	// this field. Default none.
	DSNFile string `yaml:"dsn_file"`
	// MaxConns caps open connections. Default 0: the driver's own default.
	MaxConns int `yaml:"max_conns"`
}

// HTTP bounds how long a client may take to send a request, so that a slow
// client cannot hold a connection for ever.
type HTTP struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadBodyTimeout bounds reading a request's body, from the end of its
	// headers (an upload to POST .../imports must arrive within it).
	// Default 60s.
	ReadBodyTimeout Duration `yaml:"read_body_timeout"`
}

// Log configures the daemon's log output.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is auto (colored text on a terminal, JSON otherwise), text or
	// json. Default "auto".
	Format string `yaml:"format"`
}

// AdminKey is one bearer key of the admin API.
type AdminKey struct {
	// Name identifies the key in logs and events. Required.
	Name string `yaml:"name"`
	// Key is the secret itself. Required (or KeyFile).
	Key string `yaml:"key"`
	// KeyFile names a file holding Key; Parse reads it into Key and clears
	// this field. Default none.
	KeyFile string `yaml:"key_file"`
	// ReadOnly limits the key to GET requests. Default false.
	ReadOnly bool `yaml:"read_only"`
	// Scopes widen the key: "operator" manages tenants and their
	// connections through /api/v1/tenants. Default none.
	Scopes []string `yaml:"scopes"`
}

// SMTP is the outgoing mail server.
type SMTP struct {
	// URL is smtp://user:password@host:port (STARTTLS) or smtps://… (TLS).
	// Default none: no mail leaves the daemon.
	URL string `yaml:"url"`
	// URLFile names a file holding URL; Parse reads it into URL and clears
	// this field. Default none.
	URLFile string `yaml:"url_file"`
	// From is the sender address, e.g. "Acme <noreply@example.com>".
	// Required when URL is set.
	From string `yaml:"from"`
}

// Webhook is one receiver of card events.
type Webhook struct {
	// URL is an absolute https:// URL (http:// only with Insecure).
	// Required.
	URL string `yaml:"url"`
	// Secret signs each delivery, at least 32 bytes. Required unless
	// Insecure.
	Secret string `yaml:"secret"`
	// SecretFile names a file holding Secret; Parse reads it into Secret and
	// clears this field. Default none.
	SecretFile string `yaml:"secret_file"`
	// Tenants limits the webhook to these tenant ids. Default: all tenants.
	Tenants []string `yaml:"tenants"`
	// Insecure allows an http:// URL and deliveries without a secret
	// (unsigned), for a test receiver. Default false.
	Insecure bool `yaml:"insecure"`
}

// Events configures the event log.
type Events struct {
	// Retention is how long events are kept. Default 720h (30 days).
	Retention Duration `yaml:"retention"`
}

// Tenant is one organization and its policy; everything else is scoped by it.
type Tenant struct {
	// ID is the tenant's stable identifier, [a-z0-9][a-z0-9-]{0,62}. Required.
	ID string `yaml:"id"`
	// Name is shown to people. Default: ID.
	Name string `yaml:"name"`
	// Invite is "email" (new cards get an invite mail) or "none" (SSO only).
	// Default "email".
	Invite string `yaml:"invite"`
	// InviteTTL is how long an invite stays valid. Default 168h.
	InviteTTL Duration `yaml:"invite_ttl"`
	// ReminderInterval is the time between invite reminders; 0 sends none.
	// Default 24h.
	ReminderInterval Duration `yaml:"reminder_interval"`
	// AutoInvite invites new cards without an admin's action. Default true;
	// read it with AutoInviteEnabled.
	AutoInvite *bool `yaml:"auto_invite"`
	// JIT creates a card on the first SAML login of an unknown person.
	// Default false.
	JIT bool `yaml:"jit"`
	// Safety limits what one sync run may disable. Defaults 10%, 50, 0.5.
	Safety Safety `yaml:"safety"`
	// Precedence orders source kinds for attribute values, first wins. When
	// given it must list admin, scim, ldap, file and saml exactly once each.
	// Default [admin, scim, ldap, file, saml].
	Precedence []string `yaml:"precedence"`
	// AppCallbackURL is where login codes go after SAML login or an invite
	// link. Required when SAML is configured.
	AppCallbackURL string `yaml:"app_callback_url"`
	// AllowedReturnURLs are the return URLs the app may ask for. Default none.
	AllowedReturnURLs []string `yaml:"allowed_return_urls"`
	// SCIM lists the SCIM clients (identity providers) allowed to push.
	// Default none.
	SCIM []SCIMConnection `yaml:"scim"`
	// SAML configures login through the tenant's identity provider. Default
	// nil: no SAML login.
	SAML *SAML `yaml:"saml"`
	// Feeds are the scheduled file and LDAP imports. Default none.
	Feeds []Feed `yaml:"feeds"`
	// Roles is the tenant's role set, e.g. [admin, staff, client]. Default
	// none: role is free text.
	Roles []string `yaml:"roles"`
	// DefaultRole is the role of a card nothing else gives one; one of
	// Roles. Default none.
	DefaultRole string `yaml:"default_role"`
	// RoleRules map IdP groups and source values to roles, first match
	// wins. Default none.
	RoleRules []RoleRule `yaml:"role_rules"`
	// Approval is none, new_cards or jit_only. Default none.
	Approval string `yaml:"approval"`
	// Relations names the relations between cards besides the manager,
	// e.g. [parent, instructor]. Default none.
	Relations []string `yaml:"relations"`
	// Domains are the tenant's email domains (lower case, like
	// "acme.com"): GET /saml/login?email=ann@acme.com signs in through this
	// tenant's IdP. A domain belongs to one tenant. Default none.
	Domains []string `yaml:"domains"`
	// SSODomains are email domains (lower case, like "acme.com") whose
	// people sign in through the tenant's SSO: in an invite: email tenant
	// they are not sent an email invite and are provisioned. Default none.
	SSODomains []string `yaml:"sso_domains"`
	// APIMayExtend lets the admin API add to this tenant (a SCIM
	// connection, a token) although the file manages it; what the file
	// declares stays the file's. Default false: the API refuses every
	// change to it with 409.
	APIMayExtend bool `yaml:"api_may_extend"`
}

// RoleRule maps what a source says of a person to a role: when the
// person is in Group (a SCIM group's display name, an LDAP group DN, a
// name of a file's Groups column) or the source's role value is Value (a
// SAML attribute's, a file column's), the card gets Role. Group or Value
// is required; both must hold when both are set.
type RoleRule struct {
	// Source limits the rule to a source kind (scim, ldap, file, saml) or
	// one source (scim:okta, file:hr). Default: every source.
	Source string `yaml:"source"`
	Group  string `yaml:"group"`
	Value  string `yaml:"value"`
	// Role is one of the tenant's roles. Required.
	Role string `yaml:"role"`
}

// Safety limits what one sync run may change before it stops for a human.
// A key written as 0 stays 0 (e.g. max_disable_count: 0 forbids automatic
// disables); only keys left out take the default.
type Safety struct {
	// MaxDisablePercent is the largest share of enabled cards, 0..100, one
	// run may disable. Default 10.
	MaxDisablePercent float64 `yaml:"max_disable_percent"`
	// MaxDisableCount is the largest number of cards one run may disable.
	// Default 50.
	MaxDisableCount int `yaml:"max_disable_count"`
	// MinSnapshotRatio, 0..1, rejects a snapshot smaller than this share of
	// the previous one (a truncated export). Default 0.5.
	MinSnapshotRatio float64 `yaml:"min_snapshot_ratio"`
}

// SCIMConnection is one SCIM client of a tenant, named in claims as
// "scim:<name>".
type SCIMConnection struct {
	// Name identifies the connection, [a-z0-9][a-z0-9_-]*. Required.
	Name string `yaml:"name"`
	// Token is the bearer token the client sends. One of Token, TokenFile or
	// Tokens is required.
	Token string `yaml:"token"`
	// TokenFile names a file holding Token; Parse reads it into Token and
	// clears this field. Default none.
	TokenFile string `yaml:"token_file"`
	// Tokens are further valid tokens, so a token can be rotated without a
	// gap. Default none.
	Tokens []string `yaml:"tokens"`
	// Authoritative lets this connection enable and disable cards; false
	// makes it attributes-only. Default true; read it with
	// AuthoritativeEnabled.
	Authoritative *bool `yaml:"authoritative"`
}

// SAML configures the tenant's SAML identity provider and our service
// provider.
type SAML struct {
	// IDPMetadataURL is fetched and refreshed every MetadataRefresh. Exactly
	// one of IDPMetadataURL and IDPMetadataFile is required.
	IDPMetadataURL string `yaml:"idp_metadata_url"`
	// IDPMetadataFile is a local copy of the IdP metadata. Default none.
	IDPMetadataFile string `yaml:"idp_metadata_file"`
	// AllowInsecureMetadataURL permits an http:// IDPMetadataURL, whose
	// content an attacker on the path could replace. Default false.
	AllowInsecureMetadataURL bool `yaml:"allow_insecure_metadata_url"`
	// MetadataRefresh is how often IDPMetadataURL is fetched. Default 24h.
	MetadataRefresh Duration `yaml:"metadata_refresh"`
	// AllowIDPInitiated accepts responses without a request of ours.
	// Default false.
	AllowIDPInitiated bool `yaml:"allow_idp_initiated"`
	// AllowSHA1 accepts responses signed with RSA-SHA1 or a SHA-1 digest,
	// for old ADFS installations. Default false: refused as weak_signature.
	AllowSHA1 bool `yaml:"allow_sha1"`
	// Attributes maps our attribute names to the IdP's attribute names.
	// Default none (the IdP's NameID is the email).
	Attributes map[string]string `yaml:"attributes"`
	// EntityID is our SP entity id. Default: derived from PublicURL by the
	// saml package.
	EntityID string `yaml:"entity_id"`
	// CertFile and KeyFile are our signing certificate and key (PEM).
	// Default: generated at first start by the saml package and kept in
	// the store, so that every replica signs with the same key.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key matching CertFile. Default none.
	KeyFile string `yaml:"key_file"`
	// EncryptionCertFile and EncryptionKeyFile decrypt encrypted assertions.
	// Default none.
	EncryptionCertFile string `yaml:"encryption_cert_file"`
	// EncryptionKeyFile is the private key matching EncryptionCertFile.
	// Default none.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// SignRequests signs our AuthnRequests. Default true; read it with
	// SignRequestsEnabled.
	SignRequests *bool `yaml:"sign_requests"`
	// ClockSkew is the tolerance on assertion times. Default 3m.
	ClockSkew Duration `yaml:"clock_skew"`
	// RequestCookieLifetime bounds the login round trip. Default 5m.
	RequestCookieLifetime Duration `yaml:"request_cookie_lifetime"`
}

// Feed is one scheduled import, named in claims as "file:<name>" or
// "ldap:<name>". The keys of FileFeed and LDAPFeed sit in the feed's own
// YAML mapping; Validate rejects keys of the other kind.
type Feed struct {
	// Name identifies the feed in its tenant, [a-z0-9][a-z0-9_-]*. Required.
	Name string `yaml:"name"`
	// Kind is "file" or "ldap". Required.
	Kind string `yaml:"kind"`
	// Schedule is a 5-field cron spec or a descriptor (@daily, @every 1h).
	// Default none: the feed runs only when asked.
	Schedule string `yaml:"schedule"`
	// Timezone is the IANA zone Schedule is read in. Default "UTC".
	Timezone string `yaml:"timezone"`
	// Authoritative lets the feed enable and disable cards; false makes it
	// attributes-only. Default true; read it with AuthoritativeEnabled.
	Authoritative *bool `yaml:"authoritative"`
	// RunMissedOnStart runs the feed at start when the daemon was down at its
	// last scheduled time. Default true; read it with RunMissedOnStartEnabled.
	RunMissedOnStart *bool `yaml:"run_missed_on_start"`
	// File holds the keys of kind file; their defaults are filled only on
	// file feeds (see FileFeed).
	File FileFeed `yaml:",inline"`
	// LDAP holds the keys of kind ldap; their defaults are filled only on
	// ldap feeds (see LDAPFeed).
	LDAP LDAPFeed `yaml:",inline"`
}

// FileFeed reads HR exports (CSV, TSV, XLSX) from a folder or SFTP server.
type FileFeed struct {
	// Source is dir:///abs/path/glob, sftp://user@host:port/path/glob or
	// "upload" (the drop box: see Upload). Required for kind file.
	Source string `yaml:"source"`
	// Upload says who may upload to a source: upload feed. Default none.
	Upload Upload `yaml:"upload"`
	// RunOnUpload runs a source: upload feed as soon as an upload is
	// complete. Default false: the next scheduled run reads it.
	RunOnUpload bool `yaml:"run_on_upload"`
	// SFTP holds credentials for an sftp:// Source.
	SFTP SFTP `yaml:"sftp"`
	// Key is the attribute that identifies a person: "email" or
	// "employee_id". Default "email".
	Key string `yaml:"key"`
	// Columns maps header text to our attribute names (those of
	// SAML.Attributes, plus "status"). Default none: headers are our names.
	Columns map[string]string `yaml:"columns"`
	// StatusColumn is the header whose value says whether a person left.
	// Default none.
	StatusColumn string `yaml:"status_column"`
	// InactiveValues are status values (case-insensitive) that disable a
	// card. Default [terminated, inactive, leaver, disabled].
	InactiveValues []string `yaml:"inactive_values"`
	// DoneMarker, e.g. ".done", is a file whose presence says the export
	// beside it is complete. Default none.
	DoneMarker string `yaml:"done_marker"`
	// StableFor is how long a file's size and mtime must stay unchanged
	// before it is read. Default 30s.
	StableFor Duration `yaml:"stable_for"`
	// Archive is the folder, relative to the drop folder, processed files
	// move to; "" leaves them in place. Default "processed"; read it with
	// ArchiveDir.
	Archive *string `yaml:"archive"`
	// Partial: the file asserts only the attributes it has columns for; a
	// missing column or an empty cell leaves the attribute as it is.
	// Default false: the file is the person's whole record, and a missing
	// column or an empty cell clears the attribute.
	Partial bool `yaml:"partial"`
	// MaxFileSize is the largest file the feed reads (checked before it is
	// downloaded). Default 200MiB.
	MaxFileSize Size `yaml:"max_file_size"`
	// MaxLineLength bounds one row of a CSV or TSV file, line ends inside
	// quoted values included. Default 1MiB.
	MaxLineLength Size `yaml:"max_line_length"`
	// MaxCellLength bounds one value of any row. Default 64KiB.
	MaxCellLength Size `yaml:"max_cell_length"`
	// XLSXMaxExpandedSize bounds what the parts of a workbook that are read
	// unzip to, together. Default 128MiB.
	XLSXMaxExpandedSize Size `yaml:"xlsx_max_expanded_size"`
	// XLSXMaxCompressionRatio bounds how much one part of a workbook over
	// 1 MiB may expand (uncompressed size / compressed size). Default 100.
	XLSXMaxCompressionRatio int `yaml:"xlsx_max_compression_ratio"`
}

// SFTP holds the credentials of an SFTP file feed.
type SFTP struct {
	// PrivateKeyFile is an SSH private key. One of PrivateKeyFile,
	// PrivateKey, Password or PasswordFile is required.
	PrivateKeyFile string `yaml:"private_key_file"`
	// Password is the SSH password. Default none.
	Password string `yaml:"password"`
	// PasswordFile names a file holding Password; Parse reads it into
	// Password and clears this field. Default none.
	PasswordFile string `yaml:"password_file"`
	// KnownHostsFile pins the server's host key. Required (or KnownHosts):
	// rosterd never trusts an unknown host key.
	KnownHostsFile string `yaml:"known_hosts_file"`
	// KnownHosts are known_hosts lines themselves, for a feed made through
	// the admin API, which reads no files. Default none.
	KnownHosts string `yaml:"known_hosts"`
	// PrivateKey is an unencrypted SSH private key itself (PEM or
	// OpenSSH), a secret, for a feed made through the admin API. Default
	// none.
	PrivateKey string `yaml:"private_key"`
}

// LDAPFeed reads people from OpenLDAP or Active Directory.
type LDAPFeed struct {
	// URL is ldaps://host[:port] or ldap://host[:port] (upgraded with
	// StartTLS unless InsecurePlaintext). Required for kind ldap.
	URL string `yaml:"url"`
	// BindDN is the service account. Default none (anonymous bind).
	BindDN string `yaml:"bind_dn"`
	// BindPassword is the service account's password. Default none.
	BindPassword string `yaml:"bind_password"`
	// BindPasswordFile names a file holding BindPassword; Parse reads it
	// into BindPassword and clears this field. Default none.
	BindPasswordFile string `yaml:"bind_password_file"`
	// BaseDN is where the search starts. Required for kind ldap.
	BaseDN string `yaml:"base_dn"`
	// Scope is sub, one or base. Default "sub".
	Scope string `yaml:"scope"`
	// Filter is an LDAP search filter. Default none: the ldapfeed package
	// picks one for people.
	Filter string `yaml:"filter"`
	// ActiveDirectory reads AD's attributes and its "account disabled" bit.
	// Default false.
	ActiveDirectory bool `yaml:"active_directory"`
	// PageSize is the paged-search page size. Default 500.
	PageSize int `yaml:"page_size"`
	// CAFile is a PEM bundle trusted for the server's certificate. Default:
	// the system pool.
	CAFile string `yaml:"ca_file"`
	// CA is that PEM bundle itself, for a feed made through the admin
	// API, which reads no files. Default none.
	CA string `yaml:"ca"`
	// TLSServerName overrides the name checked in the server's certificate.
	// A certificate that names the server only in its subject CN (Samba
	// AD's) is accepted, with a warning, when CAFile signed it and the CN
	// is this name. Default: the URL's host.
	TLSServerName string `yaml:"tls_server_name"`
	// TLSPinSHA256 trusts the server's certificate by its public key
	// instead of by a CA: the base64 SHA-256 of the certificate's
	// SubjectPublicKeyInfo, as curl's --pinnedpubkey writes it
	// ("sha256//" prefix optional), several separated by ";". With a pin
	// neither ca_file nor the certificate's names are checked. Default none.
	TLSPinSHA256 string `yaml:"tls_pin_sha256"`
	// InsecurePlaintext allows ldap:// without StartTLS, sending the bind
	// password in clear. Default false.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// InsecureSkipVerify accepts any server certificate. For tests against
	// a throwaway server only: it lets anyone on the path read the bind
	// password. Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds each LDAP operation. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// Groups are group DNs whose members are read. Default none: everyone
	// the filter matches.
	Groups []string `yaml:"groups"`
	// Attributes maps our attribute names to LDAP attribute names. Default
	// none: the ldapfeed package's mapping for OpenLDAP or AD.
	Attributes map[string]string `yaml:"attributes"`
}

// FindTenant returns the tenant with the given id.
func (c *Config) FindTenant(id string) (*Tenant, bool) {
	for i := range c.Tenants {
		if c.Tenants[i].ID == id {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}

// FindFeed returns the tenant's feed with the given name.
func (t *Tenant) FindFeed(name string) (*Feed, bool) {
	for i := range t.Feeds {
		if t.Feeds[i].Name == name {
			return &t.Feeds[i], true
		}
	}
	return nil, false
}

// AutoMigrateEnabled reports auto_migrate, true when unset.
func (c *Config) AutoMigrateEnabled() bool { return boolOr(c.AutoMigrate, true) }

// AutoInviteEnabled reports auto_invite, true when unset.
func (t *Tenant) AutoInviteEnabled() bool { return boolOr(t.AutoInvite, true) }

// AuthoritativeEnabled reports authoritative, true when unset.
func (s *SCIMConnection) AuthoritativeEnabled() bool { return boolOr(s.Authoritative, true) }

// AllTokens returns Token and Tokens, the bearer tokens valid for this
// connection.
func (s *SCIMConnection) AllTokens() []string {
	var all []string
	if s.Token != "" {
		all = append(all, s.Token)
	}
	return append(all, s.Tokens...)
}

// SignRequestsEnabled reports sign_requests, true when unset.
func (s *SAML) SignRequestsEnabled() bool { return boolOr(s.SignRequests, true) }

// AuthoritativeEnabled reports authoritative, true when unset.
func (f *Feed) AuthoritativeEnabled() bool { return boolOr(f.Authoritative, true) }

// RunMissedOnStartEnabled reports run_missed_on_start, true when unset.
func (f *Feed) RunMissedOnStartEnabled() bool { return boolOr(f.RunMissedOnStart, true) }

// ArchiveDir returns the archive folder, "processed" when unset and "" when
// archiving is off.
func (f *FileFeed) ArchiveDir() string {
	if f.Archive == nil {
		return defaultArchive
	}
	return *f.Archive
}

// Location returns the feed's time zone, UTC when unset. Validate has
// checked that the name loads.
func (f *Feed) Location() (*time.Location, error) {
	return time.LoadLocation(f.Timezone)
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
