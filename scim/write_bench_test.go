package scim_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkSCIMWrite: what an IdP's push costs rosterd per request, over
// real HTTP on each backend, one request at a time: POST /Users (a new
// person), PATCH active (Entra ID's deactivate and reactivate), and GET
// /Users?filter=userName eq and emails[type eq "work"].value eq (the
// lookups before each POST, by Entra ID's two usual matching attributes). cpu-ns/op is
// the CPU time of this process (server and client; on PostgreSQL not the
// database's) per request, which the machine's load moves much less than
// ns/op.
//
//	go test -run '^$' -bench SCIMWrite -count 5 ./scim/
func BenchmarkSCIMWrite(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			e := newEnv(b, storetest.Migrated(b, be.Open))
			n := 0
			post := func() string {
				n++
				name := fmt.Sprintf("user%07d@example.com", n)
				r := e.entra("POST", "/Users", user(name, "Given", fmt.Sprint(n), map[string]any{"displayName": "Given " + fmt.Sprint(n),
					"externalId": fmt.Sprintf("X%07d", n)}))
				if r.Status != 201 {
					b.Fatalf("POST /Users: %d %s", r.Status, r.Raw)
				}
				return r.str("id")
			}
			b.Run("post", func(b *testing.B) {
				measure(b, func() { post() })
			})
			id := post()
			b.Run("patch-active", func(b *testing.B) {
				active := false
				measure(b, func() {
					r := e.entra("PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": active}))
					if r.Status != 200 && r.Status != 204 {
						b.Fatalf("PATCH active: %d %s", r.Status, r.Raw)
					}
					active = !active
				})
			})
			b.Run("get-filter", func(b *testing.B) {
				i := 0
				measure(b, func() {
					i++
					r := e.entra("GET", "/Users?filter="+queryEscape(fmt.Sprintf(`userName eq "nobody%07d@example.com"`, i)), nil)
					if r.Status != 200 || r.str("totalResults") != "0" {
						b.Fatalf("GET ?filter: %d %s", r.Status, r.Raw)
					}
				})
			})
			b.Run("get-email", func(b *testing.B) {
				i := 0
				measure(b, func() {
					i++
					f := fmt.Sprintf(`emails[type eq "work"].value eq "nobody%07d@example.com"`, i)
					r := e.entra("GET", "/Users?filter="+queryEscape(f), nil)
					if r.Status != 200 || r.str("totalResults") != "0" {
						b.Fatalf("GET ?filter: %d %s", r.Status, r.Raw)
					}
				})
			})
		})
	}
}

// measure runs op b.N times and reports this process's CPU time per op.
func measure(b *testing.B, op func()) {
	b.Helper()
	before := cpuTime(b)
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
