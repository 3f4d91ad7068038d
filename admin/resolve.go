package admin

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// After PUT …/roles changes a tenant's role set, default role or mapping
// rules, every card of the tenant is resolved again under the new policy
// (directory.BulkResolve), so that a new rule reaches the cards now and
// not at each one's next write (Okta and Entra ID evaluate a changed group
// rule over the people it covers, too). It is a bulk job of action
// "resolve", read at GET …/bulk/{id} like any other: the tenant's cards a
// page at a time, each page one transaction, only the cards whose role
// (or anything else resolved) changes written, with an audit line
// "policy.resolve" and an event each.
//
// A policy change never disables anyone on its own: the directory
// refuses, card by card, a resolution that would (directory.ErrWouldDisable,
// shown as would_disable) — a role rule cannot disable, so such a card means
// something else moved, and that is not this job's to decide without the
// safety brake.

// startResolve records the job and runs it after the answer; it returns
// the run as recorded.
func (a *API) startResolve(ctx context.Context, ac directory.Actor, tenant string) (store.Run, error) {
	jobs, ok := a.services.Store.(RunWriter)
	if !ok {
		return store.Run{}, fmt.Errorf("the admin API has no run store for the resolve job")
	}
	ac.RunID = uuid.Must(uuid.NewV7()).String()
	run := store.Run{ID: ac.RunID, Tenant: tenant, Feed: bulkFeed, Kind: bulkKind, Trigger: "roles", Actor: ac.Name,
		Started: a.services.Directory.Now(), Status: store.RunApplying, Counts: map[string]int{}}
	if err := jobs.PutRun(ctx, run); err != nil {
		return store.Run{}, err
	}
	go a.resolveAll(context.WithoutCancel(ctx), jobs, run, ac, tenant)
	return run, nil
}

// resolveAll is the job: every card of the tenant, in id order.
func (a *API) resolveAll(ctx context.Context, jobs RunWriter, run store.Run, ac directory.Actor, tenant string) {
	in := directory.BulkInput{Action: directory.BulkResolve}
	counts := map[string]int{"selected": 0, "done": 0, "changed": 0, "unchanged": 0, "refused": 0, "disables": 0}
	var items []BulkItem // the cards changed or left alone; not the unchanged
	err := func() error {
		cursor := ""
		for {
			page, err := a.services.Directory.List(ctx, directory.ListQuery{Tenant: tenant, Cursor: cursor, Limit: bulkBatch})
			if err != nil {
				return err
			}
			ids := make([]string, len(page.Cards))
			for i, c := range page.Cards {
				ids[i] = c.ID
			}
			held := directory.NewBulkHeld()
			held.Offer(page.Cards)
			done, err := a.services.Directory.BulkWithHeld(ctx, ac, tenant, in, ids, false, held)
			if err != nil {
				return err
			}
			now := a.services.Directory.Now()
			for _, r := range done {
				switch {
				case r.Err != nil: // would_disable, or the card went meanwhile
					counts["refused"]++
					items = append(items, BulkItem{CardID: r.CardID, Email: r.Card.Email, Error: &ItemError{Code: itemErrorCode(r.Err), Message: r.Err.Error()}})
				case r.Changed:
					counts["changed"]++
					items = append(items, BulkItem{CardID: r.CardID, Email: r.Card.Email, Changed: true, Status: directory.StatusOf(r.Card, now)})
				default:
					counts["unchanged"]++
				}
			}
			counts["selected"] += len(ids)
			counts["done"] += len(ids)
			if page.Next == "" {
				return nil
			}
			cursor = page.Next
			run.Counts = counts
			if err := jobs.PutRun(ctx, run); err != nil {
				a.logger.Error("recording resolve progress", "tenant", tenant, "bulk", run.ID, "err", err)
			}
		}
	}()
	run.Finished = a.services.Directory.Now()
	run.Counts = counts
	run.Status = store.RunApplied
	if err != nil {
		run.Status, run.Error = store.RunFailed, err.Error()
		a.logger.Error("resolving cards under a new policy failed", "tenant", tenant, "bulk", run.ID, "done", counts["done"], "err", err)
	}
	if err := a.putBulkRun(ctx, jobs, run, string(in.Action), items); err != nil {
		a.logger.Error("recording a resolve job", "tenant", tenant, "bulk", run.ID, "err", err)
	}
}
