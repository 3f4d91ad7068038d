package postgres_test

import (
	"os"
	"testing"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return storetest.OpenPostgres(t) })
}
