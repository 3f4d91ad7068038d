package config

import (
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	// Feed time zones must load in a container without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the key path, like "tenants[0].feeds[1].schedule"; "" for the
	// document itself.
	Path string
	// Line is the line in the file, 0 when unknown (a Config built in code).
	Line int
	// Message says what is wrong, without the path.
	Message string
}

// Error lists every problem found in one configuration.
type Error struct {
	// File is the file name given to Parse or Load; "" from Validate.
	File     string
	Problems []Problem
}

// Error prints one problem per line:
// rosterd.yaml:12: tenants[0].feeds[1].schedule: invalid cron spec "* * *": expected 5 fields
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		where := e.File
		if p.Line > 0 {
			if where == "" {
				where = "line "
			} else {
				where += ":"
			}
			where += strconv.Itoa(p.Line)
		}
		var parts []string
		for _, s := range []string{where, p.Path, p.Message} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		lines[i] = strings.Join(parts, ": ")
	}
	return strings.Join(lines, "\n")
}

var (
	tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	namePattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	domainPattern   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// attributeNames are the card attributes a source may fill.
var attributeNames = []string{
	"email", "given_name", "family_name", "display_name", "title", "department",
	"location", "employee_id", "manager_email", "groups", "role",
}

// Validate checks the whole configuration, after ApplyDefaults, and returns
// an *Error listing every problem, or nil.
func (c *Config) Validate() error {
	if problems := c.validate(); len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

func (c *Config) validate() []Problem {
	v := &validator{c: c, credentials: map[string]string{}}

	listenErr := checkListen(c.Listen)
	if listenErr != nil {
		v.add("listen", "%v", listenErr)
	}
	// A public_url derived from a bad listen address is that problem again.
	if listenErr == nil || c.written("public_url") {
		v.httpURL("public_url", c.PublicURL)
	}
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.DSN == "" && c.Store.DSNFile == "" {
			v.add("store.dsn", "must not be empty")
		}
	case "postgres":
		if c.Store.DSN == "" && c.Store.DSNFile == "" {
			v.add("store.dsn", "required when store.driver is postgres")
		}
	default:
		v.add("store.driver", "unknown driver %q (want sqlite or postgres)", c.Store.Driver)
	}
	if c.Store.MaxConns < 0 {
		v.add("store.max_conns", "must not be negative, got %d", c.Store.MaxConns)
	}
	if c.SecretsKey != "" {
		if _, err := DecodeKey(c.SecretsKey); err != nil {
			v.add("secrets_key", "%s", err)
		}
	}
	v.nonNegative("shutdown_timeout", c.ShutdownTimeout)
	v.positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.positive("http.read_body_timeout", c.HTTP.ReadBodyTimeout)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "auto", "text", "json")
	for _, s := range c.secrets() {
		if *s.value != "" && *s.file != "" {
			key := s.path[strings.LastIndexByte(s.path, '.')+1:]
			v.add(s.path, "set either %s or %s_file, not both", key, key)
		}
	}

	adminNames := map[string]string{}
	for i, k := range c.AdminKeys {
		p := fmt.Sprintf("admin_keys[%d]", i)
		switch {
		case k.Name == "":
			v.add(p+".name", "required")
		case adminNames[k.Name] != "":
			v.add(p+".name", "duplicate admin key name %q (also %s)", k.Name, adminNames[k.Name])
		default:
			adminNames[k.Name] = p
		}
		if k.Key == "" && k.KeyFile == "" {
			v.add(p+".key", "required (or key_file)")
		}
		v.credential(p+".key", k.Key)
		v.secretLength(p+".key", k.Key)
		for j, scope := range k.Scopes {
			v.oneOf(fmt.Sprintf("%s.scopes[%d]", p, j), scope, "operator")
		}
	}

	if c.SMTP.URL != "" {
		// The URL holds a password: never repeat it in a message.
		u, err := url.Parse(c.SMTP.URL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			v.add("smtp.url", "must be smtp://[user:password@]host:port or smtps://…")
		} else if port := u.Port(); port != "" {
			// As notify reads it; the port alone is no secret.
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				v.add("smtp.url", "invalid port %q", port)
			}
		}
		if c.SMTP.From == "" {
			v.add("smtp.from", "required when smtp.url is set")
		}
	}
	if c.SMTP.From != "" {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			v.add("smtp.from", "invalid address %q", c.SMTP.From)
		}
	}

	domainOwners := map[string]string{}
	for i, t := range c.Tenants {
		for j, d := range t.Domains {
			dp := fmt.Sprintf("tenants[%d].domains[%d]", i, j)
			if first, dup := domainOwners[d]; dup && !strings.HasPrefix(first, fmt.Sprintf("tenants[%d].", i)) {
				v.add(dp, "domain %q belongs to another tenant (%s): a domain belongs to one tenant", d, first)
			} else if !dup {
				domainOwners[d] = dp
			}
		}
	}
	tenantIDs := map[string]string{}
	if len(c.Tenants) == 0 {
		v.add("tenants", "at least one tenant is required")
	}
	for i := range c.Tenants {
		p := fmt.Sprintf("tenants[%d]", i)
		id := c.Tenants[i].ID
		if first, dup := tenantIDs[id]; dup && id != "" {
			v.add(p+".id", "duplicate tenant id %q (also %s)", id, first)
		} else {
			tenantIDs[id] = p
		}
		v.tenant(p, &c.Tenants[i])
	}

	for i, w := range c.Webhooks {
		p := fmt.Sprintf("webhooks[%d]", i)
		v.webhook(p, &w)
		for j, id := range w.Tenants {
			if _, ok := tenantIDs[id]; !ok || id == "" {
				v.add(fmt.Sprintf("%s.tenants[%d]", p, j), "unknown tenant %q", id)
			}
		}
	}
	v.positive("events.retention", c.Events.Retention)
	v.dropBox()
	return v.problems
}

