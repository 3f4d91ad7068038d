package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
)

// loadConfig reads the configuration file, or takes the defaults, and
// applies the command line's overrides.
func loadConfig(g globalFlags) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if g.config == "" {
		cfg = config.Default()
	} else if cfg, err = config.Load(g.config); err != nil {
		return nil, err
	}
	if g.dataDir != "" {
		// The default SQLite file lives in the data directory and moves
		// with it; a DSN the file names stays where it is.
		if cfg.Store.Driver == "sqlite" && cfg.Store.DSN == filepath.Join(cfg.DataDir, "rosterd.db") {
			cfg.Store.DSN = filepath.Join(g.dataDir, "rosterd.db")
		}
		cfg.DataDir = g.dataDir
	}
	if g.listen != "" {
		// The default public URL follows the listen address; one the file
		// names stays.
		if cfg.PublicURL == config.DefaultPublicURL(cfg.Listen) {
			cfg.PublicURL = config.DefaultPublicURL(g.listen)
		}
		cfg.Listen = g.listen
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
	}
	if g.logFormat != "" {
		cfg.Log.Format = g.logFormat
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, error) {
	logger, err := daemon.NewLogger(w, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, fmt.Errorf("log settings: %w", err)
	}
	return logger, nil
}

// openStore opens the configured backend. It neither migrates nor checks
// the schema.
func openStore(cfg *config.Config) (store.Backend, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		return sqlite.Open(cfg.Store.DSN)
	case "postgres":
		return postgres.Open(cfg.Store.DSN, postgres.Options{MaxConns: cfg.Store.MaxConns})
	default:
		return nil, fmt.Errorf("store.driver: unknown driver %q (want sqlite or postgres)", cfg.Store.Driver)
	}
}

// secretsKeyFile is the key-encryption key generated when secrets_key is
// not set, in the data directory.
const secretsKeyFile = "secrets.key"

// secretsBox is what seals the secrets rosterd stores: under secrets_key
// (or secrets_key_file), else under a key generated once into
// data_dir/secrets.key with mode 0600.
func secretsBox(cfg *config.Config, logger *slog.Logger) (*secretbox.Box, error) {
	if cfg.SecretsKey != "" {
		k, err := secretbox.ParseKey(cfg.SecretsKey)
		if err != nil {
			return nil, fmt.Errorf("secrets_key: %w", err)
		}
		return secretbox.New(k), nil
	}
	path := filepath.Join(cfg.DataDir, secretsKeyFile)
	k, created, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("the key-encryption key (secrets_key is not set, so %s): %w", path, err)
	}
	if created {
		logger.Warn("generated a key-encryption key for stored secrets; back it up with the database, and set secrets_key instead when replicas share one database",
			"file", path, "key_id", k.ID())
	}
	return secretbox.New(k), nil
}

// prepareSchema migrates when automatic migration is on; otherwise it
// refuses an old schema with the command that fixes it.
func prepareSchema(ctx context.Context, cfg *config.Config, st store.Backend, logger *slog.Logger) error {
	if !cfg.AutoMigrateEnabled() {
		if err := st.CheckSchema(ctx); err != nil {
			if errors.Is(err, store.ErrSchemaBehind) {
				return fmt.Errorf("%w (auto_migrate is off)", err)
			}
			return err
		}
		return nil
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "versions", applied)
	}
	return nil
}

// inviteKeyFile is where a generated invite key lives in the data directory.
const inviteKeyFile = "invite.key"

