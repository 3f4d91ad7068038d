package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/saml"
	"github.com/rosterd/rosterd/tenant"
)

// secretsCommand: rosterd secrets rotate [--new-key-file F].
func secretsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = `Usage: rosterd secrets rotate [--config FILE] [--new-key-file FILE]

Seals every secret rosterd stores (the SAML SP private keys, the secrets
of the tenants the admin API manages) again under one key-encryption key,
opening each with the configured secrets key or a secrets_old_key_files
key. It is safe to run again: a secret already under the new key is left
as it is, and one transaction (per SAML key, one statement) never leaves
a secret unreadable.

  --new-key-file FILE  seal under the key in FILE, made (mode 0600) when
                       FILE does not exist; the configured key becomes an
                       old key. For one rosterd process: stop it, rotate,
                       set secrets_key_file: FILE, start it.
                       Without it: seal under the configured key what is
                       still under a secrets_old_key_files key.

With replicas running (each must open both keys before anything is
sealed under the new one):
  1. make the new key: openssl rand -base64 32 > NEW; chmod 600 NEW;
  2. on every replica set secrets_key_file: NEW and secrets_old_key_files:
     [OLD], and restart them one at a time: each opens both keys and
     seals new secrets under NEW;
  3. rosterd secrets rotate (with that configuration): what is still under
     OLD is sealed under NEW; run it again until it reports nothing to do;
  4. remove secrets_old_key_files, and the old key.
The invite key is derived from the secrets key: invites queued but not
yet mailed are mailed only by a worker holding the key they were queued
under, so let the mail outbox drain before step 2.`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] != "rotate" {
		return fmt.Errorf("%w: unknown secrets command %q (want rotate)", errUsage, args[0])
	}
	var g globalFlags
	fset := newFlagSet("secrets rotate", "Seal every stored secret again under one key.", stderr, &g)
	newKeyFile := fset.String("new-key-file", "", "seal under the key in `FILE` (made when it does not exist)")
	positional, err := parseInterleaved(fset, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 0 {
		return fmt.Errorf("%w: secrets rotate takes no argument (did you mean --new-key-file %s?)", errUsage, positional[0])
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	box, err := secretsBox(a.cfg, a.logger)
	if err != nil {
		return err
	}
	if *newKeyFile != "" {
		current, err := secretsKey(a.cfg, a.logger)
		if err != nil {
			return err
		}
		old, err := oldSecretsKeys(a.cfg)
		if err != nil {
			return err
		}
		k, created, err := loadOrCreateKeyFile(*newKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--new-key-file %s: its directory does not exist", *newKeyFile)
		}
		if err != nil {
			return fmt.Errorf("--new-key-file: %w", err)
		}
		if created {
			fmt.Fprintf(stderr, "Made the new secrets key in %s (key id %s, mode 0600); keep it with the old one until every replica uses it.\n", *newKeyFile, k.ID())
		}
		box = secretbox.New(k, append([]secretbox.Key{current}, old...)...)
	}
	reg, err := tenant.ResealSecrets(ctx, a.st, box, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("sealing the tenants' secrets again (nothing of them was changed): %w", err)
	}
	samlDone, samlCurrent, err := saml.ResealKeyPairs(ctx, a.st, box)
	if err != nil {
		return fmt.Errorf("sealing the SAML keys again (%d done; run it again to finish): %w", samlDone, err)
	}
	fmt.Fprintf(stdout, "sealed again under key id %s: %d SAML SP key(s) (%d already were), %d registry secret(s) of %d tenant(s), %d feed(s) and %d webhook endpoint(s) (%d already were)\n",
		box.KeyID(), samlDone, samlCurrent, reg.Secrets, reg.Tenants, reg.Feeds, reg.Webhooks, reg.Current)
	if *newKeyFile != "" {
		fmt.Fprintf(stderr, "Now set secrets_key_file: %s on every replica (keep the old key in secrets_old_key_files until they all run with it).\n", *newKeyFile)
	}
	return nil
}
