package directory

import (
	"bytes"
	"encoding/json"
	"testing"
)

// eventData.encode writes exactly what json.Marshal would.
func TestEventDataEncodeIsMarshal(t *testing.T) {
	card := mustJSON(map[string]any{"id": "c1", "email": "a<b>&c@example.com", "groups": []string{"x"}, "n": 1})
	for _, d := range []eventData{
		{Card: card},
		{Card: card, Changes: []string{"enabled", "pin <admin> & \"q\""}, Reason: "disabled: pinned by admin admin:ops (\"left\")", RunID: "0193-ab"},
		{Card: card, Reason: "é \u2028 \x01"},
		{Card: card, Changes: []string{}, RunID: "r"},
	} {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.encode(); !bytes.Equal(got, want) {
			t.Errorf("encode:\n%s\nMarshal:\n%s", got, want)
		}
	}
}
