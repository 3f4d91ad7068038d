package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("168h",
// "90s", "1h30m") or with a leading day count ("7d", "1d12h"), because
// retention and invite lifetimes are thought of in days.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in a form UnmarshalText reads back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "168h", "7d", "1d12h", "-5m" and "0".
func (d *Duration) UnmarshalText(text []byte) error {
	parsed, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(parsed)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	invalid := func(why string) error {
		return fmt.Errorf("invalid duration %q: %s (write e.g. 90s, 24h or 7d)", s, why)
	}
	rest, negative := strings.CutPrefix(strings.TrimSpace(s), "-")
	var days int64
	hasDays := false
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n < 0 {
			return 0, invalid("days must be a whole number")
		}
		if n > math.MaxInt64/int64(24*time.Hour) {
			return 0, invalid("too long")
		}
		days, rest, hasDays = n, rest[i+1:], true
	}
	var d time.Duration
	switch {
	case rest == "" && hasDays:
	case rest == "":
		return 0, invalid("empty")
	case strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+"):
		return 0, invalid("misplaced sign")
	default:
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, invalid("expected a number with a unit")
		}
	}
	total := time.Duration(days)*24*time.Hour + d
	if total < d {
		return 0, invalid("too long")
	}
	if negative {
		total = -total
	}
	return total, nil
}
