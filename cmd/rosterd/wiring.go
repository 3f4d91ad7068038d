package main

import (
	"context"
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
	"github.com/rosterd/rosterd/tenant"
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

// secretsKey is the one key an operator keeps: secrets_key (or
// secrets_key_file), else the data directory's secrets.key, generated
// once with mode 0600. Stored secrets are sealed under it and the invite
// key is derived from it.
func secretsKey(cfg *config.Config, logger *slog.Logger) (secretbox.Key, error) {
	if cfg.SecretsKey != "" {
		raw, err := config.DecodeKey(cfg.SecretsKey)
		if err != nil {
			return secretbox.Key{}, fmt.Errorf("secrets_key: %w", err)
		}
		return secretbox.NewKey(raw)
	}
	path := filepath.Join(cfg.DataDir, secretsKeyFile)
	k, created, err := loadOrCreateKeyFile(path)
	if err != nil {
		return secretbox.Key{}, fmt.Errorf("the secrets key (secrets_key is not set, so %s): %w", path, err)
	}
	if created {
		logger.Warn("generated the secrets key (stored secrets are sealed under it, invite links derive from it); back it up with the database, and set secrets_key instead when replicas share one database or commands run elsewhere",
			"file", path, "key_id", k.ID())
	}
	return k, nil
}

// secretsBox is what seals the secrets rosterd stores, under secretsKey;
// the keys of secrets_old_key_files still open what they sealed.
func secretsBox(cfg *config.Config, logger *slog.Logger) (*secretbox.Box, error) {
	k, err := secretsKey(cfg, logger)
	if err != nil {
		return nil, err
	}
	old, err := oldSecretsKeys(cfg)
	if err != nil {
		return nil, err
	}
	return secretbox.New(k, old...), nil
}

// oldSecretsKeys reads secrets_old_key_files.
func oldSecretsKeys(cfg *config.Config) ([]secretbox.Key, error) {
	var out []secretbox.Key
	for i, path := range cfg.SecretsOldKeyFiles {
		k, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("secrets_old_key_files[%d]: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// loadOrCreateKeyFile reads the key in path, or, when there is no file,
// generates one and writes it there with mode 0600 (created reports it).
// Two processes starting at once agree on one key: the key is written
// whole under another name and linked into place, so that no reader sees
// half a key, and the loser reads the winner's. A key file that others
// than its owner may read or write is refused.
func loadOrCreateKeyFile(path string) (k secretbox.Key, created bool, err error) {
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, text, err := secretbox.GenerateKey()
	if err != nil {
		return secretbox.Key{}, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return secretbox.Key{}, false, fmt.Errorf("creating key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		k, err = readKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return secretbox.Key{}, false, fmt.Errorf("writing key file %s: %w", path, err)
	}
	return k, true, nil
}

func readKeyFile(path string) (secretbox.Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return secretbox.Key{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return secretbox.Key{}, fmt.Errorf("key file %s has mode %04o: others may read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return secretbox.Key{}, fmt.Errorf("reading key file: %w", err)
	}
	raw, err := config.DecodeKey(string(data))
	if err != nil {
		return secretbox.Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return secretbox.NewKey(raw)
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

// inviteKey returns the key invite tokens are derived from: derived in
// turn from the secrets key (HKDF), so that the operator keeps one key.
// serve, import and sync run all take it from here, so that the daemon's
// mail worker can make the links of invites a command queued.
func inviteKey(cfg *config.Config, logger *slog.Logger) (*directory.InviteKey, error) {
	k, err := secretsKey(cfg, logger)
	if err != nil {
		return nil, err
	}
	return directory.NewInviteKey(k.Derive("invite tokens", directory.MinInviteKeyLen))
}

// policies are the file's tenants' policies, for the one-shot commands
// that have no registry running (sync, import).
func policies(cfg *config.Config) map[string]directory.Policy {
	out := make(map[string]directory.Policy, len(cfg.Tenants))
	for i := range cfg.Tenants {
		out[cfg.Tenants[i].ID] = tenant.FromConfig(&cfg.Tenants[i]).Policy()
	}
	return out
}

// staticCredentials lists the admin keys of the file. Its SCIM tokens are
// the tenant registry's (Registry.Apply stores their hashes).
func staticCredentials(cfg *config.Config) []credential.Static {
	var out []credential.Static
	for _, k := range cfg.AdminKeys {
		out = append(out, credential.Static{Kind: store.AdminKey, Name: k.Name, Secret: k.Key, ReadOnly: k.ReadOnly, Scopes: k.Scopes})
	}
	return out
}

// bootstrapFile is the name, in the data directory, of the file the
// bootstrap secrets go to when there is no terminal to show them on.
const bootstrapFile = "bootstrap-secrets.txt"

// bootstrap makes the secrets a new installation needs and has none of,
// and delivers them at once: mintBootstrap, then deliver.
func bootstrap(ctx context.Context, cfg *config.Config, keys *credential.Keyring, out io.Writer, terminal bool, logger *slog.Logger, now time.Time) error {
	b, err := mintBootstrap(ctx, cfg, keys)
	if err != nil {
		return err
	}
	return b.deliver(ctx, keys, out, terminal, logger, now)
}

// bootstrapSecrets are the first start's secrets, made but not yet shown
// or stored.
type bootstrapSecrets struct {
	cfg  *config.Config
	made []mintedSecret
	// lines are what shows each secret.
	lines []string
}

type mintedSecret struct{ kind, tenant, secret string }

// mintBootstrap makes the secrets a new installation needs and has none
// of: an admin API key when no admin key exists at all, and a SCIM token
// for the tenant "default" when it has no SCIM connection. It only reads
// the store: until deliver, nothing is spent, so serve mints them before
// it starts and delivers them once its listener is up, and a start that
// fails in between leaves the next one to make a fresh pair.
func mintBootstrap(ctx context.Context, cfg *config.Config, keys *credential.Keyring) (*bootstrapSecrets, error) {
	b := &bootstrapSecrets{cfg: cfg}
	has, err := keys.Has(ctx, store.AdminKey, "")
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if !has {
		secret, err := credential.Generate(credential.AdminKeyPrefix)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: creating the admin API key: %w", err)
		}
		b.made = append(b.made, mintedSecret{store.AdminKey, "", secret})
		b.lines = append(b.lines, fmt.Sprintf("  Admin API key (name \"bootstrap\"):\n    %s\n", secret))
	}
	if t, ok := cfg.FindTenant("default"); ok && len(t.SCIM) == 0 {
		has, err := keys.Has(ctx, store.SCIMToken, t.ID)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		if !has {
			secret, err := credential.Generate(credential.SCIMTokenPrefix)
			if err != nil {
				return nil, fmt.Errorf("bootstrap: creating the SCIM token: %w", err)
			}
			b.made = append(b.made, mintedSecret{store.SCIMToken, t.ID, secret})
			b.lines = append(b.lines, fmt.Sprintf("  SCIM bearer token for tenant \"default\" (connection \"bootstrap\"):\n    %s\n  SCIM base URL:\n    %s/scim/default/v2/\n", secret, cfg.PublicURL))
		}
	}
	return b, nil
}

// deliver shows the secrets once and stores their hashes.
//
// They never go into the log stream, which is collected and kept: on a
// terminal they are written to out; otherwise to bootstrapFile in the
// data directory, readable by the daemon's user only, and the log says
// where. They are stored only once delivered, so that a failed delivery
// leaves nothing behind that nobody knows and the next start tries again.
func (b *bootstrapSecrets) deliver(ctx context.Context, keys *credential.Keyring, out io.Writer, terminal bool, logger *slog.Logger, now time.Time) error {
	if len(b.made) == 0 {
		return nil
	}
	cfg := b.cfg
	var msg strings.Builder
	msg.WriteString("\nrosterd: first start. These secrets are shown this once and stored only as hashes:\n\n")
	for _, l := range b.lines {
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
	for _, m := range b.made {
		// The bootstrap admin key is the new install's operator's.
		var scopes []string
		if m.kind == store.AdminKey {
			scopes = []string{store.ScopeOperator}
		}
		if err := keys.AddScoped(ctx, m.kind, m.tenant, "bootstrap", "bootstrap", m.secret, false, scopes, now); err != nil {
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
