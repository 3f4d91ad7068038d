package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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
		}
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

// bootstrap makes the secrets a new installation needs and has none of: an
// admin API key when no admin key exists at all, and a SCIM token for the
// tenant "default" when it has no SCIM connection. Each is printed once, to
// w, and stored only as its hash.
func bootstrap(ctx context.Context, cfg *config.Config, keys *credential.Keyring, w io.Writer, now time.Time) error {
	var lines []string
	has, err := keys.Has(ctx, store.AdminKey, "")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !has {
		secret, err := keys.Create(ctx, store.AdminKey, "", "bootstrap", "bootstrap", false, now)
		if err != nil {
			return fmt.Errorf("bootstrap: creating the admin API key: %w", err)
		}
		lines = append(lines, fmt.Sprintf("  Admin API key (name \"bootstrap\"):\n    %s\n", secret))
	}
	if t, ok := cfg.FindTenant("default"); ok && len(t.SCIM) == 0 {
		has, err := keys.Has(ctx, store.SCIMToken, t.ID)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		if !has {
			secret, err := keys.Create(ctx, store.SCIMToken, t.ID, "bootstrap", "bootstrap", false, now)
			if err != nil {
				return fmt.Errorf("bootstrap: creating the SCIM token: %w", err)
			}
			lines = append(lines, fmt.Sprintf("  SCIM bearer token for tenant \"default\" (connection \"bootstrap\"):\n    %s\n  SCIM base URL:\n    %s/scim/default/v2/\n", secret, cfg.PublicURL))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprint(w, "\nrosterd: first start. These secrets are shown this once and stored only as hashes:\n\n")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprint(w, "Keep them now. Try the admin key with:\n  curl -H 'Authorization: Bearer <admin key>' "+cfg.PublicURL+"/api/v1/tenants\n\n")
	return nil
}
