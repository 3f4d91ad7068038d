package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/tenant"
)

// cliRegistryActor is who the audit trail names for the registry changes these
// commands make: "admin:cli", as an admin key named cli would be.
const cliRegistryActor tenant.Actor = "cli"

// scimTokenCommand: rosterd scim-token create|list|revoke --tenant T
// --connection C. The tokens are the tenant registry's, the same as
// POST /api/v1/tenants/{t}/scim-connections/{id}/tokens makes; a token is
// printed once and stored only as its hash.
func scimTokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = `Usage: rosterd scim-token create --tenant T --connection C [--rotate DURATION]
       rosterd scim-token list --tenant T [--connection C]
       rosterd scim-token revoke ID --tenant T --connection C

create  adds a bearer token to SCIM connection C of tenant T, prints it once
        and stores only its hash. A connection C that does not exist yet is
        created (authoritative). With --rotate 24h the connection's other
        tokens stop working after 24h, so the IdP can be switched over.
list    prints the tenant's SCIM tokens (ids, never the secrets), with the
        bootstrap token of a first start.
revoke  removes one token by its id (from list); it stops working at once
        on this process and within a second on running daemons.

Tokens that the configuration file declares are changed in the file, not
here. For a tenant the file manages (without api_may_extend: true), create
keeps the token beside the admin keys, as the first start's bootstrap token
is; it works for connection C all the same, and --rotate is refused.`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := args[0]
	if sub != "create" && sub != "list" && sub != "revoke" {
		return fmt.Errorf("%w: unknown scim-token command %q (want create, list or revoke)", errUsage, sub)
	}
	var g globalFlags
	fs := newFlagSet("scim-token "+sub, "Create, list or revoke the bearer tokens of a tenant's SCIM connection.", stderr, &g)
	tenantID := fs.String("tenant", "", "the `tenant` (required)")
	connName := fs.String("connection", "", "the SCIM connection's `name` (required for create and revoke)")
	var rotate time.Duration
	if sub == "create" {
		fs.DurationVar(&rotate, "rotate", 0, "the connection's other tokens expire after this `duration` (0: they stay)")
	}
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub == "revoke" && len(positional) != 1:
		return fmt.Errorf("%w: scim-token revoke takes one token ID (rosterd scim-token list shows them)", errUsage)
	case sub != "revoke" && len(positional) != 0:
		return fmt.Errorf("%w: scim-token %s takes no argument, got %q", errUsage, sub, positional[0])
	case *tenantID == "":
		return fmt.Errorf("%w: scim-token %s needs --tenant", errUsage, sub)
	case sub != "list" && *connName == "":
		return fmt.Errorf("%w: scim-token %s needs --connection", errUsage, sub)
	case rotate < 0:
		return fmt.Errorf("%w: --rotate %s: give a positive duration", errUsage, rotate)
	}
	if sub == "create" {
		if err := config.ValidateSCIMConnectionName(*connName); err != nil {
			return fmt.Errorf("%w: --connection: %w", errUsage, err)
		}
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	// The registry as serve sees it: the file's tenants applied over the
	// store's, so a tenant of the file exists before the first start.
	reg := tenant.New(a.st, tenant.Options{Logger: a.logger})
	if err := applyTenants(ctx, reg, a.cfg, g.config, a.logger); err != nil {
		return err
	}
	t, err := reg.Get(ctx, *tenantID)
	if err != nil {
		return fmt.Errorf("%w: no live tenant %q (rosterd tenants list shows them)", errUsage, *tenantID)
	}
	keys := credential.NewKeyring(a.st, staticCredentials(a.cfg))
	switch sub {
	case "create":
		err := scimTokenCreate(ctx, reg, t, *connName, rotate, stdout, stderr)
		var managed *tenant.ManagedError
		if !errors.As(err, &managed) || rotate > 0 {
			return err
		}
		// A tenant the file manages takes no registry connection or token
		// from outside the file. The operator at the command line gets one
		// as the first start's bootstrap token is kept: with the admin
		// keys, checked after the registry's, named by the connection.
		secret, err := credential.Generate(credential.SCIMTokenPrefix)
		if err == nil {
			err = keys.Add(ctx, store.SCIMToken, t.ID(), *connName, "cli", secret, false, a.dir.Now())
		}
		if err != nil {
			return fmt.Errorf("creating the SCIM token: %w", err)
		}
		fmt.Fprintf(stderr, "SCIM bearer token for connection %q of tenant %q created (kept with the admin keys: the file manages the tenant). It is shown this once and stored only as a hash:\n", *connName, t.ID())
		fmt.Fprintln(stdout, secret)
		return nil
	case "revoke":
		return scimTokenRevoke(ctx, reg, keys, t, *connName, positional[0], stderr)
	}
	return scimTokenList(ctx, keys, t, *connName, stdout)
}

