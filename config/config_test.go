package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a lookupEnv over a fixed map, so tests never read the process
// environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func parse(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	return Parse([]byte(doc), "rosterd.yaml", env(nil))
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := parse(t, doc)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

// parseError parses doc and returns the *Error it must produce.
func parseError(t *testing.T, doc string) *Error {
	t.Helper()
	_, err := parse(t, doc)
	if err == nil {
		t.Fatalf("Parse succeeded, want an error")
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse error is %T, want *Error: %v", err, err)
	}
	return cerr
}

func wantContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing\n  %s", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error does not contain\n  %s\ngot:\n  %s", want, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
}

func TestDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"168h", 168 * time.Hour},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"0d", 0},
		{"0", 0},
		{"-5m", -5 * time.Minute},
		{"-2d", -48 * time.Hour},
	}
	for _, tc := range good {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("%q: unexpected error %v", tc.in, err)
			continue
		}
		if d.Std() != tc.want {
			t.Errorf("%q = %v, want %v", tc.in, d.Std(), tc.want)
		}
	}

	bad := []struct{ in, want string }{
		{"", `invalid duration "": empty`},
		{"30", `invalid duration "30": expected a number with a unit`},
		{"7x", `invalid duration "7x": expected a number with a unit`},
		{"d", `invalid duration "d": days must be a whole number`},
		{"1.5d", `invalid duration "1.5d": days must be a whole number`},
		{"1d-2h", `invalid duration "1d-2h": misplaced sign`},
		{"999999999d", `invalid duration "999999999d": too long`},
	}
	for _, tc := range bad {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		wantContains(t, err, tc.want)
	}

	text, _ := Duration(36 * time.Hour).MarshalText()
	if string(text) != "36h0m0s" {
		t.Errorf("MarshalText = %q, want 36h0m0s", text)
	}
}

// checkDefaults asserts every top-level and tenant default on c, whose only
// tenant is expected to carry the given id and name.
func checkDefaults(t *testing.T, c *Config, id, name string) {
	t.Helper()
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	eq("Listen", c.Listen, "127.0.0.1:8080")
	eq("PublicURL", c.PublicURL, "http://127.0.0.1:8080")
	eq("DataDir", c.DataDir, ".")
	eq("Store.Driver", c.Store.Driver, "sqlite")
	eq("Store.DSN", c.Store.DSN, "rosterd.db")
	eq("Store.MaxConns", c.Store.MaxConns, 0)
	eq("AutoMigrate", c.AutoMigrate != nil && *c.AutoMigrate, true)
	eq("AutoMigrateEnabled", c.AutoMigrateEnabled(), true)
	eq("ShutdownTimeout", c.ShutdownTimeout.Std(), 30*time.Second)
	eq("Log", c.Log, Log{Level: "info", Format: "auto"})
	eq("Events.Retention", c.Events.Retention.Std(), 720*time.Hour)
	eq("AdminKeys", len(c.AdminKeys), 0)
	eq("Webhooks", len(c.Webhooks), 0)
	eq("SMTP", c.SMTP, SMTP{})

	if len(c.Tenants) != 1 {
		t.Fatalf("got %d tenants, want 1", len(c.Tenants))
	}
	tn := c.Tenants[0]
	eq("tenant ID", tn.ID, id)
	eq("tenant Name", tn.Name, name)
	eq("Invite", tn.Invite, "email")
	eq("InviteTTL", tn.InviteTTL.Std(), 168*time.Hour)
	eq("ReminderInterval", tn.ReminderInterval.Std(), 24*time.Hour)
	eq("AutoInvite", tn.AutoInvite != nil && *tn.AutoInvite, true)
	eq("AutoInviteEnabled", tn.AutoInviteEnabled(), true)
	eq("JIT", tn.JIT, false)
	eq("Safety", tn.Safety, Safety{MaxDisablePercent: 10, MaxDisableCount: 50, MinSnapshotRatio: 0.5})
	eq("Precedence", tn.Precedence, []string{"admin", "scim", "ldap", "file", "saml"})
}

func TestDefault(t *testing.T) {
	c := Default()
	checkDefaults(t, c, "default", "Default")
	if c.Tenants[0].SAML != nil || len(c.Tenants[0].SCIM) != 0 || len(c.Tenants[0].Feeds) != 0 {
		t.Errorf("default tenant has channels configured: %+v", c.Tenants[0])
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default() does not validate:\n%v", err)
	}
}

func TestDefaultsOnMinimalFile(t *testing.T) {
	c := mustParse(t, `
tenants:
  - id: acme
    app_callback_url: https://app.example.com/cb
    scim:
      - name: okta
        token: t0ken-0123456789abcdef0123456789abcdef
    saml:
      idp_metadata_file: /etc/rosterd/idp.xml
    feeds:
      - name: hr
        kind: file
        source: dir:///srv/drop/*.csv
      - name: corp
        kind: ldap
        url: ldaps://dc1.example
        base_dn: dc=example
`)
	checkDefaults(t, c, "acme", "acme")
	tn := c.Tenants[0]

	scim := tn.SCIM[0]
	if scim.Authoritative == nil || !*scim.Authoritative || !scim.AuthoritativeEnabled() {
		t.Errorf("scim authoritative default: got %v", scim.Authoritative)
	}

	s := tn.SAML
	if s.MetadataRefresh.Std() != 24*time.Hour || s.ClockSkew.Std() != 3*time.Minute || s.RequestCookieLifetime.Std() != 5*time.Minute {
		t.Errorf("saml durations: refresh %v, skew %v, cookie %v; want 24h, 3m, 5m", s.MetadataRefresh, s.ClockSkew, s.RequestCookieLifetime)
	}
	if s.SignRequests == nil || !*s.SignRequests || !s.SignRequestsEnabled() {
		t.Errorf("saml sign_requests default: got %v, want true", s.SignRequests)
	}
	if s.AllowIDPInitiated || s.AllowInsecureMetadataURL {
		t.Errorf("saml allow_* defaults must be false: %+v", s)
	}

	for _, f := range tn.Feeds {
		if f.Timezone != "UTC" || !f.AuthoritativeEnabled() || !f.RunMissedOnStartEnabled() || f.Schedule != "" {
			t.Errorf("feed %s: timezone %q, authoritative %v, run missed %v, schedule %q; want UTC, true, true, none",
				f.Name, f.Timezone, f.AuthoritativeEnabled(), f.RunMissedOnStartEnabled(), f.Schedule)
		}
		if loc, err := f.Location(); err != nil || loc != time.UTC {
			t.Errorf("feed %s: Location() = %v, %v; want UTC", f.Name, loc, err)
		}
	}

	file := tn.Feeds[0].File
	if file.Key != "email" || file.StableFor.Std() != 30*time.Second || file.ArchiveDir() != "processed" {
		t.Errorf("file feed: key %q, stable_for %v, archive %q; want email, 30s, processed", file.Key, file.StableFor, file.ArchiveDir())
	}
	if want := []string{"terminated", "inactive", "leaver", "disabled"}; !slices.Equal(file.InactiveValues, want) {
		t.Errorf("inactive_values = %v, want %v", file.InactiveValues, want)
	}

	ldap := tn.Feeds[1].LDAP
	if ldap.Scope != "sub" || ldap.PageSize != 500 || ldap.Timeout.Std() != 30*time.Second {
		t.Errorf("ldap feed: scope %q, page_size %d, timeout %v; want sub, 500, 30s", ldap.Scope, ldap.PageSize, ldap.Timeout)
	}
	// Defaults of one kind must not land on a feed of the other kind, or
	// Validate would reject them as foreign keys.
	if !reflect.ValueOf(tn.Feeds[1].File).IsZero() || !reflect.ValueOf(tn.Feeds[0].LDAP).IsZero() {
		t.Errorf("feed got the other kind's defaults: file feed LDAP=%+v, ldap feed File=%+v", tn.Feeds[0].LDAP, tn.Feeds[1].File)
	}
}

func TestEmptyDocumentIsDefault(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n# and another\n", "---\n", "~\n"} {
		c, err := parse(t, doc)
		if err != nil {
			t.Errorf("%q: unexpected error %v", doc, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("%q: got %+v, want Default()", doc, c)
		}
	}
}

