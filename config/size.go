package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes, written as a whole number of bytes (1048576)
// or with a unit: B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers
// of 1000), with or without a space ("200MiB", "64 KiB").
type Size int64

// String writes s with the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range sizeUnits[:3] {
		if s >= Size(u.size) && s%Size(u.size) == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// MarshalText writes s in a form UnmarshalText reads back.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var sizeUnits = []struct {
	unit string
	size int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

// UnmarshalText reads "200MiB", "64 KiB", "1GB", "4096".
func (s *Size) UnmarshalText(text []byte) error {
	raw := strings.TrimSpace(string(text))
	num, mult := raw, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(raw, u.unit); ok {
			num, mult = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q: write a whole number of bytes or one with a unit, e.g. 200MiB or 64KiB", raw)
	}
	if n > math.MaxInt64/mult {
		return fmt.Errorf("invalid size %q: too large", raw)
	}
	*s = Size(n * mult)
	return nil
}
