package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted, an
// ascending slice, by the nearest-rank method: the smallest value such that
// at least p % of all values are ≤ it, i.e. sorted[ceil(p/100·n) − 1]. It is
// exact — every latency is kept, nothing is bucketed — and always one of the
// measured values. p ≤ 0 gives the minimum; an empty slice gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// The epsilon keeps 99 % of 100 values at rank 99, not 100, when the
	// product comes out as 99.00000000000001.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Result is what one scenario run measured.
type Result struct {
	Scenario    string           `json:"scenario"`
	Label       string           `json:"label,omitempty"`
	URL         string           `json:"url"`
	Concurrency int              `json:"concurrency"`
	Requests    int64            `json:"requests"` // completed: ok + errors
	OK          int64            `json:"ok"`
	Errors      map[string]int64 `json:"errors"` // by HTTP status, or "transport", "timeout", "bad-body"
	Elapsed     float64          `json:"elapsed_s"`
	Throughput  float64          `json:"throughput_rps"` // successful requests per second
	Latency     Latency          `json:"latency_ms"`     // of the successful requests
	ClientCPU   float64          `json:"client_cpu_s"`   // user+system CPU of this process during the run
	StopReason  string           `json:"stop"`           // "requests", "duration" or "signal"

	errorSamples map[string]string
}

// Latency holds exact percentiles in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// summarize computes the latency figures of lat, sorting it in place.
func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Latency{
		Min:  ms(lat[0]),
		Mean: ms(sum / time.Duration(len(lat))),
		P50:  ms(percentile(lat, 50)),
		P90:  ms(percentile(lat, 90)),
		P99:  ms(percentile(lat, 99)),
		Max:  ms(lat[len(lat)-1]),
	}
}

// Human is the one-line summary.
func (r *Result) Human() string {
	var b strings.Builder
	name := r.Scenario
	if r.Label != "" {
		name += " [" + r.Label + "]"
	}
	fmt.Fprintf(&b, "%s: %d requests at concurrency %d in %.2fs: %.0f req/s; %d ok, errors: %s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f (mean %.2f); client CPU %.1fs; stopped by %s",
		name, r.Requests, r.Concurrency, r.Elapsed, r.Throughput, r.OK, r.errorString(),
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.Mean, r.ClientCPU, r.StopReason)
	return b.String()
}

func (r *Result) errorString() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, r.Errors[k])
	}
	return strings.Join(parts, " ")
}

// JSON is the machine-readable line.
func (r *Result) JSON() string {
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}
