package admin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/filefeed"
)

// BenchmarkImportReview50k: the review (dry run) of a 50,000-row import
// over HTTP on the embedded default, SQLite: upload, parse, map (a mapped,
// a custom and an ignored column), plan, the directory's preview of
// 50,000 creates, the stored review, and the answer read to its end. The
// raw floor beside it is the parse alone of the same bytes, in the same
// run. cpu-s(review) is the process's CPU time during the review (user and
// system, both cores), which the machine's other load does not inflate.
//
//	go test -run '^$' -bench ImportReview50k -benchtime 3x ./admin/
func BenchmarkImportReview50k(b *testing.B) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	var file bytes.Buffer
	file.WriteString("Email,First Name,Last Name,Job Title,Department,Office Location,Cost Center,Shoe Size\r\n")
	depts := []string{"Sales", "Engineering", "Finance", "People", "Support"}
	for i := range n {
		fmt.Fprintf(&file, "person.%06d@example.com,First%d,Last%d,Specialist,%s,Building %d,CC-%04d,%d\r\n",
			i, i, i, depts[i%len(depts)], i%40, i%700, 36+i%12)
	}
	columns := `{"Office Location": "location", "Cost Center": "custom.cost_center"}`
	st := storetest.Migrated(b, storetest.OpenSQLite)
	e := newEnv(&testing.T{}, st)
	var parse, parseCPU, review, reviewCPU time.Duration
	var bodyBytes int64
	for range b.N {
		b.StopTimer()
		body := upload("people.csv", file.Bytes(), map[string]string{"dry_run": "true", "columns": columns})
		pcpu := processCPU()
		start := time.Now()
		snap, cols, err := filefeed.ParseImport("people.csv", file.Bytes(), filefeed.ParseOptions{Feed: "import",
			Columns: map[string]string{"Office Location": "location", "Cost Center": "custom.cost_center"}})
		parse += time.Since(start)
		parseCPU += processCPU() - pcpu
		if err != nil || len(snap.Records) != n || len(cols) != 8 {
			b.Fatalf("parse: %d records, %d columns, %v", len(snap.Records), len(cols), err)
		}
		b.StartTimer()
		cpu0 := processCPU()
		start = time.Now()
		req, _ := http.NewRequest("POST", e.url+acme+"/imports", &body.buf)
		req.Header.Set("Authorization", "Bearer "+rwKey)
		req.Header.Set("Content-Type", body.contentType)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		bodyBytes, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		review += time.Since(start)
		reviewCPU += processCPU() - cpu0
		b.StopTimer()
		if res.StatusCode != http.StatusCreated {
			b.Fatalf("review: %d", res.StatusCode)
		}
		b.StartTimer()
	}
	b.ReportMetric(review.Seconds()/float64(b.N), "s(review)")
	b.ReportMetric(reviewCPU.Seconds()/float64(b.N), "cpu-s(review)")
	b.ReportMetric(parse.Seconds()/float64(b.N), "s(parse)")
	b.ReportMetric(parseCPU.Seconds()/float64(b.N), "cpu-s(parse)")
	b.ReportMetric(review.Seconds()/parse.Seconds(), "review/parse")
	b.Logf("%d rows, %d bytes; the review answered %d bytes", n, file.Len(), bodyBytes)
}

// processCPU is the CPU time (user and system) the process used so far:
// the review's server, its SQLite and the client are all in it, so this is
// the review's cost whatever else the machine runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