// webhook checks one endpoint's own keys (its tenants are the caller's).
func (v *validator) webhook(p string, w *Webhook) {
	if w.URL == "" {
		v.add(p+".url", "required")
	} else if v.httpURL(p+".url", w.URL) && !w.Insecure && !strings.HasPrefix(strings.ToLower(w.URL), "https://") {
		v.add(p+".url", "must be https://: over http:// anyone on the path reads and changes the deliveries (or set insecure: true, for a test receiver only)")
	}
	if w.Secret == "" && w.SecretFile == "" && !w.Insecure {
		v.add(p+".secret", "required: it signs each delivery so that the receiver can tell it comes from rosterd; set secret or secret_file (or insecure: true, for a test receiver only)")
	}
	v.secretLength(p+".secret", w.Secret)
}

// validator collects problems, each placed at the line of its key or, for a
// key the file left out, of the nearest key around it.
type validator struct {
	c        *Config
	problems []Problem
	// credentials maps every admin key and SCIM token to where it is set:
	// one bearer secret must identify one thing.
	credentials map[string]string
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Line: v.c.lineOf(path), Message: fmt.Sprintf(format, args...)})
}

func (v *validator) tenant(p string, t *Tenant) {
	switch {
	case t.ID == "":
		v.add(p+".id", "required")
	case !tenantIDPattern.MatchString(t.ID):
		v.add(p+".id", "invalid tenant id %q: use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit", t.ID)
	}
	if t.Name == "" {
		v.add(p+".name", "must not be empty")
	}
	v.oneOf(p+".invite", t.Invite, "email", "none")
	v.positive(p+".invite_ttl", t.InviteTTL)
	v.nonNegative(p+".reminder_interval", t.ReminderInterval)
	if s := t.Safety.MaxDisablePercent; s < 0 || s > 100 {
		v.add(p+".safety.max_disable_percent", "must be between 0 and 100, got %g", s)
	}
	if s := t.Safety.MaxDisableCount; s < 0 {
		v.add(p+".safety.max_disable_count", "must not be negative, got %d", s)
	}
	if s := t.Safety.MinSnapshotRatio; s < 0 || s > 1 {
		v.add(p+".safety.min_snapshot_ratio", "must be between 0 and 1, got %g", s)
	}
	v.precedence(p+".precedence", t.Precedence)
	v.rolesAndRelations(p, t)

	switch {
	case t.AppCallbackURL != "":
		v.httpURL(p+".app_callback_url", t.AppCallbackURL)
	case t.SAML != nil:
		v.add(p+".app_callback_url", "required when saml is configured: login codes are sent there")
	}
	for i, u := range t.AllowedReturnURLs {
		v.httpURL(fmt.Sprintf("%s.allowed_return_urls[%d]", p, i), u)
	}

	scimNames := map[string]string{}
	for i := range t.SCIM {
		sp := fmt.Sprintf("%s.scim[%d]", p, i)
		conn := &t.SCIM[i]
		v.name(sp+".name", conn.Name, scimNames, "SCIM connection")
		if conn.Token == "" && conn.TokenFile == "" && len(conn.Tokens) == 0 {
			v.add(sp, "a token is required (token, token_file or tokens)")
		}
		v.credential(sp+".token", conn.Token)
		v.secretLength(sp+".token", conn.Token)
		for j, tok := range conn.Tokens {
			tp := fmt.Sprintf("%s.tokens[%d]", sp, j)
			if tok == "" {
				v.add(tp, "must not be empty")
			}
			v.credential(tp, tok)
			v.secretLength(tp, tok)
		}
	}

	if t.SAML != nil {
		v.saml(p+".saml", t.SAML)
	}
	seenDomains := map[string]string{}
	for i, d := range t.Domains {
		dp := fmt.Sprintf("%s.domains[%d]", p, i)
		switch {
		case !domainPattern.MatchString(d):
			v.add(dp, "invalid domain %q: a lower-case DNS name like acme.com", d)
		case seenDomains[d] != "":
			v.add(dp, "duplicate domain %q (also %s)", d, seenDomains[d])
		default:
			seenDomains[d] = dp
		}
	}

	seenSSO := map[string]bool{}
	for i, d := range t.SSODomains {
		dp := fmt.Sprintf("%s.sso_domains[%d]", p, i)
		switch {
		case !domainPattern.MatchString(d):
			v.add(dp, "invalid domain %q: a lower-case DNS name like acme.com", d)
		case seenSSO[d]:
			v.add(dp, "duplicate domain %q", d)
		}
		seenSSO[d] = true
	}

	feedNames := map[string]string{}
	for i := range t.Feeds {
		fp := fmt.Sprintf("%s.feeds[%d]", p, i)
		v.name(fp+".name", t.Feeds[i].Name, feedNames, "feed")
		v.feed(fp, &t.Feeds[i])
	}
}

