package admin

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/benchseed"
	"github.com/rosterd/rosterd/store/storetest"
)

// BenchmarkExportXLSX: GET …/cards/export.xlsx of every card of a tenant
// (1,000,000 by default, BENCH_CARDS to change) on PostgreSQL, read to
// the end by the client, with the Go heap in use sampled every 10 ms
// while the request runs (server and client share this process, so the
// peak is both). The file is checked to be a whole workbook (its zip
// directory at the end).
//
//	go test -run '^$' -bench ExportXLSX -benchtime 1x -timeout 60m ./admin/
func BenchmarkExportXLSX(b *testing.B) {
	n := benchseed.Size(1_000_000)
	for range b.N {
		b.StopTimer()
		st := storetest.Migrated(b, storetest.OpenPostgres)
		e := newEnv(&testing.T{}, st)
		seeded := time.Now()
		benchseed.Cards(b, e.dir, "acme", n, func(i int) directory.Attributes {
			return directory.Attributes{GivenName: "Given", FamilyName: fmt.Sprint(i), Department: "R&D", Location: "Berlin",
				Title: "Engineer", EmployeeID: fmt.Sprintf("%07d", i)}
		})
		b.Logf("seeded %d cards in %s", n, time.Since(seeded).Round(time.Second))

		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stopPeak := benchseed.HeapPeak(10 * time.Millisecond)
		req, _ := http.NewRequest("GET", e.url+acme+"/cards/export.xlsx", nil)
		req.Header.Set("Authorization", "Bearer "+roKey)
		b.StartTimer()
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		tail := &tailWriter{}
		size, err := io.Copy(tail, res.Body)
		res.Body.Close()
		d := time.Since(start)
		b.StopTimer()
		peak := stopPeak()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("export.xlsx: %d, %d bytes, %v", res.StatusCode, size, err)
		}
		// A zip ends with its end-of-central-directory record.
		if !tail.endsWithZipDirectory() {
			b.Fatalf("export.xlsx of %d bytes does not end as a zip file", size)
		}
		b.ReportMetric(d.Seconds(), "s(export)")
		b.ReportMetric(float64(n)/d.Seconds(), "cards/s")
		b.ReportMetric(float64(size)/(1<<20), "MiB(file)")
		b.ReportMetric(float64(peak)/(1<<20), "MiB(peak-heap-inuse)")
		b.ReportMetric(float64(base.HeapInuse)/(1<<20), "MiB(heap-inuse-before)")
	}
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct{ last []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.last = append(t.last, p...)
	if len(t.last) > 64 {
		t.last = append(t.last[:0], t.last[len(t.last)-64:]...)
	}
	return len(p), nil
}

// endsWithZipDirectory: the end-of-central-directory signature PK\x05\x06
// is 22 bytes from the end (the export writes no zip comment).
func (t *tailWriter) endsWithZipDirectory() bool {
	l := t.last
	return len(l) >= 22 && string(l[len(l)-22:len(l)-18]) == "PK\x05\x06"
}
