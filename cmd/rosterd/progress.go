package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// progress is what rosterd import and rosterd sync run show on a terminal
// while they work: a line for each phase of the run (reading the source,
// planning, applying), drawn again in place as it goes with a bar, the
// rate and the time left, and left once the phase is done with how many
// in how long. Not on a terminal (a log file, a pipe) it shows nothing:
// it is nil, and its methods do nothing.
func progress(w io.Writer) *progressLine {
	if !daemon.IsTerminal(w) {
		return nil
	}
	return &progressLine{w: w, now: time.Now}
}

// report is what a run tells (RunOptions.Progress); nil for no line.
func (p *progressLine) report() func(phase reconcile.Phase, done, total int) {
	if p == nil {
		return nil
	}
	return p.tell
}

// end ends a line the run left unfinished (a source with nothing new, a
// run that failed), so that what is printed next starts a line of its own.
func (p *progressLine) end() {
	if p != nil && p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// redrawEvery bounds how often a phase's line is drawn again.
const redrawEvery = 100 * time.Millisecond

// progressLine draws the phases of one run, one line each.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	phase reconcile.Phase
	start time.Time
	drawn time.Time // when the line was last drawn; zero: not since the phase began
	open  bool      // a line is drawn and not yet ended
}

func (p *progressLine) tell(phase reconcile.Phase, done, total int) {
	now := p.now()
	if phase != p.phase {
		if p.open {
			fmt.Fprintln(p.w) // the phase before ended without saying so (a failed run)
		}
		p.phase, p.start, p.drawn, p.open = phase, now, time.Time{}, false
	}
	// Reading has no total until the source is read: 0 of 0 is its start.
	finished := done >= total && (total > 0 || phase != reconcile.Reading)
	if !finished && !p.drawn.IsZero() && now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.drawn = now
	elapsed := now.Sub(p.start)
	switch {
	case finished:
		fmt.Fprintf(p.w, "\r%s %s in %s%s\x1b[K\n", phase, thousands(total), seconds(elapsed), rate(total, elapsed))
		p.phase, p.open = "", false
	case total == 0:
		fmt.Fprintf(p.w, "\r%s…\x1b[K", phase)
		p.open = true
	default:
		const width = 30
		filled := width * done / total
		fmt.Fprintf(p.w, "\r%s [%s%s] %s/%s%s%s\x1b[K", phase, strings.Repeat("#", filled), strings.Repeat(".", width-filled),
			thousands(done), thousands(total), rate(done, elapsed), left(done, total, elapsed))
		p.open = true
	}
}

// rate is " (n/s)" of n done in d, or nothing before there is one.
func rate(n int, d time.Duration) string {
	if n == 0 || d < 10*time.Millisecond {
		return ""
	}
	return " (" + thousands(int(float64(n)/d.Seconds())) + "/s)"
}

// left is " · T left" at the rate so far, or nothing before there is one.
func left(done, total int, d time.Duration) string {
	if done == 0 || d < 10*time.Millisecond {
		return ""
	}
	rest := time.Duration(float64(d) * float64(total-done) / float64(done)).Round(time.Second)
	switch {
	case rest < time.Second:
		return " · <1 s left"
	case rest < time.Minute:
		return fmt.Sprintf(" · %d s left", int(rest.Seconds()))
	}
	return " · " + seconds(rest) + " left"
}

// seconds is d as people read it: "0.4 s", "12.3 s", "2 min 5 s".
func seconds(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
}

// thousands is n with a comma every three digits: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