func (v *validator) precedence(p string, kinds []string) {
	seen := map[string]bool{}
	for i, k := range kinds {
		switch {
		case !slices.Contains(sourceKinds, k):
			v.add(fmt.Sprintf("%s[%d]", p, i), "unknown source kind %q (want %s)", k, strings.Join(sourceKinds, ", "))
		case seen[k]:
			v.add(fmt.Sprintf("%s[%d]", p, i), "duplicate source kind %q", k)
		}
		seen[k] = true
	}
	var missing []string
	for _, k := range sourceKinds {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		v.add(p, "missing %s: list all of %s once", strings.Join(missing, ", "), strings.Join(sourceKinds, ", "))
	}
}

func (v *validator) saml(sp string, s *SAML) {
	switch {
	case s.IDPMetadataURL != "" && s.IDPMetadataFile != "":
		v.add(sp, "set either idp_metadata_url or idp_metadata_file, not both")
	case s.IDPMetadataURL == "" && s.IDPMetadataFile == "":
		v.add(sp, "idp_metadata_url or idp_metadata_file is required")
	}
	if s.IDPMetadataURL != "" {
		u, err := url.Parse(s.IDPMetadataURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			v.add(sp+".idp_metadata_url", "must be an absolute https:// URL, got %q", s.IDPMetadataURL)
		case u.Scheme == "http" && !s.AllowInsecureMetadataURL:
			v.add(sp+".idp_metadata_url", "http:// metadata can be replaced on the way, and with it the IdP's certificate; use https:// or set allow_insecure_metadata_url: true")
		}
	}
	v.attributes(sp+".attributes", s.Attributes, "IdP attribute")
	if (s.CertFile == "") != (s.KeyFile == "") {
		v.add(sp, "cert_file and key_file go together: set both or neither")
	}
	if (s.EncryptionCertFile == "") != (s.EncryptionKeyFile == "") {
		v.add(sp, "encryption_cert_file and encryption_key_file go together: set both or neither")
	}
	v.positive(sp+".metadata_refresh", s.MetadataRefresh)
	v.nonNegative(sp+".clock_skew", s.ClockSkew)
	v.positive(sp+".request_cookie_lifetime", s.RequestCookieLifetime)
}

