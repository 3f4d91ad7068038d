package filefeed

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/rosterd/rosterd/sync/reconcile"
)

// benchRoster is a 1,000,000-row, 15-column roster in memory (about
// 250 MB): what BenchmarkParse1M and its encoding/csv baseline read.
var benchRoster = sync.OnceValue(func() []byte {
	const rows = 1_000_000
	var b bytes.Buffer
	b.Grow(rows * 260)
	b.WriteString("Email,First Name,Last Name,Display Name,Job Title,Department,Location,Employee ID," +
		"Manager Email,Role,Groups,Status,Cost Center,Phone,Start Date\r\n")
	depts := []string{"Sales", "Engineering", "Finance", "People", "Support"}
	for i := range rows {
		d := depts[i%len(depts)]
		status := "Active"
		if i%50 == 0 {
			status = "Terminated"
		}
		fmt.Fprintf(&b, "Person.%07d@Example.com,First%d,Last%d,\"Last%d, First%d\",Senior %s Specialist,%s,Building %d,%07d,"+
			"manager.%05d@example.com,member,\"%s;All Staff\",%s,CC-%04d,+49 30 %08d,2019-%02d-%02d\r\n",
			i, i, i, i, i, d, d, i%40, i, i/100, d, status, i%700, i, 1+i%12, 1+i%28)
	}
	return b.Bytes()
})

// benchOptions raise MaxFileSize over the roster's 226 MB (the default,
// 200 MiB, would refuse it).
var benchOptions = ParseOptions{Feed: "bench", Columns: map[string]string{"Cost Center": "custom.cost_center"},
	Limits: Limits{MaxFileSize: 512 << 20}}

// BenchmarkParse1M parses the million-row roster; compare its time with
// BenchmarkParse1MEncodingCSV's, which only splits the same bytes into
// fields.
func BenchmarkParse1M(b *testing.B) {
	benchmarkParse1M(b, func(data []byte) (reconcile.Snapshot, error) {
		return Parse("roster.csv", data, benchOptions)
	})
}

// BenchmarkParseReader1M is the streaming path, which cannot size its
// record slice and key index up front.
func BenchmarkParseReader1M(b *testing.B) {
	benchmarkParse1M(b, func(data []byte) (reconcile.Snapshot, error) {
		return ParseReader("roster.csv", bytes.NewReader(data), benchOptions)
	})
}

func benchmarkParse1M(b *testing.B, parse func([]byte) (reconcile.Snapshot, error)) {
	data := benchRoster()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	runs := 0
	for b.Loop() {
		snap, err := parse(data)
		if err != nil || len(snap.Records) != 1_000_000 {
			b.Fatalf("%d records, %v", len(snap.Records), err)
		}
		runs++
		if runs == 1 {
			// What the snapshot of a million people keeps alive.
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc-min(base, ms.HeapAlloc))/(1<<20), "MB-snapshot")
		}
		runtime.KeepAlive(snap)
	}
	b.ReportMetric(float64(runs)*1_000_000/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkParse1MEncodingCSV is the baseline: encoding/csv reading the
// same bytes, every record, nothing kept.
func BenchmarkParse1MEncodingCSV(b *testing.B) {
	data := benchRoster()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runs := 0
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1_000_001 {
			b.Fatalf("%d records", n)
		}
		runs++
	}
	b.ReportMetric(float64(runs)*1_000_000/b.Elapsed().Seconds(), "rows/s")
}
