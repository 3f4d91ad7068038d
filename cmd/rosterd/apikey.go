package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"regexp"
	"text/tabwriter"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	tenantpkg "github.com/rosterd/rosterd/tenant"
)

// keyName is what an admin key's name may be: it appears in the audit
// trail as "admin:NAME".
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// apikeyCommand: rosterd apikey create NAME [--read-only] [--tenant T].
// The key is printed once and stored only as its hash.
func apikeyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = `Usage: rosterd apikey create NAME [--read-only] [--tenant T [--connections]] [--operator]
       rosterd apikey list
       rosterd apikey revoke ID

Creates an admin API key, prints it once and stores only its hash. Send it
as "Authorization: Bearer <key>". Changes made with it are audited as
"admin:NAME". A read-only key may only read; a key bound to a tenant sees
only that tenant. An operator key (--operator, no tenant) also manages
tenants and their connections (/api/v1/tenants). A tenant's key with
--connections also manages that tenant's connections (SCIM connections
and tokens, SAML connection, domains, setup links), and nothing of other
tenants.

"apikey list" shows each key's last use, to the minute ("never" for a key
not used since it was made; "-" for a key of the file, whose use only the
daemon knows).`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "list", "revoke":
		return apikeyListRevoke(ctx, args, stdout, stderr)
	case "create":
	default:
		return fmt.Errorf("%w: unknown apikey command %q (want create, list or revoke)", errUsage, args[0])
	}
	args = args[1:]
	var g globalFlags
	fs := newFlagSet("apikey create NAME", "Create an admin API key; it is printed once.", stderr, &g)
	readOnly := fs.Bool("read-only", false, "the key may only read")
	tenant := fs.String("tenant", "", "bind the key to one `tenant` (default: all tenants)")
	operator := fs.Bool("operator", false, "the key manages tenants and their connections (not with --tenant)")
	conns := fs.Bool("connections", false, "the tenant's key also manages that tenant's connections (with --tenant)")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: apikey create takes one NAME", errUsage)
	}
	name := positional[0]
	if !keyName.MatchString(name) {
		return fmt.Errorf("%w: key name %q: use letters, digits, '.', '_' or '-' (at most 64)", errUsage, name)
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	if *operator && *tenant != "" {
		return fmt.Errorf("%w: an operator key belongs to no tenant: drop --tenant or --operator", errUsage)
	}
	if *conns && *tenant == "" {
		return fmt.Errorf("%w: --connections is for a key of one tenant: add --tenant", errUsage)
	}
	if *tenant != "" {
		// The file's tenants, and those the admin API created.
		reg := tenantpkg.New(a.st, tenantpkg.Options{})
		if err := reg.Reload(ctx); err != nil {
			return err
		}
		if _, ok := reg.Lookup(*tenant); !ok {
			if _, ok := a.cfg.FindTenant(*tenant); !ok {
				return fmt.Errorf("%w: no tenant %q", errUsage, *tenant)
			}
		}
	}
	var scopes []string
	if *operator {
		scopes = []string{store.ScopeOperator}
	}
	if *conns {
		scopes = []string{store.ScopeConnections}
	}
	keys := credential.NewKeyring(a.st, staticCredentials(a.cfg))
	secret, err := credential.Generate(credential.AdminKeyPrefix)
	if err == nil {
		_, err = keys.AddScopedBy(ctx, cliActor(), store.AdminKey, *tenant, name, "cli", secret, *readOnly, scopes, a.dir.Now())
	}
	if err != nil {
		return fmt.Errorf("creating the key: %w", err)
	}
	scope := "read-write"
	if *readOnly {
		scope = "read-only"
	}
	if *operator {
		scope += ", operator"
	}
	if *conns {
		scope += ", connections of " + *tenant
	}
	fmt.Fprintf(stderr, "Admin API key %q (%s) created. It is shown this once and stored only as a hash:\n", name, scope)
	fmt.Fprintln(stdout, secret)
	return nil
}

// apikeyListRevoke: rosterd apikey list | revoke ID.
func apikeyListRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("apikey "+args[0], "List admin API keys, or revoke one by its id.", stderr, &g)
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if args[0] == "list" && len(positional) != 0 || args[0] == "revoke" && len(positional) != 1 {
		return fmt.Errorf("%w: apikey list takes no argument; apikey revoke takes one ID", errUsage)
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	keys := credential.NewKeyring(a.st, staticCredentials(a.cfg))
	if args[0] == "revoke" {
		switch err := keys.RevokeBy(ctx, cliActor(), positional[0]); {
		case errors.Is(err, credential.ErrConfigured):
			return fmt.Errorf("%w: key %s is declared in the configuration file: remove it there", errUsage, positional[0])
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: no key %s (rosterd apikey list shows the ids)", errUsage, positional[0])
		case err != nil:
			return err
		}
		fmt.Fprintf(stderr, "Admin API key %s revoked.\n", positional[0])
		return nil
	}
	list, err := keys.List(ctx, store.AdminKey)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTENANT\tACCESS\tORIGIN\tCREATED\tLAST USED")
	for _, k := range list {
		access := "read-write"
		if k.ReadOnly {
			access = "read-only"
		}
		if k.HasScope(store.ScopeOperator) {
			access += ",operator"
		}
		if k.HasScope(store.ScopeConnections) {
			access += ",connections"
		}
		tenant, created := k.Tenant, ""
		if tenant == "" {
			tenant = "(all)"
		}
		if !k.Created.IsZero() {
			created = k.Created.UTC().Format("2006-01-02 15:04")
		}
		used := "never"
		if !k.LastUsed.IsZero() {
			used = k.LastUsed.UTC().Format("2006-01-02 15:04")
		} else if k.Origin == "config" {
			used = "-" // a key of the file: its use is known only to the daemon
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, tenant, access, k.Origin, created, used)
	}
	return tw.Flush()
}

// cliActor is who the audit line of a key made or revoked here names: the
// command line, and the operating-system user running it.
func cliActor() credential.Actor {
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	return credential.Actor{Name: name, Source: "cli"}
}