func (v *validator) feed(fp string, f *Feed) {
	if f.Schedule != "" {
		if err := checkSchedule(f.Schedule); err != nil {
			v.add(fp+".schedule", "%v", err)
		}
	}
	if _, err := time.LoadLocation(f.Timezone); err != nil {
		v.add(fp+".timezone", "unknown time zone %q (want an IANA name like Europe/Berlin)", f.Timezone)
	}
	switch f.Kind {
	case "file":
		v.foreignKeys(fp, f.LDAP, "ldap", "file")
		v.fileFeed(fp, &f.File)
	case "ldap":
		v.foreignKeys(fp, f.File, "file", "ldap")
		v.ldapFeed(fp, &f.LDAP)
	case "":
		v.add(fp+".kind", "required (file or ldap)")
	default:
		v.add(fp+".kind", "unknown feed kind %q (want file or ldap)", f.Kind)
	}
}

// foreignKeys reports every key of the other feed kind that is set: both
// kinds share one YAML mapping, so decoding alone cannot refuse them.
func (v *validator) foreignKeys(fp string, keys any, owner, kind string) {
	rv := reflect.ValueOf(keys)
	for _, f := range yamlFields(rv.Type()) {
		if !rv.FieldByIndex(f.index).IsZero() {
			v.add(joinPath(fp, f.name), "%s applies only to %s feeds, and this feed is kind %s", f.name, owner, kind)
		}
	}
}