func TestDefaultsKeepWrittenValues(t *testing.T) {
	c := mustParse(t, `
listen: 0.0.0.0:9000
data_dir: /var/lib/rosterd
auto_migrate: false
tenants:
  - id: acme
    name: Acme Inc.
    auto_invite: false
    invite_ttl: 7d
    reminder_interval: 0s
    safety: {max_disable_percent: 0, max_disable_count: 0}
    feeds:
      - name: hr
        kind: file
        source: dir:///srv/drop/*.csv
        archive: ""
        inactive_values: [gone]
        run_missed_on_start: false
        authoritative: false
        partial: true
`)
	tn := c.Tenants[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"public_url from a wildcard listen", c.PublicURL, "http://localhost:9000"},
		{"sqlite dsn follows data_dir", c.Store.DSN, filepath.Join("/var/lib/rosterd", "rosterd.db")},
		{"auto_migrate", c.AutoMigrateEnabled(), false},
		{"name", tn.Name, "Acme Inc."},
		{"auto_invite", tn.AutoInviteEnabled(), false},
		{"invite_ttl", tn.InviteTTL.Std(), 7 * 24 * time.Hour},
		{"written reminder_interval 0 stays 0", tn.ReminderInterval.Std(), time.Duration(0)},
		{"written max_disable_percent 0 stays 0", tn.Safety.MaxDisablePercent, 0.0},
		{"written max_disable_count 0 stays 0", tn.Safety.MaxDisableCount, 0},
		{"unwritten min_snapshot_ratio", tn.Safety.MinSnapshotRatio, 0.5},
		{"archive \"\" disables", tn.Feeds[0].File.ArchiveDir(), ""},
		{"inactive_values", tn.Feeds[0].File.InactiveValues, []string{"gone"}},
		{"run_missed_on_start", tn.Feeds[0].RunMissedOnStartEnabled(), false},
		{"authoritative", tn.Feeds[0].AuthoritativeEnabled(), false},
		{"partial", tn.Feeds[0].File.Partial, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}

	// A key without a value counts as left out.
	c = mustParse(t, "shutdown_timeout:\ntenants:\n  - id: acme\n    invite_ttl:\n")
	if c.ShutdownTimeout.Std() != 30*time.Second || c.Tenants[0].InviteTTL.Std() != 168*time.Hour {
		t.Errorf("null values: shutdown_timeout %v, invite_ttl %v; want defaults 30s, 168h", c.ShutdownTimeout, c.Tenants[0].InviteTTL)
	}
}

func TestPublicURLDefault(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		":8080":          "http://localhost:8080",
		"0.0.0.0:80":     "http://localhost:80",
		"[::]:8080":      "http://localhost:8080",
		"[::1]:8080":     "http://[::1]:8080",
		"rosterd:8080":   "http://rosterd:8080",
	} {
		c := &Config{Listen: listen}
		c.ApplyDefaults()
		if c.PublicURL != want {
			t.Errorf("listen %q: public_url %q, want %q", listen, c.PublicURL, want)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "unknown key in a scim connection",
			doc: `listen: 127.0.0.1:8080
tenants:
  - id: acme
    scim:
      - name: okta
        token: abc
        tokn: abc
`,
			want: `rosterd.yaml:7: tenants[0].scim[0]: unknown key "tokn"`,
		},
		{
			name: "unknown key at the top",
			doc:  "listen: 127.0.0.1:8080\nlisten_addr: x\n",
			want: `rosterd.yaml:2: unknown key "listen_addr"`,
		},
		{
			name: "unknown key in a feed, beside inline keys",
			doc:  "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: file\n        sauce: dir:///x/*.csv\n",
			want: `rosterd.yaml:6: tenants[0].feeds[0]: unknown key "sauce"`,
		},
		{
			name: "unknown key in a nested mapping",
			doc:  "store:\n  driver: sqlite\n  dns: x.db\n",
			want: `rosterd.yaml:3: store: unknown key "dns"`,
		},
		{
			name: "string where a list goes",
			doc:  "tenants:\n  - id: acme\n    precedence: admin\n",
			want: `rosterd.yaml:3: tenants[0].precedence: expected a list, got "admin"`,
		},
		{
			name: "mapping where a list goes",
			doc:  "tenants:\n  id: acme\n",
			want: `rosterd.yaml:2: tenants: expected a list, got a mapping`,
		},
		{
			name: "list where a value goes",
			doc:  "listen: [a, b]\n",
			want: `rosterd.yaml:1: listen: expected a single value, got a list`,
		},
		{
			name: "value where a mapping goes",
			doc:  "store: sqlite\n",
			want: `rosterd.yaml:1: store: expected a mapping, got "sqlite"`,
		},
		{
			name: "value where a columns mapping goes",
			doc:  "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        columns: email\n",
			want: `rosterd.yaml:5: tenants[0].feeds[0].columns: expected a mapping, got "email"`,
		},
		{
			name: "not a bool",
			doc:  "tenants:\n  - id: acme\n    jit: yes\n",
			want: `rosterd.yaml:3: tenants[0].jit: expected true or false, got "yes"`,
		},
		{
			name: "not an int",
			doc:  "store:\n  max_conns: ten\n",
			want: `rosterd.yaml:2: store.max_conns: expected a whole number, got "ten"`,
		},
		{
			name: "not a float",
			doc:  "tenants:\n  - id: acme\n    safety:\n      max_disable_percent: ten\n",
			want: `rosterd.yaml:4: tenants[0].safety.max_disable_percent: expected a number, got "ten"`,
		},
		{
			name: "not a duration",
			doc:  "events:\n  retention: 30\n",
			want: `rosterd.yaml:2: events.retention: invalid duration "30": expected a number with a unit`,
		},
		{
			name: "repeated key",
			doc:  "listen: a:1\nlisten: b:2\n",
			want: `rosterd.yaml:2: key "listen" repeated (first at line 1)`,
		},
		{
			name: "repeated map key",
			doc:  "tenants:\n  - id: acme\n    saml:\n      attributes:\n        email: mail\n        email: upn\n",
			want: `rosterd.yaml:6: tenants[0].saml.attributes: key "email" repeated (first at line 5)`,
		},
		{
			name: "document is a list",
			doc:  "- listen: x\n",
			want: `rosterd.yaml:1: expected a mapping, got a list`,
		},
		{
			name: "YAML syntax error",
			doc:  "listen: 127.0.0.1:8080\ntenants:\n  - id: acme\n    name: a: b\n",
			want: `rosterd.yaml:4: invalid YAML: mapping values are not allowed in this context`,
		},
		{
			name: "two documents",
			doc:  "listen: 127.0.0.1:8080\n---\nlisten: 127.0.0.1:9090\n",
			want: `rosterd.yaml:2: only one YAML document is allowed`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantContains(t, parseError(t, tc.doc), tc.want)
		})
	}
}

func TestStrictDecodingReportsEveryProblem(t *testing.T) {
	err := parseError(t, `listen: 127.0.0.1:8080
colour: blue
tenants:
  - id: acme
    jit: maybe
    feeds:
      - name: hr
        kind: file
        schedul: "@daily"
`)
	got := err.Error()
	wantLines := []string{
		`rosterd.yaml:2: unknown key "colour"`,
		`rosterd.yaml:5: tenants[0].jit: expected true or false, got "maybe"`,
		// Validation runs in the same pass.
		`rosterd.yaml:7: tenants[0].feeds[0].source: required for a file feed (dir:///path/glob, sftp://user@host:port/path/glob or upload)`,
		`rosterd.yaml:9: tenants[0].feeds[0]: unknown key "schedul"`,
	}
	if got != strings.Join(wantLines, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(wantLines, "\n"))
	}
}

func TestAliasesAndMerge(t *testing.T) {
	c := mustParse(t, `
tenants:
  - id: acme
    safety: &strict {max_disable_percent: 5, max_disable_count: 10}
    feeds:
      - &hr
        name: hr
        kind: file
        schedule: "@daily"
        timezone: Europe/Berlin
        source: dir:///srv/acme/*.csv
  - id: globex
    safety: *strict
    feeds:
      - <<: *hr
        name: people
        source: dir:///srv/globex/*.csv
`)
	globex := c.Tenants[1]
	if globex.Safety.MaxDisablePercent != 5 || globex.Safety.MaxDisableCount != 10 {
		t.Errorf("aliased safety = %+v, want 5%% and 10", globex.Safety)
	}
	f := globex.Feeds[0]
	if f.Name != "people" || f.Schedule != "@daily" || f.Timezone != "Europe/Berlin" || f.File.Source != "dir:///srv/globex/*.csv" {
		t.Errorf("merged feed = %+v, want name people, @daily, Europe/Berlin and its own source", f)
	}

	// A merged mapping is decoded as strictly as any other.
	err := parseError(t, "tenants:\n  - id: acme\n    safety: &s {max_disable_percnt: 5}\n  - id: globex\n    safety:\n      <<: *s\n")
	wantContains(t, err, `rosterd.yaml:3: tenants[0].safety: unknown key "max_disable_percnt"`)
}

