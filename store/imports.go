package store

import (
	"context"
	"time"
)

// ImportColumns is a tenant's import default: the column mapping (header
// → target: "location", "custom.cost_center", "relation.parent",
// "ignore") its last admin import named.
type ImportColumns struct {
	Tenant    string
	Columns   map[string]string
	UpdatedBy string
	UpdatedAt time.Time
}

// ImportDefaults keeps each tenant's import default; every method is one
// statement outside InTx. Part of Store.
type ImportDefaults interface {
	// PutImportColumns stores a tenant's mapping in place of the last.
	PutImportColumns(ctx context.Context, c ImportColumns) error
	// GetImportColumns returns a tenant's mapping; ErrNotFound if it has none.
	GetImportColumns(ctx context.Context, tenant string) (ImportColumns, error)
}