func (v *validator) fileFeed(fp string, f *FileFeed) {
	v.uploadFeed(fp, f)
	sp := fp + ".sftp"
	u, err := url.Parse(f.Source)
	switch {
	case f.Source == "":
		v.add(fp+".source", "required for a file feed (dir:///path/glob, sftp://user@host:port/path/glob or upload)")
	case f.IsUpload():
		// The drop box: checked by uploadFeed.
	case err != nil:
		v.add(fp+".source", "not a URL (want dir:///path/glob or sftp://user@host:port/path/glob)")
	case u.Scheme == "dir":
		if u.Host != "" || !path.IsAbs(u.Path) {
			v.add(fp+".source", "dir:// needs an absolute path, like dir:///srv/drop/*.csv (three slashes), got %q", f.Source)
		} else if _, err := path.Match(u.Path, ""); err != nil {
			v.add(fp+".source", "invalid file pattern %q", u.Path)
		}
		if !reflect.ValueOf(f.SFTP).IsZero() {
			v.add(sp, "applies only to an sftp:// source")
		}
	case u.Scheme == "sftp":
		// The URL may carry a password: never repeat it in a message.
		switch _, hasPassword := u.User.Password(); {
		case u.User == nil || u.User.Username() == "":
			v.add(fp+".source", "sftp:// needs a user, like sftp://user@host:22/path/*.csv")
		case hasPassword:
			v.add(fp+".source", "put the password in sftp.password or sftp.password_file, not in the URL")
		}
		if u.Hostname() == "" {
			v.add(fp+".source", "sftp:// needs a host, like sftp://user@host:22/path/*.csv")
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				v.add(fp+".source", "invalid port %q", port)
			}
		}
		if u.Path == "" || u.Path == "/" {
			v.add(fp+".source", "sftp:// needs a path and file pattern, like sftp://user@host:22/outbox/*.csv")
		} else if _, err := path.Match(u.Path, ""); err != nil {
			v.add(fp+".source", "invalid file pattern %q", u.Path)
		}
		if f.SFTP.KnownHostsFile == "" && f.SFTP.KnownHosts == "" {
			v.add(sp+".known_hosts_file", "required for an sftp:// source (or known_hosts, the lines themselves): rosterd never trusts an unknown host key")
		}
		if f.SFTP.KnownHostsFile != "" && f.SFTP.KnownHosts != "" {
			v.add(sp+".known_hosts", "set either known_hosts or known_hosts_file, not both")
		}
		if f.SFTP.PrivateKeyFile == "" && f.SFTP.PrivateKey == "" && f.SFTP.Password == "" && f.SFTP.PasswordFile == "" {
			v.add(sp, "private_key_file, private_key, password or password_file is required for an sftp:// source")
		}
		if f.SFTP.PrivateKeyFile != "" && f.SFTP.PrivateKey != "" {
			v.add(sp+".private_key", "set either private_key or private_key_file, not both")
		}
	default:
		v.add(fp+".source", "unknown source scheme %q (want dir:///path/glob or sftp://user@host:port/path/glob)", u.Scheme)
	}

	v.oneOf(fp+".key", f.Key, "email", "employee_id")
	targets := map[string]string{} // attribute -> header mapped to it
	for _, header := range slices.Sorted(maps.Keys(f.Columns)) {
		attr := f.Columns[header]
		cp := mapKeyPath(fp+".columns", header)
		switch {
		case attr != "status" && !slices.Contains(attributeNames, attr) && !(strings.HasPrefix(attr, "custom.") && len(attr) > len("custom.")) &&
			!(strings.HasPrefix(attr, "relation.") && len(attr) > len("relation.")):
			v.add(cp, "unknown attribute %q (want status, custom.<name>, relation.<name> or one of %s)", attr, strings.Join(attributeNames, ", "))
		case targets[attr] != "":
			v.add(cp, "attribute %q is already mapped from column %q", attr, targets[attr])
		default:
			targets[attr] = header
		}
	}
	if f.StatusColumn != "" && targets["status"] != "" {
		v.add(fp+".status_column", "set status_column or map a column to status, not both")
	}
	v.nonNegative(fp+".stable_for", f.StableFor)
	for _, l := range []struct {
		key string
		val Size
	}{{"max_file_size", f.MaxFileSize}, {"max_line_length", f.MaxLineLength}, {"max_cell_length", f.MaxCellLength}, {"xlsx_max_expanded_size", f.XLSXMaxExpandedSize}} {
		if l.val <= 0 {
			v.add(fp+"."+l.key, "must be a positive size such as 64KiB, got %v", l.val)
		}
	}
	if f.MaxCellLength > f.MaxLineLength && f.MaxLineLength > 0 {
		v.add(fp+".max_cell_length", "%v is more than max_line_length %v, which bounds a value too", f.MaxCellLength, f.MaxLineLength)
	}
	if f.XLSXMaxCompressionRatio < 1 {
		v.add(fp+".xlsx_max_compression_ratio", "must be at least 1, got %d", f.XLSXMaxCompressionRatio)
	}
}