func TestEnvExpansion(t *testing.T) {
	vars := map[string]string{
		"PW":    "s3cr$t",
		"HOST":  "mail.example.com",
		"URL":   "https://rosterd.example.com",
		"N":     "7",
		"YES":   "true",
		"TTL":   "3d",
		"EMPTY": "",
		"EVIL":  "x\nlisten: 0.0.0.0:1",
	}
	c, err := Parse([]byte(`public_url: ${URL}
store:
  max_conns: ${N}
smtp:
  url: smtp://u:${PW}@${HOST}:587
  from: noreply@${HOST}
webhooks:
  - url: ${URL}/hook
    secret: ${EMPTY}
    insecure: true
tenants:
  - id: acme
    name: "Cost $${X} and $5, ${EVIL}"
    jit: ${YES}
    invite_ttl: ${TTL}
    precedence: [admin, scim, ldap, file, saml]
`), "rosterd.yaml", env(vars))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"public_url", c.PublicURL, "https://rosterd.example.com"},
		{"several variables inside text", c.SMTP.URL, "smtp://u:s3cr$t@mail.example.com:587"},
		{"variable into an int", c.Store.MaxConns, 7},
		{"variable into a bool", c.Tenants[0].JIT, true},
		{"variable into a duration", c.Tenants[0].InviteTTL.Std(), 72 * time.Hour},
		{"empty variable", c.Webhooks[0].Secret, ""},
		{"$${ escape and a value that looks like YAML", c.Tenants[0].Name, "Cost ${X} and $5, x\nlisten: 0.0.0.0:1"},
		{"a value cannot inject a key", c.Listen, "127.0.0.1:8080"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}

	bad := []struct{ name, doc, want string }{
		{
			name: "unset variable",
			doc:  "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: ${ACME_SCIM_TOKEN}\n",
			want: `rosterd.yaml:5: tenants[0].scim[0].token: environment variable "ACME_SCIM_TOKEN" is not set`,
		},
		{
			name: "unset variable inside text",
			doc:  "smtp:\n  url: smtp://u:${SMTP_PASSWORD}@host:25\n",
			want: `rosterd.yaml:2: smtp.url: environment variable "SMTP_PASSWORD" is not set`,
		},
		{
			name: "unset variable in a list",
			doc:  "tenants:\n  - id: acme\n    allowed_return_urls:\n      - https://a.example.com/\n      - ${RETURN_URL}\n",
			want: `rosterd.yaml:5: tenants[0].allowed_return_urls[1]: environment variable "RETURN_URL" is not set`,
		},
		{
			name: "unterminated",
			doc:  "listen: ${PORT\n",
			want: `rosterd.yaml:1: listen: unterminated "${" (write "$${" for a literal "${")`,
		},
		{
			name: "invalid name",
			doc:  "listen: ${1PORT}\n",
			want: `rosterd.yaml:1: listen: invalid environment variable name "1PORT" in ${...}`,
		},
		{
			name: "keys are not expanded",
			doc:  "${KEY}: x\n",
			want: `rosterd.yaml:1: unknown key "${KEY}"`,
		},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "rosterd.yaml", env(map[string]string{"KEY": "listen"}))
			wantContains(t, err, tc.want)
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secrets/admin.key"), "admin-secret-0123456789abcdef0123456789abcdef\n")
	writeFile(t, filepath.Join(dir, "secrets/scim.token"), "scim-token-0123456789abcdef0123456789abcdef\r\n")
	writeFile(t, filepath.Join(dir, "secrets/dsn"), "postgres://rosterd@db/rosterd\n")
	writeFile(t, filepath.Join(dir, "secrets/smtp"), "smtp://u:p@mail.example.com:25")
	writeFile(t, filepath.Join(dir, "secrets/webhook"), "hook-secret-0123456789abcdef0123456789abcdef\n")
	writeFile(t, filepath.Join(dir, "secrets/sftp"), "sftp-pass\n\n")
	writeFile(t, filepath.Join(dir, "secrets/ldap"), "ldap-pass\n")
	config := filepath.Join(dir, "rosterd.yaml")
	writeFile(t, config, `store:
  driver: postgres
  dsn_file: secrets/dsn
admin_keys:
  - name: ops
    key_file: secrets/admin.key
smtp:
  url_file: secrets/smtp
  from: noreply@example.com
webhooks:
  - url: https://app.example.com/hook
    secret_file: secrets/webhook
tenants:
  - id: acme
    scim:
      - name: okta
        token_file: secrets/scim.token
    feeds:
      - name: hr
        kind: file
        source: sftp://hr@sftp.example.com/outbox/*.csv
        sftp:
          password_file: secrets/sftp
          known_hosts_file: known_hosts
      - name: corp
        kind: ldap
        url: ldaps://dc1.example
        base_dn: dc=example
        bind_dn: cn=rosterd,dc=example
        bind_password_file: /absolute/is/kept/but/unread
        bind_password: ignored
`)
	// bind_password and bind_password_file both set: fix that first, and
	// check the problem on the way.
	_, err := Load(config)
	wantContains(t, err, config+":31: tenants[0].feeds[1].bind_password: set either bind_password or bind_password_file, not both")

	data, _ := os.ReadFile(config)
	fixed := strings.Replace(string(data), "        bind_password_file: /absolute/is/kept/but/unread\n        bind_password: ignored\n",
		"        bind_password_file: secrets/ldap\n", 1)
	writeFile(t, config, fixed)
	c, err := Load(config)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tn := c.Tenants[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"dsn", c.Store.DSN, "postgres://rosterd@db/rosterd"},
		{"admin key", c.AdminKeys[0].Key, "admin-secret-0123456789abcdef0123456789abcdef"},
		{"smtp url without a newline", c.SMTP.URL, "smtp://u:p@mail.example.com:25"},
		{"webhook secret", c.Webhooks[0].Secret, "hook-secret-0123456789abcdef0123456789abcdef"},
		{"scim token, CRLF trimmed", tn.SCIM[0].Token, "scim-token-0123456789abcdef0123456789abcdef"},
		{"sftp password, one newline trimmed", tn.Feeds[0].File.SFTP.Password, "sftp-pass\n"},
		{"ldap bind password", tn.Feeds[1].LDAP.BindPassword, "ldap-pass"},
		{"relative known_hosts_file", tn.Feeds[0].File.SFTP.KnownHostsFile, filepath.Join(dir, "known_hosts")},
		{"*_file cleared after reading", []string{c.Store.DSNFile, c.AdminKeys[0].KeyFile, c.SMTP.URLFile, c.Webhooks[0].SecretFile, tn.SCIM[0].TokenFile, tn.Feeds[0].File.SFTP.PasswordFile, tn.Feeds[1].LDAP.BindPasswordFile}, []string{"", "", "", "", "", "", ""}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}

	bad := []struct{ name, doc, want string }{
		{
			name: "missing file",
			doc:  "admin_keys:\n  - name: ops\n    key_file: secrets/nope\n",
			want: ":3: admin_keys[0].key_file: cannot read secret: open " + filepath.Join(dir, "secrets/nope") + ": no such file or directory",
		},
		{
			name: "empty file",
			doc:  "smtp:\n  from: a@example.com\n  url_file: " + filepath.Join(dir, "empty") + "\n",
			want: ":3: smtp.url_file: secret file " + filepath.Join(dir, "empty") + " is empty",
		},
		{
			name: "a problem with a secret read from a file points at the *_file key",
			doc:  "admin_keys:\n  - {name: a, key: admin-secret-0123456789abcdef0123456789abcdef}\n  - name: b\n    key_file: secrets/admin.key\n",
			want: ":4: admin_keys[1].key: same secret as admin_keys[0].key",
		},
		{
			name: "both set",
			doc:  "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: abc\n        token_file: secrets/scim.token\n",
			want: ":5: tenants[0].scim[0].token: set either token or token_file, not both",
		},
	}
	writeFile(t, filepath.Join(dir, "empty"), "\n")
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), config, env(nil))
			wantContains(t, err, config+tc.want)
		})
	}
}

