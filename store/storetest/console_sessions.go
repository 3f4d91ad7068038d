package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// testConsoleSessions: a session is read back as written, found by its
// nonce, written only over the version it was read at, and pruned when
// idle or old.
func testConsoleSessions(t *testing.T, s store.Backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	in := store.ConsoleSession{Hash: "h1", CSRF: "tok", Name: "ops", Tenant: "acme", ReadOnly: true, CardID: "c1", CreatedAt: t0, SeenAt: t0}
	if err := s.CreateConsoleSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsoleSession(ctx, in); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("a second session with the same hash: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetConsoleSession(ctx, "h1")
	if err != nil || got.Version != 1 || got.CSRF != "tok" || got.Name != "ops" || got.Tenant != "acme" || !got.ReadOnly || got.CardID != "c1" ||
		!got.CreatedAt.Equal(t0) || !got.SeenAt.Equal(t0) || got.Nonce != "" || got.Pending != nil {
		t.Fatalf("read back %+v, %v", got, err)
	}
	upd := got
	upd.Flash, upd.Nonce, upd.Pending, upd.SeenAt = "Saved.", "n1", []byte(`{"k":1}`), t0.Add(time.Minute)
	upd, err = s.UpdateConsoleSession(ctx, upd)
	if err != nil || upd.Version != 2 {
		t.Fatalf("update: %+v, %v", upd, err)
	}
	if _, err := s.UpdateConsoleSession(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an update over a stale version: %v, want ErrConflict", err)
	}
	byNonce, err := s.ConsoleSessionByNonce(ctx, "n1")
	if err != nil || byNonce.Hash != "h1" || byNonce.Flash != "Saved." || string(byNonce.Pending) != `{"k":1}` || byNonce.Version != 2 {
		t.Fatalf("by nonce: %+v, %v", byNonce, err)
	}
	if _, err := s.ConsoleSessionByNonce(ctx, "n2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown nonce: %v", err)
	}
	if _, err := s.ConsoleSessionByNonce(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no nonce: %v", err)
	}
	// Two sessions without a nonce do not collide.
	if err := s.CreateConsoleSession(ctx, store.ConsoleSession{Hash: "h2", CSRF: "t2", CreatedAt: t0.Add(-13 * time.Hour), SeenAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsoleSession(ctx, store.ConsoleSession{Hash: "h3", CSRF: "t3", CreatedAt: t0, SeenAt: t0}); err != nil {
		t.Fatal(err)
	}
	// h3 idle since t0, h2 made 13 h before it; h1 seen at t0+1m.
	n, err := s.PruneConsoleSessions(ctx, t0.Add(30*time.Second), t0.Add(-12*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("prune: %d, %v; want 2", n, err)
	}
	if _, err := s.GetConsoleSession(ctx, "h1"); err != nil {
		t.Fatalf("prune removed a live session: %v", err)
	}
	if err := s.DeleteConsoleSession(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConsoleSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.UpdateConsoleSession(ctx, upd); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an update of a deleted session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteConsoleSession(ctx, "h1"); err != nil {
		t.Fatalf("deleting none: %v", err)
	}
}
