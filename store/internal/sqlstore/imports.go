package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/rosterd/rosterd/store"
)

// PutImportColumns implements store.ImportDefaults.
func (s *DB) PutImportColumns(ctx context.Context, c store.ImportColumns) error {
	cols := c.Columns
	if cols == nil {
		cols = map[string]string{}
	}
	j, err := json.Marshal(cols)
	if err != nil {
		return err
	}
	err = s.exclusive(ctx, func() error {
		_, err := s.SQL.ExecContext(ctx, `INSERT INTO tenant_import_columns (tenant, columns, updated_by, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant) DO UPDATE SET columns = excluded.columns, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			c.Tenant, string(j), c.UpdatedBy, micros(c.UpdatedAt))
		return err
	})
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing the import columns of %s: %w", c.Tenant, err))
	}
	return nil
}

// GetImportColumns implements store.ImportDefaults.
func (s *DB) GetImportColumns(ctx context.Context, tenant string) (store.ImportColumns, error) {
	rows, err := s.queryContext(ctx, `SELECT tenant, columns, updated_by, updated_at FROM tenant_import_columns WHERE tenant = $1`, tenant)
	out, err := collect(rows, err, func(sc scanner) (store.ImportColumns, error) {
		var (
			c    store.ImportColumns
			cols string
			at   sql.NullInt64
		)
		if err := sc.Scan(&c.Tenant, &cols, &c.UpdatedBy, &at); err != nil {
			return c, err
		}
		c.UpdatedAt = fromMicros(at)
		return c, json.Unmarshal([]byte(cols), &c.Columns)
	})
	if err != nil {
		return store.ImportColumns{}, s.d.MapError(fmt.Errorf("reading the import columns of %s: %w", tenant, err))
	}
	if len(out) == 0 {
		return store.ImportColumns{}, fmt.Errorf("import columns of %s: %w", tenant, store.ErrNotFound)
	}
	return out[0], nil
}
