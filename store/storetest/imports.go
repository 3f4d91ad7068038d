package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// testImportColumns: a tenant's import default is stored, replaced by
// the next, and kept apart from another tenant's.
func testImportColumns(t *testing.T, s store.Backend) {
	ctx := context.Background()
	if _, err := s.GetImportColumns(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("none stored: %v, want ErrNotFound", err)
	}
	first := store.ImportColumns{Tenant: "acme", Columns: map[string]string{"Office Location": "location", "Notes": "ignore"}, UpdatedBy: "admin:ops", UpdatedAt: t0}
	if err := s.PutImportColumns(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := store.ImportColumns{Tenant: "acme", Columns: map[string]string{"Parent": "relation.parent"}, UpdatedBy: "admin:ann", UpdatedAt: t0.Add(time.Hour)}
	if err := s.PutImportColumns(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := s.PutImportColumns(ctx, store.ImportColumns{Tenant: "globex", Columns: nil, UpdatedBy: "admin:ops", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetImportColumns(ctx, "acme")
	if err != nil || !maps.Equal(got.Columns, second.Columns) || got.UpdatedBy != "admin:ann" || !got.UpdatedAt.Equal(second.UpdatedAt) {
		t.Fatalf("acme: %+v, %v; want %+v", got, err, second)
	}
	if got, err := s.GetImportColumns(ctx, "globex"); err != nil || got.Columns == nil || len(got.Columns) != 0 {
		t.Fatalf("globex: %+v, %v; want an empty mapping", got, err)
	}
}
