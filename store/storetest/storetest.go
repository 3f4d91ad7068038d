// Package storetest is the conformance suite every store backend passes, in
// the manner of Dex's storage/conformance: a backend's own test calls
// RunTests with a function that opens a fresh, empty, unmigrated store, and
// every subtest gets one of its own.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// NewStore opens a fresh, empty store that has not been migrated.
type NewStore func(t *testing.T) store.Backend

// RunTests runs the conformance suite.
func RunTests(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Backend)
	}{
		{"SchemaBehindUntilMigrated", testSchemaBehind},
		{"CardRoundTrip", testCardRoundTrip},
		{"DuplicateEmail", testDuplicateEmail},
		{"VersionConflict", testVersionConflict},
		{"ClaimsAndExternalIDs", testClaims},
		{"RollbackLeavesNothing", testRollback},
		{"ReadTxReadsOneSnapshotAndWaitsForNoWriter", testReadTx},
		{"BulkLookupsBeyondParameterLimit", testBulkLookups},
		{"ListCardsFilters", testListFilters},
		{"ListCardsPaging", testListPaging},
		{"CardCountsFollowWrites", testCardCountsFollowWrites},
		{"CustomAttributeNames", testCustomAttributeNames},
		{"AuditEventsOutbox", testAppendOnly},
		{"Credentials", testCredentials},
		{"ConcurrentUpdatesSerialize", testConcurrentUpdates},
		{"LargeWriteIsCutUp", testLargeWrite},
		{"ConflictInMixedWriteWritesNothing", testMixedWriteConflict},
		{"Runs", testRuns},
		{"ImportColumns", testImportColumns},
		{"EventFeed", testEventFeed},
		{"EventFeedConcurrentWriters", testEventFeedConcurrent},
		{"SourceClaimsAndFingerprint", testSourceClaimsAndFingerprint},
		{"SlotsAndLocks", testSlotsAndLocks},
		{"ClaimLoginAndRaw", testClaimLoginRaw},
		{"LoginUniqueAmongLiveClaims", testLoginUnique},
		{"Groups", testGroups},
		{"GroupQueries", testGroupQueries},
		{"Membership", testMembership},
		{"MemberDisplays", testMemberDisplays},
		{"LargeGroup", testLargeGroup},
		{"QueryClaims", testQueryClaims},
		{"ClaimFilters", testClaimFilters},
		{"EmailLookupFollowsWrites", testEmailLookupFollowsWrites},
		{"GroupFilters", testGroupFilters},
		{"SAMLReplayCache", testSAMLReplayCache},
		{"SAMLLoginCodes", testSAMLLoginCodes},
		{"SAMLKeyPairs", testSAMLKeyPairs},
		{"Outbox", testOutbox},
		{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
		{"Webhooks", testWebhooks},
		{"Tenants", testTenants},
		{"TenantFeeds", testTenantFeeds},
		{"SetupLinks", testSetupLinks},
		{"KeyUseAndDomains", testKeyUseAndDomains},
		{"ConsoleSessions", testConsoleSessions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			if tc.name != "SchemaBehindUntilMigrated" {
				if _, err := s.Migrate(context.Background()); err != nil {
					t.Fatalf("migrate: %v", err)
				}
			}
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 11, 20, 9, 30, 15, 123456000, time.UTC)

func card(tenant, id, email string) store.Card {
	return store.Card{ID: id, Tenant: tenant, Email: email, EmailNorm: strings.ToLower(email), Enabled: true,
		Reason: "enabled: listed by file:hr", CreatedAt: t0, UpdatedAt: t0, Version: 1}
}

func put(t *testing.T, s store.Store, cards ...store.Card) {
	t.Helper()
	err := s.InTx(context.Background(), func(tx store.Tx) error { return tx.Write(context.Background(), store.Changes{Cards: cards}) })
	if err != nil {
		t.Fatalf("PutCards: %v", err)
	}
}

func testSchemaBehind(t *testing.T, s store.Backend) {
	ctx := context.Background()
	err := s.CheckSchema(ctx)
	if !errors.Is(err, store.ErrSchemaBehind) || !strings.Contains(err.Error(), "rosterd migrate") {
		t.Fatalf("CheckSchema on an empty database = %v, want ErrSchemaBehind naming `rosterd migrate`", err)
	}
	if err := s.Ready(ctx); !errors.Is(err, store.ErrSchemaBehind) {
		t.Fatalf("Ready on an empty database = %v, want ErrSchemaBehind", err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate = %v, %v; want some versions applied", applied, err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready after Migrate: %v", err)
	}
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing to do", again, err)
	}
	cur, target, err := s.SchemaVersions(ctx)
	if err != nil || cur != target || cur != applied[len(applied)-1] {
		t.Fatalf("SchemaVersions = %d, %d, %v; want both %d", cur, target, err, applied[len(applied)-1])
	}
}

func testCardRoundTrip(t *testing.T, s store.Backend) {
	ctx := context.Background()
	full := card("acme", "c1", "Ann.Lee@Example.com")
	full.Attributes = store.Attributes{GivenName: "Ann", FamilyName: "Lee", DisplayName: "Ann Lee", Title: "Engineer",
		Department: "R&D", Location: "Berlin", EmployeeID: "000123", ManagerEmail: "boss@example.com", Role: "member",
		Groups: []string{"eng", "berlin"}, Custom: map[string]string{"cost_center": "42"}}
	full.Pin = &store.Pin{Actor: "admin:ops", Reason: "left", At: t0.Add(time.Hour)}
	full.Invite = &store.Invite{TokenHash: "abc123", SentAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(25 * time.Hour)}
	full.FirstLoginAt, full.LastLoginAt = t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	bare := card("acme", "c2", "bob@example.com")
	put(t, s, full, bare)

	got, err := s.GetCard(ctx, "acme", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, full) {
		t.Fatalf("round trip changed the card:\n got %+v\nwant %+v", got, full)
	}
	got, err = s.GetCard(ctx, "acme", "c2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Pin != nil || got.Invite != nil || got.Attributes.Groups != nil || got.Attributes.Custom != nil || !got.FirstLoginAt.IsZero() {
		t.Fatalf("bare card came back with %+v", got)
	}
	byEmail, err := s.GetCardByEmail(ctx, "acme", "ann.lee@example.com")
	if err != nil || byEmail.ID != "c1" {
		t.Fatalf("GetCardByEmail = %v, %v", byEmail.ID, err)
	}
	if _, err := s.GetCard(ctx, "other", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's card: err = %v, want ErrNotFound", err)
	}
}

func testDuplicateEmail(t *testing.T, s store.Backend) {
	put(t, s, card("acme", "c1", "ann@example.com"))
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		return tx.Write(context.Background(), store.Changes{Cards: []store.Card{card("acme", "c2", "ANN@example.com")}})
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second card with the same email: err = %v, want ErrAlreadyExists", err)
	}
	// The same email in another tenant is another person.
	put(t, s, card("globex", "c3", "ann@example.com"))
}

