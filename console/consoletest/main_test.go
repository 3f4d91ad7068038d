package consoletest

import (
	"os"
	"testing"

	"github.com/rosterd/rosterd/internal/browsertest"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
