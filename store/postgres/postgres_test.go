package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return storetest.OpenPostgres(t) })
}

// Sessions run with sequential scans off, so that PostgreSQL's cached
// plans never scan a table an index serves; a DSN may turn them back on.
func TestSessionSettings(t *testing.T) {
	show := func(dsn string) string {
		t.Helper()
		s, err := postgres.Open(dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var v string
		if err := s.SQL.QueryRowContext(context.Background(), "SHOW enable_seqscan").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	dsn := pgtest.DSN(t)
	if v := show(dsn); v != "off" {
		t.Fatalf("enable_seqscan = %s, want off", v)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if v := show(dsn + sep + "enable_seqscan=on"); v != "on" {
		t.Fatalf("with enable_seqscan=on in the DSN: %s", v)
	}
}

// card_counts holds deltas on PostgreSQL (migration 00047): concurrent
// writers of one tenant add rows without waiting on each other, and
// CountCards folds a tenant's rows into one per bucket once they pile up.
func TestCardCountsConcurrentWritersAndCompaction(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 80
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%03d", w, i)
				c := store.Card{ID: id, Tenant: "acme", Email: id + "@example.com", EmailNorm: id + "@example.com",
					Enabled: i%4 != 0, CreatedAt: time.Now(), UpdatedAt: time.Now(), Version: 1}
				if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Cards: []store.Card{c}}) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a concurrent write: %v", err)
	}
	rows := func() (n int) {
		t.Helper()
		if err := s.SQL.QueryRowContext(ctx, `SELECT count(*) FROM card_counts WHERE tenant = 'acme'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != writers*each {
		t.Fatalf("card_counts holds %d rows after %d single-card writes, want one delta each", n, writers*each)
	}
	want := store.CardCounts{Disabled: writers * each / 4, NeverInvited: writers * each * 3 / 4}
	for range 2 { // the first read compacts, the second reads the sums
		got, err := s.CountCards(ctx, "acme", time.Now())
		if err != nil || got != want {
			t.Fatalf("CountCards = %+v, %v; want %+v", got, err, want)
		}
	}
	if n := rows(); n != 2 {
		t.Fatalf("card_counts holds %d rows after a read, want one per bucket (2)", n)
	}
}