// inviteKey returns the key invite tokens are derived from: invite_key
// when the file sets one, else the data directory's invite.key, made on
// first use. serve, import and sync run all take it from here, so that
// the daemon's mail worker can make the links of invites a command queued.
func inviteKey(cfg *config.Config, logger *slog.Logger) (*directory.InviteKey, error) {
	if cfg.InviteKey != "" {
		return directory.NewInviteKey([]byte(cfg.InviteKey))
	}
	path := filepath.Join(cfg.DataDir, inviteKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createInviteKey(path)
		if err == nil {
			logger.Info("invite key generated", "file", path)
			if cfg.Store.Driver == "postgres" {
				logger.Warn("invite key generated in the data directory: replicas sharing this database need the same key; set invite_key (or invite_key_file) on each", "file", path)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("invite key %s: %w (or set invite_key, the same for every replica)", path, err)
	}
	k, err := directory.NewInviteKey([]byte(strings.TrimRight(string(data), "\r\n")))
	if err != nil {
		return nil, fmt.Errorf("invite key %s: %w", path, err)
	}
	return k, nil
}

// createInviteKey writes a new random key to path, readable by its owner
// only, unless another process got there first: then that key is the one.
// The key is written whole under another name and linked into place, so
// that no reader ever sees half a key.
func createInviteKey(path string) ([]byte, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".invite.key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	data := []byte(rand.Text() + rand.Text() + "\n") // 256 random bits
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return data, nil
}

// policies turns each tenant's configuration into the directory's policy.
func policies(cfg *config.Config) map[string]directory.Policy {
	out := make(map[string]directory.Policy, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		out[t.ID] = directory.Policy{
			Invite:           t.Invite,
			InviteTTL:        t.InviteTTL.Std(),
			ReminderInterval: t.ReminderInterval.Std(),
			AutoInvite:       t.AutoInviteEnabled(),
			JIT:              t.JIT,
			Precedence:       t.Precedence,
			Roles:            t.Roles,
			DefaultRole:      t.DefaultRole,
			RoleRules:        roleRules(t.RoleRules),
			Approval:         t.Approval,
			Relations:        t.Relations,
		}
	}
	return out
}

// roleRules turns a tenant's configured role rules into the directory's.
func roleRules(rules []config.RoleRule) []directory.RoleRule {
	var out []directory.RoleRule
	for _, r := range rules {
		out = append(out, directory.RoleRule{Source: r.Source, Group: r.Group, Value: r.Value, Role: r.Role})
	}
	return out
}

// staticCredentials lists the admin keys and SCIM tokens of the file.
func staticCredentials(cfg *config.Config) []credential.Static {
	var out []credential.Static
	for _, k := range cfg.AdminKeys {
		out = append(out, credential.Static{Kind: store.AdminKey, Name: k.Name, Secret: k.Key, ReadOnly: k.ReadOnly})
	}
	for _, t := range cfg.Tenants {
		for _, c := range t.SCIM {
			for _, tok := range c.AllTokens() {
				out = append(out, credential.Static{Kind: store.SCIMToken, Tenant: t.ID, Name: c.Name, Secret: tok})
			}
		}
	}
	return out
}

// bootstrapFile is the name, in the data directory, of the file the
// bootstrap secrets go to when there is no terminal to show them on.
const bootstrapFile = "bootstrap-secrets.txt"

// bootstrap makes the secrets a new installation needs and has none of: an
// admin API key when no admin key exists at all, and a SCIM token for the
// tenant "default" when it has no SCIM connection. They are shown once and
// stored only as their hashes.
//
// They never go into the log stream, which is collected and kept: on a
// terminal they are written to out; otherwise to bootstrapFile in the
// data directory, readable by the daemon's user only, and the log says
// where. They are stored only once delivered, so that a failed delivery
// leaves nothing behind that nobody knows and the next start tries again.
func bootstrap(ctx context.Context, cfg *config.Config, keys *credential.Keyring, out io.Writer, terminal bool, logger *slog.Logger, now time.Time) error {
	type minted struct{ kind, tenant, secret string }
	var made []minted
	var lines []string
	has, err := keys.Has(ctx, store.AdminKey, "")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !has {
		secret, err := credential.Generate(credential.AdminKeyPrefix)
		if err != nil {
			return fmt.Errorf("bootstrap: creating the admin API key: %w", err)
		}
		made = append(made, minted{store.AdminKey, "", secret})
		lines = append(lines, fmt.Sprintf("  Admin API key (name \"bootstrap\"):\n    %s\n", secret))
	}
	if t, ok := cfg.FindTenant("default"); ok && len(t.SCIM) == 0 {
		has, err := keys.Has(ctx, store.SCIMToken, t.ID)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if !has {
			secret, err := credential.Generate(credential.SCIMTokenPrefix)
			if err != nil {
				return fmt.Errorf("bootstrap: creating the SCIM token: %w", err)
			}
			made = append(made, minted{store.SCIMToken, t.ID, secret})
			lines = append(lines, fmt.Sprintf("  SCIM bearer token for tenant \"default\" (connection \"bootstrap\"):\n    %s\n  SCIM base URL:\n    %s/scim/default/v2/\n", secret, cfg.PublicURL))
		}
	}
	if len(made) == 0 {
		return nil
	}
	var msg strings.Builder
	msg.WriteString("\nrosterd: first start. These secrets are shown this once and stored only as hashes:\n\n")
	for _, l := range lines {
		msg.WriteString(l + "\n")
	}
	msg.WriteString("Keep them now. Try the admin key with:\n  curl -H 'Authorization: Bearer <admin key>' " + cfg.PublicURL + "/api/v1/tenants\n\n")

	if terminal {
		if _, err := io.WriteString(out, msg.String()); err != nil {
			return fmt.Errorf("bootstrap: showing the secrets: %w", err)
		}
	} else {
		path := filepath.Join(cfg.DataDir, bootstrapFile)
		if err := writePrivateFile(path, msg.String()+"Delete this file once they are kept elsewhere.\n"); err != nil {
			return fmt.Errorf("bootstrap: writing the first-start secrets: %w", err)
		}
		logger.Warn("first start: the bootstrap admin key and SCIM token are in a file readable only by this user; keep them elsewhere and delete it",
			"file", path)
	}
	for _, m := range made {
		if err := keys.Add(ctx, m.kind, m.tenant, "bootstrap", "bootstrap", m.secret, false, now); err != nil {
			return fmt.Errorf("bootstrap: storing the %s: %w", m.kind, err)
		}
	}
	return nil
}

// writePrivateFile replaces path with content, readable and writable by
// the owner only, whatever file was there before.
func writePrivateFile(path, content string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".bootstrap-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
