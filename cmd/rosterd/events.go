package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rosterd/rosterd/store"
)

// eventsCommand: rosterd events tail --tenant T follows the change feed.
func eventsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(stdout, "Usage: rosterd events tail [--tenant T] [--from CURSOR | --from-start] [--json]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	var g globalFlags
	fs := newFlagSet("events tail", "Follow a tenant's change feed: print each event as it commits, until interrupted.", stderr, &g)
	tenant := fs.String("tenant", "", "the tenant (required with several tenants)")
	from := fs.String("from", "", "start after this `cursor` (as the API hands them out)")
	fromStart := fs.Bool("from-start", false, "print the whole retained feed first")
	asJSON := fs.Bool("json", false, "print each event as a JSON line")
	poll := fs.Duration("poll", time.Second, "how often to look for new events")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	a, err := openApp(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer a.st.Close()
	t, err := a.tenant(*tenant)
	if err != nil {
		return err
	}
	cursor, err := store.ParseEventCursor(*from)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	skipToEnd := *from == "" && !*fromStart
	for {
		page, err := a.st.EventsAfter(ctx, t, cursor, 500)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range page {
			cursor = e.Cursor
			if skipToEnd {
				continue
			}
			if *asJSON {
				json.NewEncoder(stdout).Encode(map[string]any{"cursor": e.Cursor.String(), "id": e.ID, "type": e.Type,
					"card_id": e.CardID, "at": e.At, "actor": e.Actor, "source": e.Source, "data": json.RawMessage(e.Data)})
				continue
			}
			var d struct {
				Card struct {
					Status string `json:"status"`
				} `json:"card"`
				Changes []string `json:"changes"`
				Reason  string   `json:"reason"`
			}
			json.Unmarshal(e.Data, &d)
			fmt.Fprintf(stdout, "%s  %-14s %s  %s  %s  %v  (%s)\n", e.At.Format(time.RFC3339), e.Type, e.CardID, d.Card.Status, e.Source, d.Changes, e.Cursor)
		}
		if len(page) < 500 {
			skipToEnd = false
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*poll):
			}
		}
	}
}

// pruneEvents deletes events older than the retention, at start and hourly.
func pruneEvents(ctx context.Context, st store.Backend, retention time.Duration, logger interface {
	Info(string, ...any)
	Warn(string, ...any)
}) {
	if retention <= 0 {
		return
	}
	for {
		n, err := st.PruneEvents(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("pruning events", "err", err)
		case n > 0:
			logger.Info("pruned events past the retention", "events", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
