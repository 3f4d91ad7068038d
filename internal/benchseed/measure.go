package benchseed

import (
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// Size is the number of cards a benchmark seeds: BENCH_CARDS when it is a
// positive number, def otherwise.
func Size(def int) int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_CARDS")); err == nil && v > 0 {
		return v
	}
	return def
}

// HeapPeak samples the Go heap in use every interval, after a GC, until
// the returned stop is called; stop returns the highest HeapInuse seen.
func HeapPeak(interval time.Duration) (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
