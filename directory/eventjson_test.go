package directory

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// TestEventJSON: the written-out event payload (eventData.encode) is byte for byte what
// json.Marshal of eventData gives, with and without the optional fields
// and with characters encoding/json escapes.
func TestEventJSON(t *testing.T) {
	card := store.Card{ID: "c1", Tenant: "acme", Email: "a<b>&c@example.com", CreatedAt: time.Unix(1700000000, 5).UTC()}
	card.Attributes.GivenName = "Ann \u2028 <script>"
	card.Attributes.Custom = map[string]string{"cost_center": "CC & \"7\""}
	cardJSON := mustJSON(cardView{Card: card, Status: "active"})
	for _, c := range []struct {
		changes       []string
		reason, runID string
	}{
		{nil, "", ""},
		{[]string{"given_name", "custom.cost_center"}, "import <x>", "run-1"},
		{[]string{}, "", "r&2"},
		{[]string{"email"}, "", ""},
	} {
		want, err := json.Marshal(eventData{Card: cardJSON, Changes: c.changes, Reason: c.reason, RunID: c.runID})
		if err != nil {
			t.Fatal(err)
		}
		if got := (eventData{Card: cardJSON, Changes: c.changes, Reason: c.reason, RunID: c.runID}).encode(); !bytes.Equal(got, want) {
			t.Errorf("eventData.encode(%v, %q, %q):\n got %s\nwant %s", c.changes, c.reason, c.runID, got, want)
		}
	}
}
