package saml

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkACSValidation measures what the ACS does to every response
// before the store: XML checks, the RSA-2048 (SHA-256) signature of the
// assertion, and every condition. Parallel, as an ACS under load runs.
// Report: validations/s for the whole process (wall clock, so it falls
// when other work shares the machine), and CPU time per validation, which
// does not: 1/cpu-µs per op is what one free core sustains.
func BenchmarkACSValidation(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    respOpts
	}{
		{"signed-assertion", respOpts{}},
		{"signed-response-and-assertion", respOpts{signAssertion: true, signResponse: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := testValidator(b)
			raw := buildResponse(b, bc.o, fixNow)
			if _, err := v.Validate(raw, requestID); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Validate(raw, requestID); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