func testVersionConflict(t *testing.T, s store.Backend) {
	ctx := context.Background()
	c := card("acme", "c1", "ann@example.com")
	put(t, s, c)
	stale := c
	stale.Version = 3 // claims to follow version 2, which never was
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Cards: []store.Card{stale}}) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: err = %v, want ErrConflict", err)
	}
	next := c
	next.Version = 2
	next.Attributes.Title = "Lead"
	put(t, s, next)
	got, _ := s.GetCard(ctx, "acme", "c1")
	if got.Version != 2 || got.Attributes.Title != "Lead" {
		t.Fatalf("after update: version %d title %q", got.Version, got.Attributes.Title)
	}
}

func claim(cardID, source, ext string, state store.ClaimState) store.Claim {
	return store.Claim{CardID: cardID, Tenant: "acme", Source: source, ExternalID: ext, Email: "x@example.com", State: state,
		Authoritative: true, Attributes: store.Attributes{Department: "R&D"}, RunID: "7", Actor: source,
		FirstSeen: t0, LastSeen: t0, StateSince: t0}
}

func testClaims(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"), card("acme", "c2", "bob@example.com"))
	write := func(claims ...store.Claim) error {
		return s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Claims: claims}) })
	}
	if err := write(claim("c1", "file:hr", "E1", store.Present), claim("c1", "scim:okta", "", store.Present), claim("c2", "scim:okta", "", store.Present)); err != nil {
		t.Fatal(err)
	}
	// Replacing a claim keeps one row per (card, source).
	updated := claim("c1", "file:hr", "E1", store.Withdrawn)
	updated.StateSince = t0.Add(time.Hour)
	if err := write(updated); err != nil {
		t.Fatal(err)
	}
	claims, err := s.ListClaims(ctx, "acme", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 2 || claims[0].Source != "file:hr" || claims[0].State != store.Withdrawn || !claims[0].StateSince.Equal(t0.Add(time.Hour)) ||
		claims[0].Attributes.Department != "R&D" || claims[1].Source != "scim:okta" {
		t.Fatalf("claims = %+v", claims)
	}
	// Empty external ids are not unique; a taken one is.
	if err := write(claim("c2", "file:hr", "E1", store.Present)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("external id of another card: err = %v, want ErrAlreadyExists", err)
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		ids, err := tx.ClaimCardIDs(ctx, "acme", "file:hr", []string{"E1", "E404"})
		if err != nil {
			return err
		}
		if len(ids) != 1 || ids["E1"] != "c1" {
			return fmt.Errorf("ClaimCardIDs = %v", ids)
		}
		byCard, err := tx.Claims(ctx, "acme", []string{"c1", "c2"})
		if err != nil {
			return err
		}
		if len(byCard["c1"]) != 2 || len(byCard["c2"]) != 1 {
			return fmt.Errorf("Claims = %v", byCard)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRollback(t *testing.T, s store.Backend) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Tx) error {
		err := tx.Write(ctx, store.Changes{
			Cards:  []store.Card{card("acme", "c1", "ann@example.com")},
			Claims: []store.Claim{claim("c1", "file:hr", "E1", store.Present)},
			Audit:  []store.AuditEvent{{Tenant: "acme", CardID: "c1", At: t0, Actor: "x", Action: "claim.applied"}},
			Events: []store.Event{{Tenant: "acme", CardID: "c1", Type: "card.created", At: t0, Data: []byte(`{}`)}},
			Outbox: []store.OutboxMessage{{Tenant: "acme", CardID: "c1", Kind: "email.invite", Payload: []byte(`{}`), Created: t0}},
		})
		if err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if _, err := s.GetCard(ctx, "acme", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("card after rollback: %v", err)
	}
	assertEmpty(t, s, "acme", "c1")

	// A cancelled context rolls back too.
	cctx, cancel := context.WithCancel(ctx)
	err = s.InTx(cctx, func(tx store.Tx) error {
		if err := tx.Write(cctx, store.Changes{Cards: []store.Card{card("acme", "c1", "ann@example.com")}}); err != nil {
			return err
		}
		cancel()
		return tx.Write(cctx, store.Changes{Claims: []store.Claim{claim("c1", "file:hr", "E1", store.Present)}})
	})
	if err == nil {
		t.Fatal("InTx with a context cancelled midway succeeded")
	}
	if _, err := s.GetCard(ctx, "acme", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("card after cancelled transaction: %v", err)
	}
	assertEmpty(t, s, "acme", "c1")
}

// testReadTx: a read-only transaction sees what was committed when it
// began and nothing later, runs while a writer holds the card it reads
// (locked, and on SQLite holding the one-writer turn), and cannot write.
func testReadTx(t *testing.T, s store.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := card("acme", "c1", "ann@example.com")
	put(t, s, c)
	version := func(tx store.Tx) int64 {
		t.Helper()
		got, err := tx.CardsByID(ctx, "acme", []string{"c1"})
		if err != nil {
			t.Fatal(err)
		}
		return got["c1"].Version
	}

	// A writer locks the card, writes version 2 and waits.
	holding, release, written := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		written <- s.InTx(ctx, func(tx store.Tx) error {
			cards, err := tx.CardsByID(ctx, "acme", []string{"c1"})
			if err != nil {
				return err
			}
			next := cards["c1"]
			next.Version, next.Attributes.Title = 2, "Lead"
			if err := tx.Write(ctx, store.Changes{Cards: []store.Card{next}}); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-written:
		t.Fatalf("writer: %v", err)
	}
	boom := errors.New("boom")
	err := s.InReadTx(ctx, func(tx store.Tx) error {
		if v := version(tx); v != 1 {
			t.Errorf("read beside an open writer: version %d, want the committed 1", v)
		}
		if err := tx.Write(ctx, store.Changes{Cards: []store.Card{card("acme", "c2", "bob@example.com")}}); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Write in a read-only transaction: %v, want ErrReadOnly", err)
		}
		// The writer commits now; this transaction still reads its snapshot.
		close(release)
		if err := <-written; err != nil {
			t.Fatalf("writer: %v", err)
		}
		if v := version(tx); v != 1 {
			t.Errorf("read after another transaction committed: version %d, want 1 (one snapshot)", v)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InReadTx = %v, want the function's error", err)
	}
	if err := s.InReadTx(ctx, func(tx store.Tx) error {
		if v := version(tx); v != 2 {
			t.Errorf("a new read-only transaction: version %d, want 2", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCard(ctx, "acme", "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused write left a card: %v", err)
	}
}

func assertEmpty(t *testing.T, s store.Store, tenant, cardID string) {
	t.Helper()
	ctx := context.Background()
	claims, _ := s.ListClaims(ctx, tenant, cardID)
	audit, _ := s.ListAudit(ctx, tenant, cardID, 0, 10)
	events, _ := s.ListEvents(ctx, tenant, 0, 10)
	outbox, _ := s.ListOutbox(ctx, tenant, 0, 10)
	if len(claims)+len(audit)+len(events)+len(outbox) != 0 {
		t.Fatalf("left behind: %d claims, %d audit events, %d events, %d outbox messages", len(claims), len(audit), len(events), len(outbox))
	}
}

func testBulkLookups(t *testing.T, s store.Backend) {
	ctx := context.Background()
	// More values than either backend binds in one statement (PostgreSQL
	// takes 65535 parameters at most): the store must cut the lookup up.
	const n = 70000
	cards := make([]store.Card, 0, 3)
	for i := range 3 {
		cards = append(cards, card("acme", fmt.Sprintf("c%05d", i*30000), fmt.Sprintf("u%05d@example.com", i*30000)))
	}
	put(t, s, cards...)
	ids := make([]string, n)
	emails := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("c%05d", i)
		emails[i] = fmt.Sprintf("u%05d@example.com", i)
	}
	err := s.InTx(ctx, func(tx store.Tx) error {
		byID, err := tx.CardsByID(ctx, "acme", ids)
		if err != nil {
			return err
		}
		byEmail, err := tx.CardsByEmail(ctx, "acme", emails)
		if err != nil {
			return err
		}
		if len(byID) != 3 || len(byEmail) != 3 || byEmail["u60000@example.com"].ID != "c60000" {
			return fmt.Errorf("found %d by id, %d by email", len(byID), len(byEmail))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListFilters(t *testing.T, s store.Backend) {
	ctx := context.Background()
	now := t0.Add(48 * time.Hour)
	active := card("acme", "c1", "ann@example.com")
	active.FirstLoginAt = t0
	active.Attributes = store.Attributes{GivenName: "Ann", FamilyName: "Lee", Groups: []string{"eng", "berlin"}}
	pending := card("acme", "c2", "bob@example.com")
	pending.Invite = &store.Invite{SentAt: t0, ExpiresAt: now.Add(time.Hour)}
	pending.Attributes = store.Attributes{GivenName: "Bob", FamilyName: "100%_Real", Groups: []string{"engineering"}}
	expired := card("acme", "c3", "cy@example.com")
	expired.Invite = &store.Invite{SentAt: t0, ExpiresAt: now}
	provisioned := card("acme", "c4", "dee@example.com")
	disabled := card("acme", "c5", "eve@example.com")
	disabled.Enabled = false
	other := card("globex", "c6", "ann@globex.example")
	put(t, s, active, pending, expired, provisioned, disabled, other)
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Write(ctx, store.Changes{Claims: []store.Claim{claim("c1", "scim:okta", "", store.Present), claim("c2", "scim:okta", "", store.Withdrawn), claim("c3", "file:hr", "", store.Present)}})
	}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.CountCards(ctx, "acme", now)
	if err != nil || counts != (store.CardCounts{Disabled: 1, LoggedIn: 1, NeverInvited: 1, InviteLive: 1, InviteExpired: 1}) {
		t.Fatalf("CountCards = %+v, %v", counts, err)
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    store.CardFilter
		want []string
	}{
		{"all", store.CardFilter{}, []string{"c1", "c2", "c3", "c4", "c5"}},
		{"enabled", store.CardFilter{Enabled: &yes}, []string{"c1", "c2", "c3", "c4"}},
		{"disabled", store.CardFilter{Enabled: &no}, []string{"c5"}},
		{"logged in", store.CardFilter{LoggedIn: &yes}, []string{"c1"}},
		{"invite live", store.CardFilter{Enabled: &yes, LoggedIn: &no, Invite: "live", Now: now}, []string{"c2"}},
		{"invite expired at its expiry instant", store.CardFilter{Enabled: &yes, LoggedIn: &no, Invite: "expired", Now: now}, []string{"c3"}},
		{"never invited", store.CardFilter{Enabled: &yes, LoggedIn: &no, Invite: "none"}, []string{"c4"}},
		{"source, withdrawn claims excluded", store.CardFilter{Source: "scim:okta"}, []string{"c1"}},
		{"group exact, not substring", store.CardFilter{Group: "eng"}, []string{"c1"}},
		{"query on email, any case", store.CardFilter{Query: "BOB@"}, []string{"c2"}},
		{"query on family name", store.CardFilter{Query: "lee"}, []string{"c1"}},
		{"query wildcards are literal", store.CardFilter{Query: "0%_r"}, []string{"c2"}},
		{"query % alone matches only a literal %", store.CardFilter{Query: "%"}, []string{"c2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Tenant = "acme"
			cards, err := s.ListCards(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cards {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func testListPaging(t *testing.T, s store.Backend) {
	ctx := context.Background()
	var cards []store.Card
	for i := range 25 {
		cards = append(cards, card("acme", fmt.Sprintf("c%02d", i), fmt.Sprintf("u%02d@example.com", i)))
	}
	put(t, s, cards...)
	var seen []string
	after := ""
	for page := 0; ; page++ {
		got, err := s.ListCards(ctx, store.CardFilter{Tenant: "acme", After: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		for _, c := range got {
			seen = append(seen, c.ID)
		}
		after = got[len(got)-1].ID
	}
	if len(seen) != 25 || !slices.IsSorted(seen) || slices.Compact(slices.Clone(seen))[24] != "c24" {
		t.Fatalf("pages gave %v", seen)
	}
}

func testAppendOnly(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"))
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Write(ctx, store.Changes{Audit: []store.AuditEvent{
			{Tenant: "acme", CardID: "c1", At: t0, Actor: "file:hr", Source: "file:hr", Action: "claim.applied", RunID: "42", After: []byte(`{"a":1}`), Detail: "first"},
			{Tenant: "acme", CardID: "c1", At: t0.Add(time.Second), Actor: "admin:ops", Action: "card.pinned", Before: []byte(`{"a":1}`), After: []byte(`{"a":2}`), Detail: "second"},
		}, Events: []store.Event{
			{Tenant: "acme", CardID: "c1", Type: "card.created", At: t0, Actor: "file:hr", Source: "file:hr", Data: []byte(`{"n":1}`)},
			{Tenant: "acme", CardID: "c1", Type: "card.disabled", At: t0, Actor: "admin:ops", Data: []byte(`{"n":2}`)},
			{Tenant: "globex", CardID: "x", Type: "card.created", At: t0, Data: []byte(`{}`)},
		}, Outbox: []store.OutboxMessage{{Tenant: "acme", CardID: "c1", Kind: "email.invite", Payload: []byte(`{"card_id":"c1"}`), Created: t0}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	audit, err := s.ListAudit(ctx, "acme", "c1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Detail != "first" || audit[0].Before != nil || string(audit[0].After) != `{"a":1}` ||
		audit[1].Action != "card.pinned" || string(audit[1].Before) != `{"a":1}` || !audit[1].At.Equal(t0.Add(time.Second)) || audit[0].RunID != "42" {
		t.Fatalf("audit = %+v", audit)
	}
	if rest, _ := s.ListAudit(ctx, "acme", "c1", audit[0].ID, 10); len(rest) != 1 || rest[0].ID != audit[1].ID {
		t.Fatalf("audit after first = %+v", rest)
	}
	events, err := s.ListEvents(ctx, "acme", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "card.created" || events[1].Type != "card.disabled" || events[0].ID >= events[1].ID || string(events[1].Data) != `{"n":2}` {
		t.Fatalf("events = %+v", events)
	}
	outbox, err := s.ListOutbox(ctx, "acme", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(outbox) != 1 || outbox[0].Kind != "email.invite" || string(outbox[0].Payload) != `{"card_id":"c1"}` {
		t.Fatalf("outbox = %+v", outbox)
	}
}

func testCredentials(t *testing.T, s store.Backend) {
	ctx := context.Background()
	admin := store.Credential{ID: "k1", Kind: store.AdminKey, Name: "ops", Hash: "aa", Origin: "bootstrap", Created: t0, Scopes: []string{store.ScopeOperator}}
	scim := store.Credential{ID: "k2", Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Hash: "bb", ReadOnly: false, Origin: "config", Created: t0}
	for _, c := range []store.Credential{admin, scim} {
		if err := s.PutCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FindCredential(ctx, store.SCIMToken, "bb")
	if err != nil || !reflect.DeepEqual(got, scim) {
		t.Fatalf("FindCredential = %+v, %v; want %+v", got, err, scim)
	}
	if got, err := s.FindCredential(ctx, store.AdminKey, "aa"); err != nil || !reflect.DeepEqual(got, admin) || !got.HasScope(store.ScopeOperator) {
		t.Fatalf("the operator key = %+v, %v; want %+v", got, err, admin)
	}
	if _, err := s.FindCredential(ctx, store.AdminKey, "bb"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a SCIM token's hash found as an admin key: %v", err)
	}
	dup := admin
	dup.ID = "k3"
	if err := s.PutCredential(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate hash: err = %v, want ErrAlreadyExists", err)
	}
	if n, err := s.CountCredentials(ctx, store.AdminKey, ""); err != nil || n != 1 {
		t.Fatalf("CountCredentials = %d, %v", n, err)
	}
	if got, err := s.ListCredentials(ctx, store.AdminKey); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], admin) {
		t.Fatalf("ListCredentials = %+v, %v", got, err)
	}
	if err := s.DeleteCredential(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindCredential(ctx, store.AdminKey, "aa"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted key is found: %v", err)
	}
	if err := s.DeleteCredential(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
}

// testConcurrentUpdates: many transactions read-modify-write one card at
// once; with the row lock (or SQLite's write lock) and the version check,
// every increment survives.
func testConcurrentUpdates(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"))
	const writers = 20
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for {
				err := s.InTx(ctx, func(tx store.Tx) error {
					m, err := tx.CardsByID(ctx, "acme", []string{"c1"})
					if err != nil {
						return err
					}
					c := m["c1"]
					c.Attributes.Custom = map[string]string{"n": fmt.Sprint(len(c.Attributes.Custom["n"]) + 1)}
					c.Attributes.Groups = append(c.Attributes.Groups, "x")
					c.Version++
					return tx.Write(ctx, store.Changes{Cards: []store.Card{c}})
				})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				errs <- err
				return
			}
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetCard(ctx, "acme", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != writers+1 || len(got.Attributes.Groups) != writers {
		t.Fatalf("after %d concurrent increments: version %d, %d groups", writers, got.Version, len(got.Attributes.Groups))
	}
}

// testLargeWrite: one Write with more rows than one statement may bind.
func testLargeWrite(t *testing.T, s store.Backend) {
	ctx := context.Background()
	const n = 5000 // 5000 cards × 29 columns > 65535 parameters
	ch := store.Changes{}
	for i := range n {
		id := fmt.Sprintf("c%05d", i)
		ch.Cards = append(ch.Cards, card("acme", id, fmt.Sprintf("u%05d@example.com", i)))
		ch.Claims = append(ch.Claims, claim(id, "file:hr", fmt.Sprintf("E%05d", i), store.Present))
		ch.Audit = append(ch.Audit, store.AuditEvent{Tenant: "acme", CardID: id, At: t0, Actor: "file:hr", Action: "claim.applied"})
		ch.Events = append(ch.Events, store.Event{Tenant: "acme", CardID: id, Type: "card.created", At: t0, Data: []byte(`{}`)})
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) }); err != nil {
		t.Fatal(err)
	}
	cards, err := s.ListCards(ctx, store.CardFilter{Tenant: "acme", Limit: n + 1})
	if err != nil || len(cards) != n {
		t.Fatalf("%d cards, %v; want %d", len(cards), err, n)
	}
	events, _ := s.ListEvents(ctx, "acme", 0, n+1)
	claims, _ := s.ListClaims(ctx, "acme", "c04999")
	if len(events) != n || len(claims) != 1 || claims[0].ExternalID != "E04999" {
		t.Fatalf("%d events, claims of the last card %+v", len(events), claims)
	}
}

// testMixedWriteConflict: a Write whose card update lost its race writes
// none of its other rows either.
func testMixedWriteConflict(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"))
	stale := card("acme", "c1", "ann@example.com")
	stale.Version = 5
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Write(ctx, store.Changes{
			Cards:  []store.Card{card("acme", "c2", "bob@example.com"), stale},
			Claims: []store.Claim{claim("c2", "file:hr", "E2", store.Present)},
			Events: []store.Event{{Tenant: "acme", CardID: "c2", Type: "card.created", At: t0, Data: []byte(`{}`)}},
		})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if _, err := s.GetCard(ctx, "acme", "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the new card of a conflicting write: %v", err)
	}
	assertEmpty(t, s, "acme", "c2")
}

// testCardCountsFollowWrites: the counts CountCards keeps (issue 17) equal
// a pass over the cards (CountCardsWhere) after every kind of write: new
// cards one and many to a statement, a change of bucket, a change within
// one, an invite sent, expiring and answered, approval and a pin, and
// another tenant's cards.
func testCardCountsFollowWrites(t *testing.T, s store.Backend) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	check := func(step string, want store.CardCounts) {
		t.Helper()
		got, err := s.CountCards(ctx, "acme", now)
		if err != nil {
			t.Fatalf("%s: CountCards: %v", step, err)
		}
		pass, err := s.CountCardsWhere(ctx, store.CardFilter{Tenant: "acme", Now: now})
		if err != nil {
			t.Fatalf("%s: CountCardsWhere: %v", step, err)
		}
		if got != want || pass != want {
			t.Fatalf("%s: CountCards = %+v, a pass over the cards = %+v, want %+v", step, got, pass, want)
		}
	}
	update := func(step string, id string, change func(*store.Card)) {
		t.Helper()
		c, err := s.GetCard(ctx, "acme", id)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		change(&c)
		c.Version++
		put(t, s, c)
	}
	check("empty", store.CardCounts{})
	put(t, s, card("acme", "k1", "k1@example.com"))
	check("one card", store.CardCounts{NeverInvited: 1})
	var many []store.Card
	for i := range 40 {
		many = append(many, card("acme", fmt.Sprintf("m%02d", i), fmt.Sprintf("m%02d@example.com", i)))
	}
	many[0].Enabled = false
	put(t, s, many...)
	put(t, s, card("globex", "g1", "g1@globex.example"))
	check("forty in one write, another tenant's", store.CardCounts{NeverInvited: 40, Disabled: 1})
	update("a title, same bucket", "k1", func(c *store.Card) { c.Attributes.Title = "Engineer" })
	check("a title, same bucket", store.CardCounts{NeverInvited: 40, Disabled: 1})
	update("disabled", "k1", func(c *store.Card) { c.Enabled = false })
	check("disabled", store.CardCounts{NeverInvited: 39, Disabled: 2})
	update("invited", "m01", func(c *store.Card) { c.Invite = &store.Invite{SentAt: t0, ExpiresAt: now.Add(time.Minute)} })
	update("invited, expired", "m02", func(c *store.Card) { c.Invite = &store.Invite{SentAt: t0, ExpiresAt: now} })
	check("two invites, one expired at now", store.CardCounts{NeverInvited: 37, Disabled: 2, InviteLive: 1, InviteExpired: 1})
	update("logged in", "m01", func(c *store.Card) { c.FirstLoginAt, c.LastLoginAt = now, now })
	check("an invite answered", store.CardCounts{NeverInvited: 37, Disabled: 2, LoggedIn: 1, InviteExpired: 1})
	update("waits for approval", "m03", func(c *store.Card) {
		c.Enabled, c.Approval = false, &store.Approval{State: store.ApprovalPending, At: t0}
	})
	check("waiting for approval", store.CardCounts{NeverInvited: 36, Disabled: 2, LoggedIn: 1, InviteExpired: 1, PendingApproval: 1})
	update("pinned while waiting", "m03", func(c *store.Card) { c.Pin = &store.Pin{Actor: "admin:ops", At: t0} })
	check("pinned while waiting", store.CardCounts{NeverInvited: 36, Disabled: 3, LoggedIn: 1, InviteExpired: 1})
	// Many single writes (on PostgreSQL each adds a delta row, and the
	// counts are compacted past a few hundred of them): still equal.
	for i := range 600 {
		put(t, s, card("acme", fmt.Sprintf("s%03d", i), fmt.Sprintf("s%03d@example.com", i)))
	}
	check("600 more, one a write", store.CardCounts{NeverInvited: 636, Disabled: 3, LoggedIn: 1, InviteExpired: 1})
	update("after the compaction", "s000", func(c *store.Card) { c.Enabled = false })
	check("after the compaction", store.CardCounts{NeverInvited: 635, Disabled: 4, LoggedIn: 1, InviteExpired: 1})

	// Counted up to a bound: no further than it, all of them under it,
	// the filter and the tenant held to.
	no := false
	for _, tc := range []struct {
		f         store.CardFilter
		max, want int
	}{
		{store.CardFilter{Tenant: "acme"}, 100, 100},
		{store.CardFilter{Tenant: "acme"}, 10_000, 641},
		{store.CardFilter{Tenant: "acme", Enabled: &no}, 100, 4},
		{store.CardFilter{Tenant: "acme", Query: "s00", After: "s005", Limit: 3}, 100, 10}, // paging ignored
		{store.CardFilter{Tenant: "globex"}, 100, 1},
	} {
		if n, err := s.CountCardsUpTo(ctx, tc.f, tc.max); err != nil || n != tc.want {
			t.Errorf("CountCardsUpTo(%+v, %d) = %d, %v; want %d", tc.f, tc.max, n, err, tc.want)
		}
	}
}
