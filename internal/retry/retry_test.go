package retry

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, time.Minute},
		{2, 0, 2 * time.Minute},
		{4, 0, 8 * time.Minute},
		{7, 0, time.Hour}, // 64m capped
		{1000, 0, time.Hour},
		{1, 0.5, 54 * time.Second}, // a tenth off
		{3, 0.999999, 192*time.Second + 48*time.Microsecond},
	} {
		if got := Backoff(tc.n, time.Minute, time.Hour, tc.jitter); got != tc.want {
			t.Errorf("Backoff(%d, 1m, 1h, %v) = %v, want %v", tc.n, tc.jitter, got, tc.want)
		}
	}
}
