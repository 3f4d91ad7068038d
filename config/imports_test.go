package config

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsNothingOfOurs: config is the leaf every package may import
// (ARCHITECTURE, "imports nothing of ours"), so it imports none of them.
func TestImportsNothingOfOurs(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/rosterd/rosterd/") {
			t.Errorf("config imports %s", imp)
		}
	}
}
