// Command rosterd keeps a SaaS platform's employee profile cards in step
// with the real workforce: a SCIM 2.0 server, a SAML service provider,
// scheduled HR-file and LDAP diffs, and an admin override API, in one
// daemon.
//
// This package is wiring and subcommands only; no business rule lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run the daemon (the default)", serve},
	{"migrate", "apply pending database migrations and exit", migrate},
	{"sync", "plan, run, approve or reject feed runs; list runs", syncCommand},
	{"import", "import people from a CSV/TSV/XLSX file as the admin", importCommand},
	{"events", "tail: follow a tenant's change feed", eventsCommand},
	{"apikey", "create admin API keys", apikeyCommand},
	{"scim-token", "create, list or revoke a tenant's SCIM bearer tokens", scimTokenCommand},
	{"tenants", "list the tenant registry; prune the tenants the file dropped", tenantsCommand},
	{"secrets", "rotate: seal every stored secret again under a new key", secretsCommand},
	{"version", "print the version and exit", printVersion},
}

const usage = `rosterd keeps employee profile cards in step with the real workforce.

Usage:
  rosterd [command] [flags]

Commands:
%s
Run "rosterd COMMAND --help" for a command's flags. With no command, rosterd serves.
`

// errUsage marks an error in the command line: exit code 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			printUsage(stdout)
			return 0
		}
	}
	name := "serve"
	if len(args) > 0 && !isFlag(args[0]) {
		name, args = args[0], args[1:]
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, "rosterd:", err)
			return 2
		default:
			fmt.Fprintln(stderr, "rosterd:", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "rosterd: unknown command %q\n\n", name)
	printUsage(stderr)
	return 2
}

func isFlag(s string) bool { return len(s) > 0 && s[0] == '-' }

func printUsage(w io.Writer) {
	list := ""
	for _, c := range commands {
		list += fmt.Sprintf("  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, usage, list)
}

// globalFlags are the flags every command that reads the configuration takes.
type globalFlags struct {
	config    string
	listen    string
	dataDir   string
	logLevel  string
	logFormat string
}

func newFlagSet(name, summary string, stderr io.Writer, g *globalFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("rosterd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rosterd %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	if g != nil {
		fs.StringVar(&g.config, "config", "", "configuration `file` (YAML); without one, the built-in defaults: SQLite in the data directory, 127.0.0.1:8080, one tenant \"default\"")
		fs.StringVar(&g.dataDir, "data-dir", "", "`directory` for the SQLite file and generated keys (overrides data_dir)")
		fs.StringVar(&g.logLevel, "log-level", "", "log `level`: debug, info, warn or error (overrides log.level)")
		fs.StringVar(&g.logFormat, "log-format", "", "log `format`: auto, text or json (overrides log.format)")
	}
	return fs
}

// parse parses flags; extra arguments are a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