func scimTokenCreate(ctx context.Context, reg *tenant.Registry, t *tenant.Tenant, name string, rotate time.Duration, stdout, stderr io.Writer) error {
	c, ok := t.SCIMConnection(name)
	var secret string
	var err error
	if !ok {
		if rotate > 0 {
			return fmt.Errorf("%w: tenant %q has no SCIM connection %q to rotate", errUsage, t.ID(), name)
		}
		c, secret, err = reg.CreateSCIMConnection(ctx, cliRegistryActor, t.ID(), tenant.SCIMConnectionInput{Name: name})
		if err == nil {
			fmt.Fprintf(stderr, "SCIM connection %q of tenant %q created (authoritative).\n", name, t.ID())
		}
	} else {
		_, secret, err = reg.AddSCIMToken(ctx, cliRegistryActor, t.ID(), c.ID, rotate)
	}
	if err != nil {
		return scimTokenError(err)
	}
	fmt.Fprintf(stderr, "SCIM bearer token for connection %q of tenant %q created. It is shown this once and stored only as a hash:\n", name, t.ID())
	if rotate > 0 {
		fmt.Fprintf(stderr, "The connection's other tokens stop working in %s.\n", rotate)
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// scimTokenRevoke removes a token of the registry's connection, or the
// first start's bootstrap token, which lives with the admin keys.
func scimTokenRevoke(ctx context.Context, reg *tenant.Registry, keys *credential.Keyring, t *tenant.Tenant, name, id string, stderr io.Writer) error {
	if c, ok := t.SCIMConnection(name); ok {
		for _, tk := range c.Tokens {
			if tk.ID != id {
				continue
			}
			if err := reg.RevokeSCIMToken(ctx, cliRegistryActor, t.ID(), c.ID, id); err != nil {
				return scimTokenError(err)
			}
			fmt.Fprintf(stderr, "SCIM token %s of connection %q revoked.\n", id, name)
			return nil
		}
	}
	creds, err := keys.List(ctx, store.SCIMToken)
	if err != nil {
		return err
	}
	for _, k := range creds {
		if k.ID != id || k.Tenant != t.ID() || k.Name != name {
			continue
		}
		if err := keys.Revoke(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "SCIM token %s of connection %q revoked.\n", id, name)
		return nil
	}
	return fmt.Errorf("%w: connection %q of tenant %q has no token %s (rosterd scim-token list --tenant %s shows them)", errUsage, name, t.ID(), id, t.ID())
}

func scimTokenList(ctx context.Context, keys *credential.Keyring, t *tenant.Tenant, name string, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONNECTION\tMANAGED BY\tCREATED\tEXPIRES")
	stamp := func(at time.Time) string {
		if at.IsZero() {
			return "-"
		}
		return at.UTC().Format("2006-01-02 15:04")
	}
	found := name == ""
	for _, c := range t.SCIMConnections() {
		if name != "" && c.Name != name {
			continue
		}
		found = true
		for _, tk := range c.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tk.ID, c.Name, tk.ManagedBy, stamp(tk.CreatedAt), stamp(tk.ExpiresAt))
		}
	}
	creds, err := keys.List(ctx, store.SCIMToken)
	if err != nil {
		return err
	}
	for _, k := range creds {
		if k.Tenant != t.ID() || name != "" && k.Name != name {
			continue
		}
		found = true
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Origin, stamp(k.Created), "-")
	}
	if !found {
		return fmt.Errorf("%w: tenant %q has no SCIM connection %q", errUsage, t.ID(), name)
	}
	return tw.Flush()
}

// scimTokenError turns the registry's refusals into command-line errors
// (exit code 2) that say what to do.
func scimTokenError(err error) error {
	var managed *tenant.ManagedError
	if errors.As(err, &managed) || errors.Is(err, tenant.ErrExists) || errors.Is(err, tenant.ErrConnectionNotFound) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}
