package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestListenWakesOnARegistryChange: a registry change committed on one
// store wakes a Listen of another at its commit, and a rolled-back one
// does not.
func TestListenWakesOnARegistryChange(t *testing.T) {
	a := storetest.Migrated(t, storetest.OpenPostgres)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := a.(*postgres.Store).Listen(ctx, store.RegistryChannel, slog.New(slog.DiscardHandler))
	select { // the first wake says the listener is up
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not connect")
	}
	bump := func(commit bool) error {
		return a.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.BumpRegistryVersion(ctx); err != nil {
				return err
			}
			if !commit {
				return context.Canceled
			}
			return nil
		})
	}
	_ = bump(false)
	select {
	case <-wake:
		t.Fatal("woken by a change that rolled back")
	case <-time.After(200 * time.Millisecond):
	}
	if err := bump(true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of a committed change")
	}
}
