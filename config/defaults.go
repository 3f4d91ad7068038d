package config

import (
	"fmt"
	"net"
	"path/filepath"
	"time"
)

const (
	defaultListen          = "127.0.0.1:8080"
	defaultTenantID        = "default"
	defaultTenantName      = "Default"
	defaultArchive         = "processed"
	defaultShutdownTimeout = Duration(30 * time.Second)
	defaultRetention       = Duration(720 * time.Hour)
	defaultReadHeader      = Duration(10 * time.Second)
	defaultReadBody        = Duration(60 * time.Second)
)

// The defaults of a file feed's limits, which admin imports and
// "rosterd import" apply too (see filefeed.Limits).
const (
	DefaultMaxFileSize             = 200 << 20
	DefaultMaxLineLength           = 1 << 20
	DefaultMaxCellLength           = 64 << 10
	DefaultXLSXMaxExpandedSize     = 128 << 20
	DefaultXLSXMaxCompressionRatio = 100
)

// sourceKinds are the valid precedence entries, in the default order.
var sourceKinds = []string{"admin", "scim", "ldap", "file", "saml"}

// defaultInactiveValues are HR status values that mean "this person left".
var defaultInactiveValues = []string{"terminated", "inactive", "leaver", "disabled"}

// Default returns the configuration used when there is no file: SQLite in
// the working directory, 127.0.0.1:8080 and one tenant "default".
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills every setting the file left out. A key written in the
// file keeps its value even when that value is zero or empty, so that
// "max_disable_count: 0" means zero and not 50; on a Config built in code,
// where nothing was written, every zero field takes its default.
func (c *Config) ApplyDefaults() {
	setDefault(c, "listen", &c.Listen, defaultListen)
	setDefault(c, "public_url", &c.PublicURL, DefaultPublicURL(c.Listen))
	setDefault(c, "data_dir", &c.DataDir, ".")
	setDefault(c, "store.driver", &c.Store.Driver, "sqlite")
	if c.Store.Driver == "sqlite" && c.Store.DSNFile == "" {
		setDefault(c, "store.dsn", &c.Store.DSN, filepath.Join(c.DataDir, "rosterd.db"))
	}
	setPointer(&c.AutoMigrate, true)
	setDefault(c, "shutdown_timeout", &c.ShutdownTimeout, defaultShutdownTimeout)
	setDefault(c, "http.read_header_timeout", &c.HTTP.ReadHeaderTimeout, defaultReadHeader)
	setDefault(c, "http.read_body_timeout", &c.HTTP.ReadBodyTimeout, defaultReadBody)
	setDefault(c, "log.level", &c.Log.Level, "info")
	setDefault(c, "log.format", &c.Log.Format, "auto")
	setDefault(c, "events.retention", &c.Events.Retention, defaultRetention)

	if len(c.Tenants) == 0 && !c.written("tenants") {
		c.Tenants = []Tenant{{ID: defaultTenantID, Name: defaultTenantName}}
	}
	for i := range c.Tenants {
		c.tenantDefaults(fmt.Sprintf("tenants[%d]", i), &c.Tenants[i])
	}
}

func (c *Config) tenantDefaults(path string, t *Tenant) {
	setDefault(c, path+".name", &t.Name, t.ID)
	setDefault(c, path+".invite", &t.Invite, "email")
	setDefault(c, path+".invite_ttl", &t.InviteTTL, Duration(168*time.Hour))
	setDefault(c, path+".reminder_interval", &t.ReminderInterval, Duration(24*time.Hour))
	setPointer(&t.AutoInvite, true)
	setDefault(c, path+".safety.max_disable_percent", &t.Safety.MaxDisablePercent, 10)
	setDefault(c, path+".safety.max_disable_count", &t.Safety.MaxDisableCount, 50)
	setDefault(c, path+".safety.min_snapshot_ratio", &t.Safety.MinSnapshotRatio, 0.5)
	if len(t.Precedence) == 0 && !c.written(path+".precedence") {
		t.Precedence = append([]string(nil), sourceKinds...)
	}
	for i := range t.SCIM {
		setPointer(&t.SCIM[i].Authoritative, true)
	}
	if s := t.SAML; s != nil {
		setDefault(c, path+".saml.metadata_refresh", &s.MetadataRefresh, Duration(24*time.Hour))
		setPointer(&s.SignRequests, true)
		setDefault(c, path+".saml.clock_skew", &s.ClockSkew, Duration(3*time.Minute))
		setDefault(c, path+".saml.request_cookie_lifetime", &s.RequestCookieLifetime, Duration(5*time.Minute))
	}
	for i := range t.Feeds {
		c.feedDefaults(fmt.Sprintf("%s.feeds[%d]", path, i), &t.Feeds[i])
	}
}

// feedDefaults fills only the keys of the feed's kind, so that Validate can
// still reject keys of the other kind.
func (c *Config) feedDefaults(path string, f *Feed) {
	setDefault(c, path+".timezone", &f.Timezone, "UTC")
	setPointer(&f.Authoritative, true)
	setPointer(&f.RunMissedOnStart, true)
	switch f.Kind {
	case "file":
		ff := &f.File
		setDefault(c, path+".key", &ff.Key, "email")
		if len(ff.InactiveValues) == 0 && !c.written(path+".inactive_values") {
			ff.InactiveValues = append([]string(nil), defaultInactiveValues...)
		}
		setDefault(c, path+".stable_for", &ff.StableFor, Duration(30*time.Second))
		setDefault(c, path+".max_file_size", &ff.MaxFileSize, DefaultMaxFileSize)
		setDefault(c, path+".max_line_length", &ff.MaxLineLength, DefaultMaxLineLength)
		setDefault(c, path+".max_cell_length", &ff.MaxCellLength, DefaultMaxCellLength)
		setDefault(c, path+".xlsx_max_expanded_size", &ff.XLSXMaxExpandedSize, DefaultXLSXMaxExpandedSize)
		setDefault(c, path+".xlsx_max_compression_ratio", &ff.XLSXMaxCompressionRatio, DefaultXLSXMaxCompressionRatio)
		if ff.Archive == nil {
			archive := defaultArchive
			ff.Archive = &archive
		}
	case "ldap":
		l := &f.LDAP
		setDefault(c, path+".scope", &l.Scope, "sub")
		setDefault(c, path+".page_size", &l.PageSize, 500)
		setDefault(c, path+".timeout", &l.Timeout, Duration(30*time.Second))
	}
}

// written reports whether the file set the key at path.
func (c *Config) written(path string) bool {
	_, ok := c.lines[path]
	return ok
}

func setDefault[T comparable](c *Config, path string, field *T, value T) {
	var zero T
	if *field == zero && !c.written(path) {
		*field = value
	}
}

func setPointer[T any](field **T, value T) {
	if *field == nil {
		*field = &value
	}
}

// DefaultPublicURL derives the default public URL from the listen address;
// a wildcard or empty host is not something a browser can reach, so it
// becomes localhost.
func DefaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
