package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/sync/reconcile"
)

// TestProgressLine: each phase of a run gets a line, drawn again in
// place with its bar, rate and time left, at most every 100 ms, and
// left with how many in how long once the phase is done.
func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	p := &progressLine{w: &out, now: func() time.Time { return clock }}
	step := func(d time.Duration, phase reconcile.Phase, done, total int) string {
		t.Helper()
		clock = clock.Add(d)
		out.Reset()
		p.tell(phase, done, total)
		return out.String()
	}
	for _, c := range []struct {
		d           time.Duration
		phase       reconcile.Phase
		done, total int
		want        string
	}{
		{0, reconcile.Reading, 0, 0, "\rreading…\x1b[K"},
		{50 * time.Millisecond, reconcile.Reading, 0, 0, ""}, // the admin's and the runner's start: drawn once
		{1950 * time.Millisecond, reconcile.Reading, 1_000_000, 1_000_000, "\rreading 1,000,000 in 2.0 s (500,000/s)\x1b[K\n"},
		{0, reconcile.Planning, 0, 4000, "\rplanning [..............................] 0/4,000\x1b[K"},
		{2 * time.Second, reconcile.Planning, 2000, 4000, "\rplanning [###############...............] 2,000/4,000 (1,000/s) · 2 s left\x1b[K"},
		{50 * time.Millisecond, reconcile.Planning, 2050, 4000, ""}, // within 100 ms of the last
		{1900 * time.Millisecond, reconcile.Planning, 3900, 4000, "\rplanning [#############################.] 3,900/4,000 (987/s) · <1 s left\x1b[K"},
		{50 * time.Millisecond, reconcile.Planning, 4000, 4000, "\rplanning 4,000 in 4.0 s (1,000/s)\x1b[K\n"},
		{0, reconcile.Applying, 0, 0, "\rapplying 0 in 0.0 s\x1b[K\n"}, // nothing to apply
		{0, reconcile.Applying, 0, 1_200_000, "\rapplying [..............................] 0/1,200,000\x1b[K"},
		{75 * time.Second, reconcile.Applying, 1_000_000, 1_200_000, "\rapplying [#########################.....] 1,000,000/1,200,000 (13,333/s) · 15 s left\x1b[K"},
		{time.Second, reconcile.Planning, 10, 20, "\n\rplanning [###############...............] 10/20\x1b[K"}, // a new phase ends the unfinished line
	} {
		if got := step(c.d, c.phase, c.done, c.total); got != c.want {
			t.Errorf("%s %d/%d after %v:\n got %q\nwant %q", c.phase, c.done, c.total, c.d, got, c.want)
		}
	}
	// The run ends with the planning line unfinished (it failed): end
	// ends it, once.
	out.Reset()
	p.end()
	p.end()
	if out.String() != "\n" {
		t.Errorf("end wrote %q, want one newline", out.String())
	}
	var none *progressLine // not a terminal
	if none.report() != nil {
		t.Error("no line reports")
	}
	none.end()
	if got := seconds(125 * time.Second); got != "2 min 5 s" {
		t.Errorf("seconds(125 s) = %q", got)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 123456789: "123,456,789", -4200: "-4,200"} {
		if got := thousands(n); got != want || strings.Count(got, ",") != strings.Count(want, ",") {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
