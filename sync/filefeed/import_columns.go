package filefeed

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/sync/reconcile"
)

// IgnoreColumn is the target that ignores a column outright, a header
// rosterd would otherwise read included ({"Manager": "ignore"}).
const IgnoreColumn = "ignore"

// HeaderColumn is how one non-empty cell of a file's header row mapped:
// to a target, or ignored, and why.
type HeaderColumn struct {
	// Column is the column's position, from 1.
	Column int    `json:"column"`
	Header string `json:"header"`
	// Target is what the column fills: a card field ("given_name"),
	// "email", "status", "custom.<name>" or "relation.<name>"; empty when
	// the column is ignored.
	Target string `json:"target,omitempty"`
	// By says what mapped it: "columns" (the mapping given), "default"
	// (a header rosterd knows); empty when ignored.
	By      string `json:"mapped_by,omitempty"`
	Ignored bool   `json:"ignored,omitempty"`
	// Reason says why an ignored column is.
	Reason string `json:"reason,omitempty"`
}

// MappingError is a column mapping that cannot be used: a target that is
// no card field, custom.<name> or relation.<name>; an empty header; two
// headers for one target.
type MappingError struct {
	// Header is the mapped header, as given.
	Header string
	Target string
	Reason string
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("columns[%q]: %s", e.Header, e.Reason)
}

// Targets lists the card fields a column may map to, besides
// custom.<name>, relation.<name> and IgnoreColumn.
func Targets() []string {
	return slices.Sorted(maps.Keys(rosterAttributes))
}

// CheckColumns checks a column mapping (header → target), the first
// problem by header first: a *MappingError.
func CheckColumns(columns map[string]string) error {
	headers := slices.Sorted(maps.Keys(columns))
	targets := map[string]string{}
	normalized := map[string]string{}
	for _, h := range headers {
		t := columns[h]
		n := normalizeHeader(h)
		if n == "" {
			return &MappingError{Header: h, Target: t, Reason: "the header is empty"}
		}
		if prev, ok := normalized[n]; ok {
			return &MappingError{Header: h, Target: t, Reason: fmt.Sprintf("the header is the same as %q (case, spaces, - and _ do not count)", prev)}
		}
		normalized[n] = h
		if t == IgnoreColumn {
			continue
		}
		if _, ok := rosterAttributes[t]; !ok && !extensible(t) {
			return &MappingError{Header: h, Target: t, Reason: fmt.Sprintf("unknown target %q (want %s, custom.<name>, relation.<name> or %s)",
				t, strings.Join(Targets(), ", "), IgnoreColumn)}
		}
		if prev, ok := targets[t]; ok {
			return &MappingError{Header: h, Target: t, Reason: fmt.Sprintf("%s is already mapped from %q", t, prev)}
		}
		targets[t] = h
	}
	return nil
}

// ParseImport is Parse that also says how each column of the header row
// mapped (for an import's review). The columns are nil when the file has
// no header row or the options are unusable.
func ParseImport(name string, data []byte, opt ParseOptions) (reconcile.Snapshot, []HeaderColumn, error) {
	if max := opt.Limits.withDefaults().MaxFileSize; int64(len(data)) > max {
		return reconcile.Snapshot{}, nil, fileTooLarge(opt.Feed, name, int64(len(data)), max)
	}
	hint := min(bytes.Count(data, []byte{'\n'}), len(data)/8, 1<<24)
	snap, cols, err := parseRosterHeader(name, bytes.NewReader(data), opt, hint)
	return snap, slices.Clone(cols), err
}

// ImportSnapshotFeed is ImportFeed over a file parsed already (ParseImport):
// its run reads snap, or fails with parseErr when that is not nil.
func ImportSnapshotFeed(tenant string, snap reconcile.Snapshot, parseErr error, opt ImportOptions, limits reconcile.Limits) reconcile.Feed {
	f := ImportFeed(tenant, snap.Name, nil, opt, limits)
	f.Fetch = func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
		return snap, nil, parseErr
	}
	return f
}
