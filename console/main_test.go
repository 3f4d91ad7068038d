package console

import (
	"os"
	"testing"

	"github.com/rosterd/rosterd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