func (v *validator) ldapFeed(fp string, l *LDAPFeed) {
	if l.URL == "" {
		v.add(fp+".url", "required for an ldap feed (ldaps://host or ldap://host)")
	} else {
		u, err := url.Parse(l.URL)
		switch {
		case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "":
			v.add(fp+".url", "must be ldaps://host[:port] or ldap://host[:port], got %q", l.URL)
		case u.Scheme == "ldaps" && l.InsecurePlaintext:
			v.add(fp+".insecure_plaintext", "contradicts the ldaps:// url")
		}
	}
	if l.BaseDN == "" {
		v.add(fp+".base_dn", "required for an ldap feed")
	}
	switch hasPassword := l.BindPassword != "" || l.BindPasswordFile != ""; {
	case l.BindDN != "" && !hasPassword:
		// LDAP treats a DN without a password as an unauthenticated bind,
		// which many servers accept without checking anything.
		v.add(fp+".bind_dn", "needs bind_password or bind_password_file: a bind without a password is not authenticated")
	case l.BindDN == "" && hasPassword:
		v.add(fp+".bind_password", "needs bind_dn (leave both out for an anonymous bind)")
	}
	v.oneOf(fp+".scope", l.Scope, "sub", "one", "base")
	if l.Filter != "" && (!strings.HasPrefix(l.Filter, "(") || !strings.HasSuffix(l.Filter, ")")) {
		v.add(fp+".filter", "must be enclosed in parentheses, like (objectClass=person), got %q", l.Filter)
	}
	if l.PageSize <= 0 {
		v.add(fp+".page_size", "must be positive, got %d", l.PageSize)
	}
	v.positive(fp+".timeout", l.Timeout)
	for i, g := range l.Groups {
		if g == "" {
			v.add(fmt.Sprintf("%s.groups[%d]", fp, i), "must not be empty")
		}
	}
	switch {
	case l.CA != "" && l.CAFile != "":
		v.add(fp+".ca", "set either ca or ca_file, not both")
	case l.CA != "" && !strings.Contains(l.CA, "-----BEGIN CERTIFICATE-----"):
		v.add(fp+".ca", "must be PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
	v.ldapAttributes(fp+".attributes", l.Attributes)
	v.ldapPin(fp+".tls_pin_sha256", l)
}

// LDAPFieldNames are the keys of an ldap feed's attributes besides id,
// email, manager, disabled and custom.<name>: the card attributes an LDAP
// attribute may fill (sync/ldapfeed reads the same list).
var LDAPFieldNames = []string{"given_name", "family_name", "display_name", "title", "department", "location", "employee_id", "role"}

// ldapAttrPattern is an LDAP attribute description (RFC 4512 §2.5): a name
// or a numeric OID, with options (";binary", ";range=0-1499" is not one).
var ldapAttrPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// ldapAttributes checks an ldap feed's attributes as sync/ldapfeed reads
// them: our name → one or more LDAP attribute descriptions, comma
// separated; an empty value drops a default mapping (id and email cannot
// be dropped).
func (v *validator) ldapAttributes(p string, m map[string]string) {
	for _, ours := range slices.Sorted(maps.Keys(m)) {
		ap := mapKeyPath(p, ours)
		custom, isCustom := strings.CutPrefix(ours, "custom.")
		switch {
		case isCustom && custom != "":
		case ours == "id", ours == "email", ours == "manager", ours == "disabled", slices.Contains(LDAPFieldNames, ours):
		default:
			v.add(ap, "unknown attribute %q (want id, email, manager, disabled, %s or custom.<name>)", ours, strings.Join(LDAPFieldNames, ", "))
			continue
		}
		var names []string
		for _, n := range strings.Split(m[ours], ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		switch {
		case len(names) == 0 && (ours == "id" || ours == "email"):
			v.add(ap, "must name an LDAP attribute (%s cannot be dropped)", ours)
		case len(names) > 1 && ours != "email" && !slices.Contains(LDAPFieldNames, ours) && !isCustom:
			v.add(ap, "names one LDAP attribute, got %q", m[ours])
		}
		for _, n := range names {
			if !ldapAttrPattern.MatchString(n) {
				v.add(ap, "invalid LDAP attribute name %q (letters, digits and -, starting with a letter; or a numeric OID)", n)
			}
		}
	}
}

// attributes checks a map from our attribute names to a source's names.
func (v *validator) attributes(p string, m map[string]string, theirs string) {
	for _, ours := range slices.Sorted(maps.Keys(m)) {
		ap := mapKeyPath(p, ours)
		if !slices.Contains(attributeNames, ours) {
			v.add(ap, "unknown attribute %q (want one of %s)", ours, strings.Join(attributeNames, ", "))
		}
		if m[ours] == "" {
			v.add(ap, "%s name must not be empty", theirs)
		}
	}
}

// name checks a SCIM connection's or feed's name, unique within seen.
func (v *validator) name(p, name string, seen map[string]string, what string) {
	switch {
	case name == "":
		v.add(p, "required")
	case !namePattern.MatchString(name):
		v.add(p, "invalid %s name %q: use lowercase letters, digits, _ and -, starting with a letter or digit", what, name)
	case seen[name] != "":
		v.add(p, "duplicate %s name %q (also %s)", what, name, seen[name])
	default:
		seen[name] = p
	}
}

func (v *validator) credential(p, secret string) {
	if secret == "" {
		return
	}
	if first, dup := v.credentials[secret]; dup {
		v.add(p, "same secret as %s: every admin key and SCIM token must be different", first)
		return
	}
	v.credentials[secret] = p
}

// MinSecretLength is the least number of bytes of a configured admin key,
// SCIM token or webhook secret: 256 bits of a random string, so that a
// guessed or brute-forced secret is out of reach.
const MinSecretLength = 32

// secretLength refuses a configured secret shorter than MinSecretLength,
// without repeating it.
func (v *validator) secretLength(p, secret string) {
	if secret != "" && len(secret) < MinSecretLength {
		v.add(p, "too short (%d bytes): a configured secret needs at least %d bytes, like the output of \"openssl rand -base64 32\"", len(secret), MinSecretLength)
	}
}

func (v *validator) oneOf(p, value string, allowed ...string) {
	if slices.Contains(allowed, value) {
		return
	}
	if len(allowed) == 2 {
		v.add(p, "must be %s or %s, got %q", allowed[0], allowed[1], value)
	} else {
		v.add(p, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
	}
}

// httpURL checks that s is an absolute http(s) URL and reports whether it
// is.
func (v *validator) httpURL(p, s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(p, "must be an absolute http:// or https:// URL, got %q", s)
		return false
	}
	return true
}

func (v *validator) positive(p string, d Duration) {
	if d <= 0 {
		v.add(p, "must be positive, got %s", d)
	}
}

func (v *validator) nonNegative(p string, d Duration) {
	if d < 0 {
		v.add(p, "must not be negative, got %s", d)
	}
}

func checkListen(listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = fmt.Errorf("bad port")
		}
	}
	if err != nil {
		return fmt.Errorf("expected host:port, like 127.0.0.1:8080 or :8080, got %q", listen)
	}
	return nil
}

// checkSchedule parses spec as the scheduler will: five fields or a
// descriptor. robfig/cron v3.0.1 panics on some inputs (a TZ= prefix without
// a space), so the parse runs under recover.
func checkSchedule(spec string) (err error) {
	hasTZ := strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")
	defer func() {
		panicked := recover() != nil
		switch {
		case hasTZ && (err == nil || panicked):
			err = fmt.Errorf("invalid cron spec %q: set the feed's timezone key instead of a TZ= prefix", spec)
		case panicked:
			err = fmt.Errorf("invalid cron spec %q: cannot be parsed", spec)
		}
	}()
	if !hasTZ && !strings.HasPrefix(spec, "@") && len(strings.Fields(spec)) != 5 {
		return fmt.Errorf("invalid cron spec %q: expected 5 fields", spec)
	}
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		// robfig/cron rounds a zero or negative interval up to one second.
		if d, perr := time.ParseDuration(every); perr == nil && d <= 0 {
			return fmt.Errorf("invalid cron spec %q: interval must be positive", spec)
		}
	}
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("invalid cron spec %q: %v", spec, err)
	}
	return nil
}

// lineOf returns the line of the key at path or, when the file left that key
// out, of its *_file sibling (a secret read from a file) or of the nearest
// enclosing key; 0 when nothing is known.
func (c *Config) lineOf(p string) int {
	if line, ok := c.lines[p]; ok {
		return line
	}
	if line, ok := c.lines[p+"_file"]; ok {
		return line
	}
	for {
		if line, ok := c.lines[p]; ok {
			return line
		}
		if p == "" {
			return 0
		}
		p = parentPath(p)
	}
}

// parentPath strips the last element from a key path:
// `a.b[2]` -> `a.b`, `a.columns["x.y"]` -> `a.columns`, `a.b` -> `a`.
func parentPath(p string) string {
	if strings.HasSuffix(p, `"]`) {
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}
