package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("migrate", "Apply the database migrations this rosterd carries, then exit. Safe to run while other replicas start: they wait on a lock.", stderr, &g)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	current, _, err := st.SchemaVersions(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema is current (version %d)\n", current)
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v; schema version %d\n", applied, current)
	return nil
}

// Version is set at build time: go build -ldflags "-X main.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func printVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "Print the version and exit.", stderr, nil)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "rosterd", version())
	return nil
}
