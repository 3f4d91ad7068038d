package sqlite_test

import (
	"testing"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return storetest.OpenSQLite(t) })
}
