package admin

import (
	"strings"
	"testing"

	"github.com/rosterd/rosterd/store"
)

// TestImportRefusesAValueOverTheLimit: an upload goes through the same
// parser limits as a feed: a 100 KiB first name fails the run, naming
// the file, its line and the setting, and creates nobody.
func TestImportRefusesAValueOverTheLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		csv := "Email,First Name\nann@example.com,Ann\nbob@example.com," + strings.Repeat("x", 100<<10) + "\n"
		r := e.must(422, "POST", acme+"/imports", upload("people.csv", []byte(csv), nil))
		msg, _ := r.Body["error"].(string)
		if r.Body["status"] != store.RunFailed || !strings.Contains(msg, "people.csv:3: over a size limit: a value in column 2 is longer than max_cell_length 64KiB") {
			t.Fatalf("import with a huge value: %s", r.Raw)
		}
		if got := e.do("GET", acme+"/cards?q=ann@example.com", rwKey, nil); got.Status != 200 || strings.Contains(got.Raw, "ann@example.com") {
			t.Fatalf("a refused import created a card: %s", got.Raw)
		}
	})
}
