package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/tenant"
)

// tenantsCommand: rosterd tenants list | prune --config FILE.
func tenantsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const help = `Usage: rosterd tenants list [--config FILE]
       rosterd tenants prune --config FILE

list   prints every tenant of the registry: who manages it (config: the
       YAML file; api: the admin API) and whether it is retired.
prune  applies the file's tenants, then retires every tenant the file
       managed and no longer declares. Nothing is deleted: a retired
       tenant's cards and audit stay, and POST /api/v1/tenants/{t}/restore
       brings it back. (Removing a tenant from the file alone only reports
       it, at start and on SIGHUP.)`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, help)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := args[0]
	if sub != "list" && sub != "prune" {
		return fmt.Errorf("%w: unknown tenants command %q (want list or prune)", errUsage, sub)
	}
	var g globalFlags
	fs := newFlagSet("tenants "+sub, "List or prune the tenant registry.", stderr, &g)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub == "prune" && g.config == "" {
		return fmt.Errorf("%w: tenants prune needs --config FILE: the file says which tenants stay", errUsage)
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	reg := tenant.New(a.st, tenant.Options{Logger: a.logger, DropBox: a.cfg.APIDropBox(), Secrets: func() (*secretbox.Box, error) { return secretsBox(a.cfg, a.logger) }})
	if sub == "prune" {
		retired, err := reg.Prune(ctx, a.cfg, g.config)
		if err != nil {
			return err
		}
		if len(retired) == 0 {
			fmt.Fprintln(stderr, "Every tenant the file managed is still in it: nothing retired.")
		}
		for _, id := range retired {
			fmt.Fprintf(stdout, "retired %s\n", id)
		}
		return nil
	}
	if err := reg.Reload(ctx); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMANAGED BY\tSTATE\tSCIM CONNECTIONS")
	for _, t := range reg.List() {
		state := "live"
		if t.Retired() {
			state = "retired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", t.ID(), t.Name(), t.ManagedBy(), state, len(t.SCIMConnections()))
	}
	return tw.Flush()
}
