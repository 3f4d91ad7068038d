package main

import (
	"context"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// consoleRuns is the console's view of sync: the store's runs, approvals
// as the admin API makes them (the feed or import a held run applies with
// is found in one place), rejections by the runner.
type consoleRuns struct {
	st     store.Runs
	api    *admin.API
	runner *reconcile.Runner
}

func (c consoleRuns) ListRuns(ctx context.Context, q store.RunQuery) ([]store.Run, error) {
	return c.st.ListRuns(ctx, q)
}

func (c consoleRuns) GetRun(ctx context.Context, tenant, id string) (store.Run, error) {
	return c.st.GetRun(ctx, tenant, id)
}

func (c consoleRuns) Approve(ctx context.Context, tenant, id, actor string) (store.Run, error) {
	return c.api.ApproveRun(ctx, tenant, id, actor)
}

func (c consoleRuns) Reject(ctx context.Context, tenant, id, actor string) (store.Run, error) {
	return c.runner.Reject(ctx, tenant, id, actor)
}
