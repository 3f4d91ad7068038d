// Package retry holds the backoff that rosterd's outbound workers (the
// email outbox and the webhook dispatcher) share.
package retry

import "time"

// Backoff is the wait after the n-th failed attempt (n ≥ 1): first doubled
// n-1 times, at most max, shortened by up to a fifth by jitter (a number in
// [0, 1)) so that workers failing together do not retry together.
func Backoff(n int, first, max time.Duration, jitter float64) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(float64(d)*0.2*jitter)
}
