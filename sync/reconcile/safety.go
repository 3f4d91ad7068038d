package reconcile

import (
	"fmt"
	"strings"
)

// Limits is a tenant's safety brake (config tenants[].safety).
type Limits struct {
	// MaxDisablePercent of the people the source listed as present.
	MaxDisablePercent float64
	MaxDisableCount   int
	// MinSnapshotRatio: a snapshot smaller than this share of the last
	// applied one looks truncated.
	MinSnapshotRatio float64
}

// Hold returns why a plan must wait for an admin, or nothing. lastApplied
// is the record count of the source's last applied snapshot (0: none).
//
// A failed or partial read never gets this far (the run fails), but a file
// that is complete and wrong — a truncated export, the wrong filter, an
// empty sheet — reads fine: these are the checks that catch it before
// anyone is disabled. So is a file with rows that name nobody (Flag's
// Unreadable): while it has any, it does not withdraw anyone unasked.
func Hold(p Plan, lim Limits, lastApplied int) []string {
	var reasons []string
	disables := p.Counts["disable"]
	if p.FullRoster && p.Records == 0 && p.Present > 0 {
		reasons = append(reasons, fmt.Sprintf("the snapshot is empty, and the source lists %d people now", p.Present))
	}
	if disables > 0 && p.Present > 0 {
		pct := 100 * float64(disables) / float64(p.Present)
		if pct > lim.MaxDisablePercent {
			who := p.PresentAre
			if who == "" {
				who = "people the source lists"
			}
			reasons = append(reasons, fmt.Sprintf("it would disable %d of the %d %s (%.1f%%), more than max_disable_percent %g%%",
				disables, p.Present, who, pct, lim.MaxDisablePercent))
		}
	}
	if disables > lim.MaxDisableCount {
		reasons = append(reasons, fmt.Sprintf("it would disable %d people, more than max_disable_count %d", disables, lim.MaxDisableCount))
	}
	// A row that cannot be read may be any of the people the plan
	// withdraws: the file does not say they left, it says nothing legible.
	if w := p.Counts[string(Withdraw)]; w > 0 {
		if lines := unreadableLines(p.Flagged); len(lines) > 0 {
			who := fmt.Sprintf("any of the %d people", w)
			if w == 1 {
				who = "the one person"
			}
			reasons = append(reasons, fmt.Sprintf("%s not be read (%s) and may list %s it would withdraw",
				plural(len(lines), "row could", "rows could"), listLines(lines), who))
		}
	}
	if p.FullRoster && lastApplied > 0 && float64(p.Records) < lim.MinSnapshotRatio*float64(lastApplied) {
		reasons = append(reasons, fmt.Sprintf("the snapshot has %d records, under %g of the last applied one (%d)", p.Records, lim.MinSnapshotRatio, lastApplied))
	}
	return reasons
}

func unreadableLines(flagged []Flag) []string {
	var lines []string
	for _, f := range flagged {
		if f.Unreadable() && !slicesContainsLast(lines, f.Line) {
			lines = append(lines, f.Line)
		}
	}
	return lines
}

// slicesContainsLast: a row flagged twice is listed once (its flags are
// next to each other).
func slicesContainsLast(lines []string, line string) bool {
	return len(lines) > 0 && lines[len(lines)-1] == line
}

// listLines names up to ten lines, then how many more.
func listLines(lines []string) string {
	const show = 10
	if len(lines) <= show {
		return strings.Join(lines, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(lines[:show], ", "), len(lines)-show)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
