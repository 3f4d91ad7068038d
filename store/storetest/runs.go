package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

func testRuns(t *testing.T, s store.Backend) {
	ctx := context.Background()
	r := store.Run{ID: "r1", Tenant: "acme", Feed: "hr", Kind: "file", Status: store.RunHeld, Trigger: "schedule", Actor: "file:hr",
		Started: t0, FileName: "employees.csv", FileSize: 1234, FileHash: "abc", Counts: map[string]int{"create": 3, "withdraw": 40},
		Flagged: []byte(`[{"line":"employees.csv:7","reason":"invalid email"}]`), HoldReasons: []string{"would disable 40 of 43 (93%)"},
		Plan: []byte{0x1f, 0x8b, 0, 1, 2}, Fingerprint: "3:99:1"}
	if err := s.PutRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, "acme", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.RunHeld || got.Counts["withdraw"] != 40 || string(got.Plan) != string(r.Plan) || got.HoldReasons[0] != r.HoldReasons[0] ||
		string(got.Flagged) != string(r.Flagged) || !got.Started.Equal(t0) || !got.Finished.IsZero() || got.Fingerprint != "3:99:1" {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := s.GetRun(ctx, "globex", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's run: %v", err)
	}
	// An update without a plan keeps the stored one.
	r.Status, r.Finished, r.Plan = store.RunApplied, t0.Add(time.Minute), nil
	if err := s.PutRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRun(ctx, "acme", "r1")
	if got.Status != store.RunApplied || len(got.Plan) != 5 || !got.Finished.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after update: %+v", got)
	}
	for i := 2; i <= 5; i++ {
		feed := "hr"
		if i%2 == 0 {
			feed = "corp"
		}
		if err := s.PutRun(ctx, store.Run{ID: fmt.Sprintf("r%d", i), Tenant: "acme", Feed: feed, Kind: "file", Status: store.RunSkipped, Started: t0}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListRuns(ctx, store.RunQuery{Tenant: "acme", Feed: "hr", Limit: 10})
	if err != nil || len(list) != 3 || list[0].ID != "r5" || list[2].ID != "r1" || list[0].Plan != nil {
		t.Fatalf("ListRuns hr: %v, %v", list, err)
	}
	page, _ := s.ListRuns(ctx, store.RunQuery{Tenant: "acme", Before: "r4", Limit: 2})
	if len(page) != 2 || page[0].ID != "r3" || page[1].ID != "r2" {
		t.Fatalf("ListRuns before r4: %v", page)
	}
	if only, err := s.ListRuns(ctx, store.RunQuery{Tenant: "acme", Statuses: []string{store.RunApplied, store.RunApplying}}); err != nil || len(only) != 1 || only[0].ID != "r1" {
		t.Fatalf("ListRuns applied or applying: %v, %v", only, err)
	}
	last, err := s.LastRun(ctx, "acme", "hr", store.RunApplied)
	if err != nil || last.ID != "r1" {
		t.Fatalf("LastRun applied: %+v, %v", last, err)
	}
	if last, _ := s.LastRun(ctx, "acme", "hr"); last.ID != "r5" {
		t.Fatalf("LastRun any: %+v", last)
	}
	if _, err := s.LastRun(ctx, "acme", "ldap"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LastRun of a feed without runs: %v", err)
	}
}

func testSourceClaimsAndFingerprint(t *testing.T, s store.Backend) {
	ctx := context.Background()
	var cards []store.Card
	var claims []store.Claim
	for i := range 30 {
		id := fmt.Sprintf("c%02d", i)
		cards = append(cards, card("acme", id, fmt.Sprintf("u%02d@example.com", i)))
		source := "file:hr"
		if i%3 == 0 {
			source = "scim:okta"
		}
		claims = append(claims, claim(id, source, fmt.Sprintf("E%02d", i), store.Present))
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Cards: cards, Claims: claims}) }); err != nil {
		t.Fatal(err)
	}
	before, err := s.SourceFingerprint(ctx, "acme", "file:hr")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	var first store.Claim
	if err := s.SourceClaims(ctx, "acme", "file:hr", func(c store.Claim) error {
		seen = append(seen, c.CardID)
		if c.CardID == "c01" {
			first = c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if len(seen) != 20 || seen[0] != "c01" || seen[19] != "c29" {
		t.Fatalf("SourceClaims: %v", seen)
	}
	want := claim("c01", "file:hr", "E01", store.Present)
	if first.Tenant != "acme" || first.Source != "file:hr" || first.ExternalID != want.ExternalID || first.Email != want.Email ||
		first.State != store.Present || first.Authoritative != want.Authoritative || !reflect.DeepEqual(first.Attributes, want.Attributes) {
		t.Fatalf("SourceClaims gave %+v, want the fields a plan compares of %+v", first, want)
	}
	stop := errors.New("stop")
	if err := s.SourceClaims(ctx, "acme", "file:hr", func(store.Claim) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("SourceClaims passes fn's error on: %v", err)
	}
	changed := claim("c01", "file:hr", "E01", store.Withdrawn)
	changed.LastSeen = t0.Add(time.Second)
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Claims: []store.Claim{changed}}) }); err != nil {
		t.Fatal(err)
	}
	after, _ := s.SourceFingerprint(ctx, "acme", "file:hr")
	other, _ := s.SourceFingerprint(ctx, "acme", "scim:okta")
	if after == before || other == before {
		t.Fatalf("fingerprints: before %s, after %s, other source %s", before, after, other)
	}
}

func testSlotsAndLocks(t *testing.T, s store.Backend) {
	ctx := context.Background()
	due := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	won := make(chan bool, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimSlot(ctx, "acme", "hr", due)
			if err != nil {
				t.Error(err)
			}
			won <- ok
		}()
	}
	wg.Wait()
	close(won)
	n := 0
	for ok := range won {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d claimers won one slot", n)
	}
	if ok, _ := s.ClaimSlot(ctx, "acme", "hr", due.Add(time.Hour)); !ok {
		t.Fatal("the next slot is free")
	}

	release, ok, err := s.TryLock(ctx, "feed:acme/hr")
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v, %v", ok, err)
	}
	if _, ok, _ := s.TryLock(ctx, "feed:acme/hr"); ok {
		t.Fatal("a held lock was taken twice")
	}
	other, ok, _ := s.TryLock(ctx, "feed:acme/corp")
	if !ok {
		t.Fatal("another lock name is free")
	}
	other()
	release()
	again, ok, _ := s.TryLock(ctx, "feed:acme/hr")
	if !ok {
		t.Fatal("a released lock is free again")
	}
	again()
}
