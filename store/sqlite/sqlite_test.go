package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/sqlite"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return storetest.OpenSQLite(t) })
}

// TestPragmas: every connection of the pool runs with the store's
// pragmas (they are the DSN's, applied per connection): WAL, NORMAL
// sync, foreign keys, and the larger WAL before a checkpoint.
func TestPragmas(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rosterd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	// Connections held at once are distinct connections of the pool.
	var conns []*sql.Conn
	for range 3 {
		c, err := st.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	want := map[string]string{"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "wal_autocheckpoint": "8000", "busy_timeout": "10000"}
	for i, c := range conns {
		for name, v := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil || got != v {
				t.Errorf("connection %d: PRAGMA %s = %q (%v), want %q", i, name, got, err, v)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}
