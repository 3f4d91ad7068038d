package reconcile

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/rosterd/rosterd/internal/csvsafe"
)

// WriteJSON writes the plan as JSON.
func (p Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteCSV writes the plan's changes as CSV, one change a row, for people
// who read plans in a spreadsheet; the flagged rows follow, with action
// "flagged" and the key of the person they name, if any. Cleared lists
// the attributes a change empties, by ";".
// Every cell is safe to open in a spreadsheet (csvsafe): a feed's values
// are not the operator's, and a formula among them stays text.
func (p Plan) WriteCSV(w io.Writer) error {
	cw := csvsafe.NewWriter(w)
	cw.Write([]string{"action", "key", "email", "card_id", "effect", "changes", "cleared", "refused", "line"})
	for _, ch := range p.Changes {
		var changes []string
		for _, a := range ch.Attributes {
			changes = append(changes, a.Name+": "+a.Old+" → "+a.New)
		}
		cw.Write([]string{string(ch.Action), ch.Key, ch.Email, ch.CardID, ch.Effect, strings.Join(changes, "; "),
			strings.Join(ch.Cleared, ";"), ch.Refused, ch.Line})
	}
	for _, f := range p.Flagged {
		cw.Write([]string{"flagged", f.Key, "", "", "", "", "", f.Reason, f.Line})
	}
	cw.Flush()
	return cw.Error()
}
