package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return storetest.OpenPostgres(t) })
}

// Sessions run with sequential scans off, so that PostgreSQL's cached
// plans never scan a table an index serves; a DSN may turn them back on.
func TestSessionSettings(t *testing.T) {
	show := func(dsn string) string {
		t.Helper()
		s, err := postgres.Open(dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var v string
		if err := s.SQL.QueryRowContext(context.Background(), "SHOW enable_seqscan").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	dsn := pgtest.DSN(t)
	if v := show(dsn); v != "off" {
		t.Fatalf("enable_seqscan = %s, want off", v)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if v := show(dsn + sep + "enable_seqscan=on"); v != "on" {
		t.Fatalf("with enable_seqscan=on in the DSN: %s", v)
	}
}
