package reconcile

import "fmt"

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
// anyone is disabled.
func Hold(p Plan, lim Limits, lastApplied int) []string {
	var reasons []string
	disables := p.Counts["disable"]
	if p.FullRoster && p.Records == 0 && p.Present > 0 {
		reasons = append(reasons, fmt.Sprintf("the snapshot is empty, and the source lists %d people now", p.Present))
	}
	if disables > 0 && p.Present > 0 {
		pct := 100 * float64(disables) / float64(p.Present)
		if pct > lim.MaxDisablePercent {
			reasons = append(reasons, fmt.Sprintf("it would disable %d of the %d people the source lists (%.1f%%), more than max_disable_percent %g%%",
				disables, p.Present, pct, lim.MaxDisablePercent))
		}
	}
	if disables > lim.MaxDisableCount {
		reasons = append(reasons, fmt.Sprintf("it would disable %d people, more than max_disable_count %d", disables, lim.MaxDisableCount))
	}
	if p.FullRoster && lastApplied > 0 && float64(p.Records) < lim.MinSnapshotRatio*float64(lastApplied) {
		reasons = append(reasons, fmt.Sprintf("the snapshot has %d records, under %g of the last applied one (%d)", p.Records, lim.MinSnapshotRatio, lastApplied))
	}
	return reasons
}
