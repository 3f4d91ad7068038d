package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rosterd/rosterd/store"
)

// Snapshot is a full roster as one source delivered it: everyone the
// source lists, and the rows it could not use. A snapshot source — an HR
// file, an LDAP directory — produces one per run; Plan diffs it against the
// source's claims.
type Snapshot struct {
	// Name says where it came from: a file name, an LDAP URL and base DN.
	Name string
	// Size and Hash identify the content (bytes and hex SHA-256 of a file);
	// the same hash as the last applied run makes the run a no-op.
	Size int64
	Hash string
	// Fetched is when the content was read.
	Fetched time.Time
	// Records are the valid rows, at most one per key.
	Records []Record
	// Flagged are the rows that were skipped, with why.
	Flagged []Flag
	// Columns names the attributes the records carry, when the source
	// says (a file's mapped header columns: "given_name", "groups",
	// "custom.cost_center"); nil: every attribute. A Partial source asserts
	// only these. Empty is not nil: a file of emails only asserts no
	// attribute (a stored snapshot keeps the difference).
	Columns []string
}

// Record is one person in a snapshot.
type Record struct {
	// Key identifies the person in the source: the normalized email, an
	// employee id, an LDAP entryUUID/objectGUID. It becomes the claim's
	// external id, so a person whose email changes keeps their card.
	Key   string
	Email string
	// Deactivated: the source lists the person but says they must not get
	// in (an HR status "terminated", the AD disabled bit).
	Deactivated bool
	Attributes  store.Attributes
	// Line is where the record came from (a file's line, an LDAP DN), for
	// messages.
	Line string
}

// Flag is a row of the source that was skipped.
type Flag struct {
	// Line is the file's line number (or an LDAP DN).
	Line string `json:"line"`
	// Key, when the row names its person well enough, is that person's key:
	// a bad row keeps its person as they are (a full roster does not
	// withdraw them for a typo).
	Key string `json:"key,omitempty"`
	// Reason: "invalid email \"x\"", "missing employee id", "duplicate
	// email a@example.com (also on line 12)".
	Reason string `json:"reason"`
	// Header: the flag is a note about the header row (a column ignored),
	// not a row of a person. A flag that is neither this nor keyed is a row
	// that could not be read: it may list anyone (see Hold).
	Header bool `json:"header,omitempty"`
}

// Unreadable reports whether the flag is a row whose person is unknown: a
// broken line, a row without a key. Such a row may be anyone the snapshot
// no longer lists.
func (f Flag) Unreadable() bool { return f.Key == "" && !f.Header }

func (f Flag) String() string { return fmt.Sprintf("%s: %s", f.Line, f.Reason) }

// ContentHash is the hex SHA-256 of what a snapshot says — its records in
// the order given and its flagged rows — for sources that have no file to
// hash (an LDAP directory): the same content, the same hash. Each field is
// written with its length, so no two contents share an encoding.
func ContentHash(records []Record, flagged []Flag) string {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, r := range records {
		buf = buf[:0]
		buf = append(buf, 'r')
		str(r.Key)
		str(r.Email)
		if r.Deactivated {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		a := &r.Attributes
		for _, s := range [...]string{a.GivenName, a.FamilyName, a.DisplayName, a.Title, a.Department, a.Location, a.EmployeeID, a.ManagerEmail, a.Role} {
			str(s)
		}
		buf = binary.AppendUvarint(buf, uint64(len(a.Groups)))
		for _, g := range a.Groups {
			str(g)
		}
		buf = binary.AppendUvarint(buf, uint64(len(a.Custom)))
		for _, k := range slices.Sorted(maps.Keys(a.Custom)) {
			str(k)
			str(a.Custom[k])
		}
		h.Write(buf)
	}
	for _, f := range flagged {
		buf = append(buf[:0], 'f')
		str(f.Line)
		str(f.Key)
		str(f.Reason)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