func TestSAMLAndLDAPFilePathsResolve(t *testing.T) {
	c, err := Parse([]byte(`tenants:
  - id: acme
    app_callback_url: https://app.example.com/cb
    saml:
      idp_metadata_file: idp.xml
      cert_file: sp.crt
      key_file: /etc/rosterd/sp.key
    feeds:
      - name: corp
        kind: ldap
        url: ldap://dc1.example
        base_dn: dc=example
        ca_file: ca.pem
`), "/etc/rosterd/rosterd.yaml", env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := c.Tenants[0].SAML
	got := []string{s.IDPMetadataFile, s.CertFile, s.KeyFile, c.Tenants[0].Feeds[0].LDAP.CAFile}
	want := []string{"/etc/rosterd/idp.xml", "/etc/rosterd/sp.crt", "/etc/rosterd/sp.key", "/etc/rosterd/ca.pem"}
	if !slices.Equal(got, want) {
		t.Errorf("paths = %v, want %v", got, want)
	}
}

// feedDoc is a tenant with one feed; lines 4 to 6 are the feed's name, kind
// and source, and extra starts at line 7.
func feedDoc(kind, source, extra string) string {
	return "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: " + kind + "\n        source: " + source + "\n" + extra
}

// ldapDoc is a tenant with one ldap feed; extra starts at line 8.
func ldapDoc(extra string) string {
	return "tenants:\n  - id: acme\n    feeds:\n      - name: corp\n        kind: ldap\n        url: ldaps://dc1.example\n        base_dn: dc=example\n" + extra
}

// samlDoc is a tenant with SAML; extra starts at line 5, inside saml.
func samlDoc(extra string) string {
	return "tenants:\n  - id: acme\n    app_callback_url: https://app.example.com/cb\n    saml:\n" + extra
}

func TestValidateProblems(t *testing.T) {
	const dirSource = "dir:///srv/drop/*.csv"
	const sftpSource = "sftp://hr@sftp.example.com:22/outbox/*.csv"
	tests := []struct {
		name string
		doc  string
		want []string // each a substring of one problem line; also the problem count
	}{
		// Schedules and time zones.
		{"cron with 3 fields", feedDoc("file", dirSource, `        schedule: "* * *"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "* * *": expected 5 fields`}},
		{"cron with seconds", feedDoc("file", dirSource, `        schedule: "0 0 6 * * 1"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "0 0 6 * * 1": expected 5 fields`}},
		{"cron out of range", feedDoc("file", dirSource, `        schedule: "0 25 * * *"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "0 25 * * *": end of range (25) above maximum (23)`}},
		{"cron that panics robfig/cron", feedDoc("file", dirSource, `        schedule: "TZ=UTC"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "TZ=UTC": set the feed's timezone key instead of a TZ= prefix`}},
		{"cron with a valid TZ prefix", feedDoc("file", dirSource, `        schedule: "TZ=Europe/Berlin 0 6 * * 1"`+"\n"),
			[]string{`tenants[0].feeds[0].schedule: invalid cron spec "TZ=Europe/Berlin 0 6 * * 1": set the feed's timezone key`}},
		{"unknown descriptor", feedDoc("file", dirSource, `        schedule: "@fortnightly"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "@fortnightly": unrecognized descriptor`}},
		{"zero interval", feedDoc("file", dirSource, `        schedule: "@every 0s"`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].schedule: invalid cron spec "@every 0s": interval must be positive`}},
		{"unknown time zone", feedDoc("file", dirSource, "        timezone: Mars/Olympus\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].timezone: unknown time zone "Mars/Olympus"`}},

		// Store, listen, log, top-level durations.
		{"unknown store driver", "store:\n  driver: mysql\n",
			[]string{`rosterd.yaml:2: store.driver: unknown driver "mysql" (want sqlite or postgres)`}},
		{"postgres without dsn", "store:\n  driver: postgres\n",
			[]string{`rosterd.yaml:1: store.dsn: required when store.driver is postgres`}},
		{"negative max_conns", "store:\n  max_conns: -1\n",
			[]string{`rosterd.yaml:2: store.max_conns: must not be negative, got -1`}},
		{"listen without port", "listen: 8080\n",
			[]string{`rosterd.yaml:1: listen: expected host:port, like 127.0.0.1:8080 or :8080, got "8080"`}},
		{"listen with a bad port", "listen: localhost:http\npublic_url: http://localhost/\n",
			[]string{`rosterd.yaml:1: listen: expected host:port`}},
		{"empty data_dir", "data_dir: \"\"\nstore:\n  dsn: x.db\n",
			[]string{`rosterd.yaml:1: data_dir: must not be empty`}},
		{"bad log level and format", "log:\n  level: verbose\n  format: xml\n",
			[]string{`rosterd.yaml:2: log.level: must be one of debug, info, warn, error, got "verbose"`,
				`rosterd.yaml:3: log.format: must be one of auto, text, json, got "xml"`}},
		{"negative shutdown_timeout", "shutdown_timeout: -5s\n",
			[]string{`rosterd.yaml:1: shutdown_timeout: must not be negative, got -5s`}},
		{"zero retention", "events:\n  retention: 0s\n",
			[]string{`rosterd.yaml:2: events.retention: must be positive, got 0s`}},

		// URLs.
		{"public_url without scheme", "public_url: rosterd.example.com\n",
			[]string{`rosterd.yaml:1: public_url: must be an absolute http:// or https:// URL, got "rosterd.example.com"`}},
		{"relative app_callback_url", "tenants:\n  - id: acme\n    app_callback_url: /sso/callback\n",
			[]string{`rosterd.yaml:3: tenants[0].app_callback_url: must be an absolute http:// or https:// URL, got "/sso/callback"`}},
		{"ftp return url", "tenants:\n  - id: acme\n    allowed_return_urls: [https://app.example.com/, ftp://app.example.com/]\n",
			[]string{`rosterd.yaml:3: tenants[0].allowed_return_urls[1]: must be an absolute http:// or https:// URL, got "ftp://app.example.com/"`}},
		{"webhook url without scheme", "webhooks:\n  - url: example.com/hook\n    insecure: true\n",
			[]string{`rosterd.yaml:2: webhooks[0].url: must be an absolute http:// or https:// URL, got "example.com/hook"`}},
		{"webhook without url, unknown tenant", "webhooks:\n  - tenants: [default, acme]\n    insecure: true\n",
			[]string{`rosterd.yaml:2: webhooks[0].url: required`,
				`rosterd.yaml:2: webhooks[0].tenants[1]: unknown tenant "acme"`}},
		{"smtp url with a bad port (notify refused it only at start)", "smtp:\n  url: smtp://user:hunter2@mail.example.com:99999\n  from: a@example.com\n",
			[]string{`rosterd.yaml:2: smtp.url: invalid port "99999"`}},
		{"smtp without from", "smtp:\n  url: smtp://mail.example.com:25\n",
			[]string{`rosterd.yaml:1: smtp.from: required when smtp.url is set`}},
		{"smtp url with a wrong scheme", "smtp:\n  url: https://user:hunter2@mail.example.com\n  from: not an address\n",
			[]string{`rosterd.yaml:2: smtp.url: must be smtp://[user:password@]host:port or smtps://…`,
				`rosterd.yaml:3: smtp.from: invalid address "not an address"`}},

		// Tenants.
		{"no tenants", "tenants: []\n",
			[]string{`rosterd.yaml:1: tenants: at least one tenant is required`}},
		{"duplicate tenant id", "tenants:\n  - id: acme\n  - id: acme\n",
			[]string{`rosterd.yaml:3: tenants[1].id: duplicate tenant id "acme" (also tenants[0])`}},
		{"bad tenant id", "tenants:\n  - id: Acme_Inc\n",
			[]string{`rosterd.yaml:2: tenants[0].id: invalid tenant id "Acme_Inc": use 1 to 63 lowercase letters, digits and dashes`}},
		{"tenant id too long", "tenants:\n  - id: " + strings.Repeat("a", 64) + "\n",
			[]string{`rosterd.yaml:2: tenants[0].id: invalid tenant id "aaaa`}},
		{"tenant without id", "tenants:\n  - name: Acme\n",
			[]string{`rosterd.yaml:2: tenants[0].id: required`}},
		{"invite not email or none", "tenants:\n  - id: acme\n    invite: sms\n",
			[]string{`rosterd.yaml:3: tenants[0].invite: must be email or none, got "sms"`}},
		{"negative invite_ttl and reminder", "tenants:\n  - id: acme\n    invite_ttl: -1h\n    reminder_interval: -1d\n",
			[]string{`rosterd.yaml:3: tenants[0].invite_ttl: must be positive, got -1h0m0s`,
				`rosterd.yaml:4: tenants[0].reminder_interval: must not be negative, got -24h0m0s`}},
		{"safety out of range", "tenants:\n  - id: acme\n    safety:\n      max_disable_percent: 150\n      max_disable_count: -3\n      min_snapshot_ratio: 2\n",
			[]string{`rosterd.yaml:4: tenants[0].safety.max_disable_percent: must be between 0 and 100, got 150`,
				`rosterd.yaml:5: tenants[0].safety.max_disable_count: must not be negative, got -3`,
				`rosterd.yaml:6: tenants[0].safety.min_snapshot_ratio: must be between 0 and 1, got 2`}},
		{"negative safety percent", "tenants:\n  - id: acme\n    safety: {max_disable_percent: -0.5}\n",
			[]string{`rosterd.yaml:3: tenants[0].safety.max_disable_percent: must be between 0 and 100, got -0.5`}},
		{"unknown precedence kind", "tenants:\n  - id: acme\n    precedence: [admin, scim, ldap, file, saml, hr]\n",
			[]string{`rosterd.yaml:3: tenants[0].precedence[5]: unknown source kind "hr" (want admin, scim, ldap, file, saml)`}},
		{"duplicate precedence kind", "tenants:\n  - id: acme\n    precedence:\n      - admin\n      - scim\n      - admin\n      - ldap\n      - file\n      - saml\n",
			[]string{`rosterd.yaml:6: tenants[0].precedence[2]: duplicate source kind "admin"`}},
		{"incomplete precedence", "tenants:\n  - id: acme\n    precedence: [scim, admin]\n",
			[]string{`rosterd.yaml:3: tenants[0].precedence: missing ldap, file, saml: list all of admin, scim, ldap, file, saml once`}},

		// Admin keys and SCIM.
		{"admin key without name or key", "admin_keys:\n  - read_only: true\n",
			[]string{`rosterd.yaml:2: admin_keys[0].name: required`,
				`rosterd.yaml:2: admin_keys[0].key: required (or key_file)`}},
		{"duplicate admin key name", "admin_keys:\n  - {name: ops, key: k1-0123456789abcdef0123456789abcdef}\n  - {name: ops, key: k2-0123456789abcdef0123456789abcdef}\n",
			[]string{`rosterd.yaml:3: admin_keys[1].name: duplicate admin key name "ops" (also admin_keys[0])`}},
		{"duplicate scim connection", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: a-0123456789abcdef0123456789abcdef\n      - name: okta\n        token: b-0123456789abcdef0123456789abcdef\n",
			[]string{`rosterd.yaml:6: tenants[0].scim[1].name: duplicate SCIM connection name "okta" (also tenants[0].scim[0].name)`}},
		{"bad scim connection name", "tenants:\n  - id: acme\n    scim:\n      - name: Okta Prod\n        token: a-0123456789abcdef0123456789abcdef\n",
			[]string{`rosterd.yaml:4: tenants[0].scim[0].name: invalid SCIM connection name "Okta Prod"`}},
		{"scim connection without token", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n",
			[]string{`rosterd.yaml:4: tenants[0].scim[0]: a token is required (token, token_file or tokens)`}},
		{"empty rotation token", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        tokens: [a-0123456789abcdef0123456789abcdef, \"\"]\n",
			[]string{`rosterd.yaml:5: tenants[0].scim[0].tokens[1]: must not be empty`}},
		{"same scim token in two tenants", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: same-token-0123456789abcdef0123456789abcdef\n  - id: globex\n    scim:\n      - name: entra\n        tokens: [other-0123456789abcdef0123456789abcdef, same-token-0123456789abcdef0123456789abcdef]\n",
			[]string{`rosterd.yaml:9: tenants[1].scim[0].tokens[1]: same secret as tenants[0].scim[0].token: every admin key and SCIM token must be different`}},
		{"admin key reused as scim token", "admin_keys:\n  - {name: ops, key: shared-0123456789abcdef0123456789abcdef}\ntenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: shared-0123456789abcdef0123456789abcdef\n",
			[]string{`rosterd.yaml:7: tenants[0].scim[0].token: same secret as admin_keys[0].key`}},

		// SAML.
		{"saml with both metadata sources", samlDoc("      idp_metadata_url: https://idp.example.com/metadata\n      idp_metadata_file: /etc/idp.xml\n"),
			[]string{`rosterd.yaml:4: tenants[0].saml: set either idp_metadata_url or idp_metadata_file, not both`}},
		{"saml without metadata", samlDoc("      allow_idp_initiated: true\n"),
			[]string{`rosterd.yaml:4: tenants[0].saml: idp_metadata_url or idp_metadata_file is required`}},
		{"saml http metadata", samlDoc("      idp_metadata_url: http://idp.example.com/metadata\n"),
			[]string{`rosterd.yaml:5: tenants[0].saml.idp_metadata_url: http:// metadata can be replaced on the way`}},
		{"saml metadata not a URL", samlDoc("      idp_metadata_url: idp.example.com/metadata\n"),
			[]string{`rosterd.yaml:5: tenants[0].saml.idp_metadata_url: must be an absolute https:// URL, got "idp.example.com/metadata"`}},
		{"saml without app_callback_url", "tenants:\n  - id: acme\n    saml:\n      idp_metadata_file: /etc/idp.xml\n",
			[]string{`rosterd.yaml:2: tenants[0].app_callback_url: required when saml is configured`}},
		{"saml unknown attribute", samlDoc("      idp_metadata_file: /etc/idp.xml\n      attributes:\n        email: mail\n        shoe_size: shoeSize\n        title: \"\"\n"),
			[]string{`rosterd.yaml:8: tenants[0].saml.attributes["shoe_size"]: unknown attribute "shoe_size" (want one of email, given_name,`,
				`rosterd.yaml:9: tenants[0].saml.attributes["title"]: IdP attribute name must not be empty`}},
		{"saml cert without key", samlDoc("      idp_metadata_file: /etc/idp.xml\n      cert_file: /etc/sp.crt\n      encryption_key_file: /etc/enc.key\n"),
			[]string{`rosterd.yaml:4: tenants[0].saml: cert_file and key_file go together`,
				`rosterd.yaml:4: tenants[0].saml: encryption_cert_file and encryption_key_file go together`}},
		{"saml durations", samlDoc("      idp_metadata_file: /etc/idp.xml\n      clock_skew: -1m\n      metadata_refresh: 0s\n"),
			[]string{`rosterd.yaml:6: tenants[0].saml.clock_skew: must not be negative, got -1m0s`,
				`rosterd.yaml:7: tenants[0].saml.metadata_refresh: must be positive, got 0s`}},

		// Feeds.
		{"duplicate feed name", feedDoc("file", dirSource, "      - name: hr\n        kind: file\n        source: dir:///srv/other/*.csv\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[1].name: duplicate feed name "hr" (also tenants[0].feeds[0].name)`}},
		{"bad feed name", "tenants:\n  - id: acme\n    feeds:\n      - name: HR Feed\n        kind: file\n        source: dir:///x/*.csv\n",
			[]string{`rosterd.yaml:4: tenants[0].feeds[0].name: invalid feed name "HR Feed"`}},
		{"feed without name", "tenants:\n  - id: acme\n    feeds:\n      - kind: file\n        source: dir:///x/*.csv\n",
			[]string{`rosterd.yaml:4: tenants[0].feeds[0].name: required`}},
		{"file feed without source", "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: file\n",
			[]string{`rosterd.yaml:4: tenants[0].feeds[0].source: required for a file feed`}},
		{"ldap feed without url and base_dn", "tenants:\n  - id: acme\n    feeds:\n      - name: corp\n        kind: ldap\n",
			[]string{`rosterd.yaml:4: tenants[0].feeds[0].url: required for an ldap feed`,
				`rosterd.yaml:4: tenants[0].feeds[0].base_dn: required for an ldap feed`}},
		{"unknown feed kind", "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: csv\n",
			[]string{`rosterd.yaml:5: tenants[0].feeds[0].kind: unknown feed kind "csv" (want file or ldap)`}},
		{"feed without kind", "tenants:\n  - id: acme\n    feeds:\n      - name: hr\n",
			[]string{`rosterd.yaml:4: tenants[0].feeds[0].kind: required (file or ldap)`}},
		{"ldap keys on a file feed", feedDoc("file", dirSource, "        bind_dn: cn=rosterd\n        page_size: 100\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].bind_dn: bind_dn applies only to ldap feeds, and this feed is kind file`,
				`rosterd.yaml:8: tenants[0].feeds[0].page_size: page_size applies only to ldap feeds, and this feed is kind file`}},
		{"file keys on an ldap feed", ldapDoc("        source: dir:///x/*.csv\n        columns: {Mail: email}\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].source: source applies only to file feeds, and this feed is kind ldap`,
				`rosterd.yaml:9: tenants[0].feeds[0].columns: columns applies only to file feeds, and this feed is kind ldap`}},
		{"sftp without known_hosts_file", feedDoc("file", sftpSource, "        sftp:\n          private_key_file: /etc/rosterd/hr_key\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].sftp.known_hosts_file: required for an sftp:// source`}},
		{"sftp without credentials", feedDoc("file", sftpSource, "        sftp: {known_hosts_file: /etc/rosterd/known_hosts}\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].sftp: private_key_file, private_key, password or password_file is required for an sftp:// source`}},
		{"sftp without user, path or a valid port", feedDoc("file", "sftp://sftp.example.com:99999", "        sftp: {password: pw, known_hosts_file: /k}\n"),
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].source: sftp:// needs a user`,
				`rosterd.yaml:6: tenants[0].feeds[0].source: invalid port "99999"`,
				`rosterd.yaml:6: tenants[0].feeds[0].source: sftp:// needs a path and file pattern`}},
		{"sftp password in the source", feedDoc("file", "sftp://hr:hunter2@sftp.example.com/out/*.csv", "        sftp: {known_hosts_file: /k, private_key_file: /id}\n"),
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].source: put the password in sftp.password or sftp.password_file, not in the URL`}},
		{"sftp settings on a dir source", feedDoc("file", dirSource, "        sftp: {known_hosts_file: /k}\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].sftp: applies only to an sftp:// source`}},
		{"relative dir source", feedDoc("file", "dir://srv/drop/*.csv", ""),
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].source: dir:// needs an absolute path, like dir:///srv/drop/*.csv (three slashes), got "dir://srv/drop/*.csv"`}},
		{"bad glob", feedDoc("file", "dir:///srv/drop/[.csv", ""),
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].source: invalid file pattern "/srv/drop/[.csv"`}},
		{"unknown source scheme", feedDoc("file", "ftp://files.example.com/x.csv", ""),
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].source: unknown source scheme "ftp"`}},
		{"unknown key attribute", feedDoc("file", dirSource, "        key: uuid\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].key: must be email or employee_id, got "uuid"`}},
		{"unknown column attribute", feedDoc("file", dirSource, `        columns: {"Work Email": email, "Cost Center": cost_center}`+"\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].columns["Cost Center"]: unknown attribute "cost_center" (want status, custom.<name>, relation.<name> or one of email,`}},
		{"two columns for one attribute", feedDoc("file", dirSource, "        columns:\n          E-Mail: email\n          Work Email: email\n"),
			[]string{`rosterd.yaml:9: tenants[0].feeds[0].columns["Work Email"]: attribute "email" is already mapped from column "E-Mail"`}},
		{"status twice", feedDoc("file", dirSource, "        columns: {State: status}\n        status_column: Status\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].status_column: set status_column or map a column to status, not both`}},
		{"negative stable_for", feedDoc("file", dirSource, "        stable_for: -1s\n"),
			[]string{`rosterd.yaml:7: tenants[0].feeds[0].stable_for: must not be negative, got -1s`}},
		{"ldap url scheme", "tenants:\n  - id: acme\n    feeds:\n      - name: corp\n        kind: ldap\n        url: https://dc1.example\n        base_dn: dc=example\n",
			[]string{`rosterd.yaml:6: tenants[0].feeds[0].url: must be ldaps://host[:port] or ldap://host[:port], got "https://dc1.example"`}},
		{"ldap bind_dn without password", ldapDoc("        bind_dn: cn=rosterd,dc=example\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].bind_dn: needs bind_password or bind_password_file`}},
		{"ldap password without bind_dn", ldapDoc("        bind_password: pw\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].bind_password: needs bind_dn`}},
		{"ldap settings", ldapDoc("        insecure_plaintext: true\n        scope: subtree\n        filter: objectClass=person\n        page_size: 0\n        timeout: -1s\n        groups: [\"\"]\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].insecure_plaintext: contradicts the ldaps:// url`,
				`rosterd.yaml:9: tenants[0].feeds[0].scope: must be one of sub, one, base, got "subtree"`,
				`rosterd.yaml:10: tenants[0].feeds[0].filter: must be enclosed in parentheses, like (objectClass=person), got "objectClass=person"`,
				`rosterd.yaml:11: tenants[0].feeds[0].page_size: must be positive, got 0`,
				`rosterd.yaml:12: tenants[0].feeds[0].timeout: must be positive, got -1s`,
				`rosterd.yaml:13: tenants[0].feeds[0].groups[0]: must not be empty`}},
		{"ldap unknown attribute", ldapDoc("        attributes: {email: mail, badge: badgeNumber}\n"),
			[]string{`rosterd.yaml:8: tenants[0].feeds[0].attributes["badge"]: unknown attribute "badge"`}},
		{"ldap attribute names", ldapDoc("        attributes:\n          email: \"\"\n          manager: \"manager, secretary\"\n          title: \"job title\"\n          custom.: x\n          department: \"department;lang-en,2.5.4.11\"\n"),
			[]string{`rosterd.yaml:12: tenants[0].feeds[0].attributes["custom."]: unknown attribute "custom."`,
				`rosterd.yaml:9: tenants[0].feeds[0].attributes["email"]: must name an LDAP attribute (email cannot be dropped)`,
				`rosterd.yaml:10: tenants[0].feeds[0].attributes["manager"]: names one LDAP attribute, got "manager, secretary"`,
				`rosterd.yaml:11: tenants[0].feeds[0].attributes["title"]: invalid LDAP attribute name "job title"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := parseError(t, tc.doc)
			for _, want := range tc.want {
				wantContains(t, err, want)
			}
			if len(err.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(err.Problems), len(tc.want), err)
			}
		})
	}
}

func TestValidateAcceptsVariants(t *testing.T) {
	docs := map[string]string{
		"descriptors and weekday names": feedDoc("file", "dir:///srv/drop/*.csv", `        schedule: "@daily"
      - name: hourly
        kind: file
        source: dir:///srv/drop2/*.xlsx
        schedule: "@every 1h"
      - name: weekdays
        kind: file
        source: dir:///srv/drop3/*.tsv
        schedule: "0 6 * * MON-FRI"
        timezone: America/New_York
`),
		"http metadata when allowed":               samlDoc("      idp_metadata_url: http://idp.internal/metadata\n      allow_insecure_metadata_url: true\n"),
		"postgres with dsn":                        "store:\n  driver: postgres\n  dsn: postgres://rosterd@db/rosterd\n  max_conns: 10\n",
		"ldap with starttls and a group":           ldapDoc("        groups: [\"cn=staff,dc=example\"]\n        attributes: {email: mail, employee_id: employeeNumber}\n"),
		"ldap attributes as the README shows them": ldapDoc("        active_directory: true\n        attributes:\n          custom.cost_center: extensionAttribute1\n          id: objectGUID\n          email: \"mail, userPrincipalName\"\n          manager: manager\n          disabled: \"\"\n          department: \"department;lang-en\"\n"),
		"custom file column":                       feedDoc("file", "dir:///srv/drop/*.csv", "        columns: {Cost Center: custom.cost_center}\n"),
		"sftp with password":                       feedDoc("file", "sftp://hr@sftp.example.com/out/*.csv", "        sftp: {password: pw, known_hosts_file: /k}\n        key: employee_id\n        columns: {ID: employee_id, Status: status}\n"),
		"scim rotation":                            "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        tokens: [new-token-0123456789abcdef0123456789abcdef, old-token-0123456789abcdef0123456789abcdef]\n        authoritative: false\n",
		"explicit default precedence":              "tenants:\n  - id: acme\n    precedence: [saml, file, ldap, scim, admin]\n",
		"listen on all interfaces":                 "listen: \":8080\"\n",
	}
	for name, doc := range docs {
		if _, err := parse(t, doc); err != nil {
			t.Errorf("%s: unexpected error:\n%v", name, err)
		}
	}
}

func TestValidateReportsEveryProblemInFileOrder(t *testing.T) {
	err := parseError(t, `webhooks:
  - url: https://app.example.com/hook
    tenants: [globex]
    insecure: true
listen: localhost
tenants:
  - id: acme
    invite: sms
    feeds:
      - name: hr
        kind: file
        schedule: "61 * * * *"
        source: dir:///srv/drop/*.csv
`)
	want := strings.Join([]string{
		`rosterd.yaml:3: webhooks[0].tenants[0]: unknown tenant "globex"`,
		`rosterd.yaml:5: listen: expected host:port, like 127.0.0.1:8080 or :8080, got "localhost"`,
		`rosterd.yaml:8: tenants[0].invite: must be email or none, got "sms"`,
		`rosterd.yaml:12: tenants[0].feeds[0].schedule: invalid cron spec "61 * * * *": end of range (61) above maximum (59): 61`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Listen = "nowhere"
	c.Tenants[0].Feeds = []Feed{{Name: "hr", Kind: "file", Schedule: "@hourly"}}
	c.Tenants = append(c.Tenants, Tenant{ID: "default", Name: "Again"})
	c.ApplyDefaults()

	err := c.Validate()
	want := strings.Join([]string{
		`listen: expected host:port, like 127.0.0.1:8080 or :8080, got "nowhere"`,
		`tenants[0].feeds[0].source: required for a file feed (dir:///path/glob, sftp://user@host:port/path/glob or upload)`,
		`tenants[1].id: duplicate tenant id "default" (also tenants[0])`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	for _, p := range err.(*Error).Problems {
		if p.Line != 0 {
			t.Errorf("problem %q has line %d, want 0 for a Config built in code", p.Path, p.Line)
		}
	}
}

func TestSecretsStayOutOfMessages(t *testing.T) {
	docs := []string{
		"smtp:\n  url: \"smtp://user:hunter2@mail example.com\"\n  from: a@example.com\n",
		feedDoc("file", "sftp://hr:hunter2@sftp.example.com/out/*.csv", "        sftp: {known_hosts_file: /k, private_key_file: /id}\n"),
		"admin_keys:\n  - {name: a, key: hunter2}\n  - {name: b, key: hunter2}\n",
		"tenants:\n  - id: acme\n    scim:\n      - {name: a, token: hunter2}\n      - {name: b, tokens: [hunter2]}\n",
	}
	for _, doc := range docs {
		err := parseError(t, doc)
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats a secret:\n%v", err)
		}
	}
}

func TestFullExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "testdata/full.yaml", env(map[string]string{
		"ROSTERD_ADMIN_KEY": "admin-key-0123456789abcdef0123456789abcdef",
		"SMTP_PASSWORD":     "smtp-password",
		"WEBHOOK_SECRET":    "webhook-secret-0123456789abcdef0123456789abcdef",
		"ACME_SCIM_TOKEN":   "acme-scim-token-0123456789abcdef0123456789abcdef",
		"LDAP_PASSWORD":     "ldap-password",
	}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	acme, ok := c.FindTenant("acme")
	if !ok {
		t.Fatal("tenant acme not found")
	}
	hr, ok := acme.FindFeed("hr")
	if !ok {
		t.Fatal("feed hr not found")
	}
	corp, ok := acme.FindFeed("corp")
	if !ok {
		t.Fatal("feed corp not found")
	}
	loc, err := hr.Location()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"public_url", c.PublicURL, "https://rosterd.example.com"},
		{"store", c.Store, Store{Driver: "sqlite", DSN: "/var/lib/rosterd/rosterd.db"}},
		{"admin key", c.AdminKeys[0], AdminKey{Name: "ops", Key: "admin-key-0123456789abcdef0123456789abcdef"}},
		{"smtp", c.SMTP, SMTP{URL: "smtp://user:smtp-password@mail.example.com:587", From: "Acme <noreply@example.com>"}},
		{"webhook", c.Webhooks[0], Webhook{URL: "https://app.example.com/hooks/rosterd", Secret: "webhook-secret-0123456789abcdef0123456789abcdef", Tenants: []string{"acme"}}},
		{"tenant name", acme.Name, "Acme Inc."},
		{"safety", acme.Safety, Safety{MaxDisablePercent: 10, MaxDisableCount: 50, MinSnapshotRatio: 0.5}},
		{"allowed return urls", acme.AllowedReturnURLs, []string{"https://app.example.com/"}},
		{"scim tokens", acme.SCIM[0].AllTokens(), []string{"acme-scim-token-0123456789abcdef0123456789abcdef"}},
		{"saml attributes", acme.SAML.Attributes, map[string]string{"email": "email", "given_name": "firstName", "family_name": "lastName"}},
		{"saml idp-initiated", acme.SAML.AllowIDPInitiated, true},
		{"hr timezone", hr.Timezone, "Europe/Berlin"},
		{"hr location", loc.String(), "Europe/Berlin"},
		{"hr schedule", hr.Schedule, "0 6 * * 1"},
		{"hr columns", hr.File.Columns, map[string]string{"Work Email": "email", "First Name": "given_name", "Last Name": "family_name"}},
		{"hr sftp", hr.File.SFTP, SFTP{PrivateKeyFile: "/etc/rosterd/hr_ed25519", KnownHostsFile: "/etc/rosterd/known_hosts"}},
		{"hr source", hr.File.Source, "sftp://hr@sftp.example.com:22/outbox/employees-*.csv"},
		{"corp bind password", corp.LDAP.BindPassword, "ldap-password"},
		{"corp filter", corp.LDAP.Filter, "(&(objectClass=user)(mail=*))"},
		{"corp active directory", corp.LDAP.ActiveDirectory, true},
		{"corp page size", corp.LDAP.PageSize, 500},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}

	// Without the variables the example names each missing one.
	_, err = Parse(data, "testdata/full.yaml", env(nil))
	wantContains(t, err, `testdata/full.yaml:10: admin_keys[0].key: environment variable "ROSTERD_ADMIN_KEY" is not set`)
	wantContains(t, err, `smtp.url: environment variable "SMTP_PASSWORD" is not set`)
}

func TestFind(t *testing.T) {
	c := mustParse(t, "tenants:\n  - id: acme\n    feeds:\n      - {name: hr, kind: file, source: \"dir:///x/*.csv\"}\n  - id: globex\n")
	if _, ok := c.FindTenant("initech"); ok {
		t.Error("FindTenant found a tenant that is not configured")
	}
	acme, ok := c.FindTenant("acme")
	if !ok || acme.ID != "acme" {
		t.Fatalf("FindTenant(acme) = %v, %v", acme, ok)
	}
	if _, ok := acme.FindFeed("corp"); ok {
		t.Error("FindFeed found a feed that is not configured")
	}
	hr, ok := acme.FindFeed("hr")
	if !ok {
		t.Fatal("FindFeed(hr) not found")
	}
	hr.Schedule = "@daily"
	if c.Tenants[0].Feeds[0].Schedule != "@daily" {
		t.Error("FindFeed returned a copy, want a pointer into the Config")
	}
}

func TestErrorFormat(t *testing.T) {
	err := &Error{File: "rosterd.yaml", Problems: []Problem{
		{Path: "tenants[0].feeds[1].schedule", Line: 12, Message: `invalid cron spec "* * *": expected 5 fields`},
		{Line: 3, Message: `unknown key "colour"`},
		{Path: "listen", Message: "bad"},
	}}
	want := `rosterd.yaml:12: tenants[0].feeds[1].schedule: invalid cron spec "* * *": expected 5 fields
rosterd.yaml:3: unknown key "colour"
rosterd.yaml: listen: bad`
	if err.Error() != want {
		t.Errorf("got:\n%s\nwant:\n%s", err, want)
	}
	err.File = ""
	if got := err.Error(); !strings.HasPrefix(got, "line 12: tenants[0]") {
		t.Errorf("without a file: got %q", got)
	}
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	wantContains(t, err, "reading config: open ")

	path := filepath.Join(t.TempDir(), "rosterd.yaml")
	writeFile(t, path, "listen: 127.0.0.1:9999\ntenants:\n  - id: acme\n    tokn: x\n")
	_, err = Load(path)
	wantContains(t, err, path+`:4: tenants[0]: unknown key "tokn"`)
}

// TestEveryProblemInOnePass: problems of decoding (an unknown key, a bad
// value, an unset variable), of reading secret files and of validation
// (cron, smtp.from, time zone, URL) come out of one Parse together, each
// with its line and key path.
func TestEveryProblemInOnePass(t *testing.T) {
	err := parseError(t, `listen: 127.0.0.1:8080
colour: blue
smtp:
  url: smtp://mail.example.com:25
  from: "not an address"
admin_keys:
  - name: ops
    key_file: /nonexistent/admin.key
tenants:
  - id: acme
    jit: maybe
    app_callback_url: ftp://app.example.com/cb
    scim:
      - name: okta
        token: ${ACME_SCIM_TOKEN}
    feeds:
      - name: hr
        kind: file
        schedule: "61 * * * *"
        timezone: Mars/Olympus
        source: dir:///srv/drop/*.csv
`)
	want := []string{
		`rosterd.yaml:2: unknown key "colour"`,
		`rosterd.yaml:5: smtp.from: invalid address "not an address"`,
		`rosterd.yaml:8: admin_keys[0].key_file: cannot read secret: open /nonexistent/admin.key: no such file or directory`,
		`rosterd.yaml:11: tenants[0].jit: expected true or false, got "maybe"`,
		`rosterd.yaml:12: tenants[0].app_callback_url: must be an absolute http:// or https:// URL, got "ftp://app.example.com/cb"`,
		`rosterd.yaml:15: tenants[0].scim[0].token: environment variable "ACME_SCIM_TOKEN" is not set`,
		`rosterd.yaml:19: tenants[0].feeds[0].schedule: invalid cron spec "61 * * * *": end of range (61) above maximum (59): 61`,
		`rosterd.yaml:20: tenants[0].feeds[0].timezone: unknown time zone "Mars/Olympus" (want an IANA name like Europe/Berlin)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, p := range err.Problems {
		if p.Line == 0 || (p.Path == "" && !strings.HasPrefix(p.Message, "unknown key")) {
			t.Errorf("problem without line or key path: %+v", p)
		}
	}
}

// TestBrokenValuesAreNotReportedAgain: a value decoding refused is not
// reported once more by validation as missing or zero.
func TestBrokenValuesAreNotReportedAgain(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"duration", "events:\n  retention: 30\n", `rosterd.yaml:2: events.retention: invalid duration "30": expected a number with a unit (write e.g. 90s, 24h or 7d)`},
		{"unset variable in a required key", "admin_keys:\n  - name: ops\n    key: ${NOPE}\n", `rosterd.yaml:3: admin_keys[0].key: environment variable "NOPE" is not set`},
		{"scim token", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: ${NOPE}\n", `rosterd.yaml:5: tenants[0].scim[0].token: environment variable "NOPE" is not set`},
		{"document", "- a\n", `rosterd.yaml:1: expected a mapping, got a list`},
		{"missing secret file", "admin_keys:\n  - name: ops\n    key_file: /nonexistent/key\n", `rosterd.yaml:3: admin_keys[0].key_file: cannot read secret: open /nonexistent/key: no such file or directory`},
		// A broken key beside a missing one hides nothing about the other.
		{"bad bool beside a missing token", "tenants:\n  - id: acme\n    scim:\n      - name: okta\n        authoritative: maybe\n",
			"rosterd.yaml:4: tenants[0].scim[0]: a token is required (token, token_file or tokens)\n" +
				`rosterd.yaml:5: tenants[0].scim[0].authoritative: expected true or false, got "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseError(t, tc.doc).Error(); got != tc.want {
				t.Errorf("got:\n%s\nwant exactly:\n%s", got, tc.want)
			}
		})
	}
}

// TestShortSecretsRefused: a configured admin key, SCIM token or webhook
// secret under 32 bytes is refused, at its key path and line, without
// repeating it.
func TestShortSecretsRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "short.key"), "from-a-file\n")
	const long = "0123456789abcdef0123456789abcdef" // 32 bytes: enough
	doc := `admin_keys:
  - {name: ops, key: ` + long + `}
  - {name: short, key: hunter2-hunter2-hunter2-hunter2}
  - name: filed
    key_file: short.key
webhooks:
  - url: https://app.example.com/hook
    secret: short-hook-secret
tenants:
  - id: acme
    scim:
      - name: okta
        token: okta-token
        tokens: [` + long + `x, next-token]
`
	_, err := Parse([]byte(doc), filepath.Join(dir, "rosterd.yaml"), env(nil))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse: %v, want an *Error", err)
	}
	prefix := filepath.Join(dir, "rosterd.yaml")
	want := []string{
		prefix + `:3: admin_keys[1].key: too short (31 bytes): a configured secret needs at least 32 bytes, like the output of "openssl rand -base64 32"`,
		prefix + `:5: admin_keys[2].key: too short (11 bytes): a configured secret needs at least 32 bytes, like the output of "openssl rand -base64 32"`,
		prefix + `:8: webhooks[0].secret: too short (17 bytes): a configured secret needs at least 32 bytes, like the output of "openssl rand -base64 32"`,
		prefix + `:13: tenants[0].scim[0].token: too short (10 bytes): a configured secret needs at least 32 bytes, like the output of "openssl rand -base64 32"`,
		prefix + `:14: tenants[0].scim[0].tokens[1]: too short (10 bytes): a configured secret needs at least 32 bytes, like the output of "openssl rand -base64 32"`,
	}
	if got := cerr.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, secret := range []string{"hunter2", "from-a-file", "short-hook-secret", "okta-token", "next-token"} {
		if strings.Contains(cerr.Error(), secret) {
			t.Errorf("the error repeats the secret %q", secret)
		}
	}
}

// TestWebhookNeedsSecretAndHTTPS: a webhook is signed and sent over TLS
// unless insecure: true says otherwise.
func TestWebhookNeedsSecretAndHTTPS(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	err := parseError(t, `webhooks:
  - url: https://app.example.com/hook
  - url: http://app.example.com/hook
    secret: `+secret+`
  - url: http://localhost:9000/hook
    insecure: true
`)
	want := strings.Join([]string{
		`rosterd.yaml:2: webhooks[0].secret: required: it signs each delivery so that the receiver can tell it comes from rosterd; set secret or secret_file (or insecure: true, for a test receiver only)`,
		`rosterd.yaml:3: webhooks[1].url: must be https://: over http:// anyone on the path reads and changes the deliveries (or set insecure: true, for a test receiver only)`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("got:\n%s\nwant:\n%s", err, want)
	}
	c := mustParse(t, "webhooks:\n  - url: http://localhost:9000/hook\n    insecure: true\n  - url: https://app.example.com/hook\n    secret: "+secret+"\n")
	if !c.Webhooks[0].Insecure || c.Webhooks[0].Secret != "" || c.Webhooks[1].Insecure {
		t.Errorf("webhooks = %+v", c.Webhooks)
	}
}

// TestHTTPTimeouts: http.read_header_timeout and http.read_body_timeout
// default to 10s and 60s, keep written values, and must be positive.
func TestHTTPTimeouts(t *testing.T) {
	c := Default()
	if c.HTTP.ReadHeaderTimeout.Std() != 10*time.Second || c.HTTP.ReadBodyTimeout.Std() != time.Minute {
		t.Errorf("defaults: %+v, want 10s and 60s", c.HTTP)
	}
	c = mustParse(t, "http:\n  read_header_timeout: 5s\n  read_body_timeout: 5m\n")
	if c.HTTP.ReadHeaderTimeout.Std() != 5*time.Second || c.HTTP.ReadBodyTimeout.Std() != 5*time.Minute {
		t.Errorf("written: %+v, want 5s and 5m", c.HTTP)
	}
	err := parseError(t, "http:\n  read_header_timeout: 0s\n  read_body_timeout: -1s\n")
	want := "rosterd.yaml:2: http.read_header_timeout: must be positive, got 0s\nrosterd.yaml:3: http.read_body_timeout: must be positive, got -1s"
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// TestSecretsKeyAndAllowSHA1: secrets_key is 32 bytes of hex or base64,
// given in the file or read from secrets_key_file; an error names the key
// and its line and never repeats it. allow_sha1 is a tenant's saml switch.
func TestSecretsKeyAndAllowSHA1(t *testing.T) {
	const hexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	c := mustParse(t, "secrets_key: "+hexKey+"\n")
	if c.SecretsKey != hexKey {
		t.Fatalf("secrets_key = %q", c.SecretsKey)
	}
	c = mustParse(t, "secrets_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
	if c.SecretsKey == "" {
		t.Fatal("base64 secrets_key dropped")
	}
	file := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(file, []byte(hexKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = mustParse(t, "secrets_key_file: "+file+"\n")
	if c.SecretsKey != hexKey || c.SecretsKeyFile != "" {
		t.Fatalf("secrets_key_file: key %q, file %q", c.SecretsKey, c.SecretsKeyFile)
	}
	for _, bad := range []string{"hunter2hunter2", hexKey[:40], "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"} {
		err := parseError(t, "listen: 127.0.0.1:8080\nsecrets_key: "+bad+"\n")
		wantContains(t, err, "rosterd.yaml:2: secrets_key:")
		if strings.Contains(err.Error(), bad) {
			t.Errorf("the error repeats the key:\n%v", err)
		}
	}
	wantContains(t, parseError(t, "secrets_key: "+hexKey+"\nsecrets_key_file: "+file+"\n"), "secrets_key: set either secrets_key or secrets_key_file, not both")

	c = mustParse(t, samlDoc("      idp_metadata_file: /etc/rosterd/idp.xml\n      allow_sha1: true\n"))
	if !c.Tenants[0].SAML.AllowSHA1 {
		t.Fatal("allow_sha1: true not read")
	}
	if c := mustParse(t, samlDoc("      idp_metadata_file: /etc/rosterd/idp.xml\n")); c.Tenants[0].SAML.AllowSHA1 {
		t.Fatal("allow_sha1 is on by default")
	}
}
