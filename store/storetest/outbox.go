package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// testOutbox: the worker's side of the outbox — claims lease rows, only due
// pending rows of the asked kinds are claimed, retries and deaths move rows
// on, a sent row's payload is scrubbed, and concurrent claimers never share
// a row.
func testOutbox(t *testing.T, s store.Backend) {
	ctx := context.Background()
	msg := func(kind, payload string, at time.Time) store.OutboxMessage {
		return store.OutboxMessage{Tenant: "acme", CardID: "c1", Kind: kind, Payload: []byte(payload), Created: at}
	}
	err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.Write(ctx, store.Changes{Outbox: []store.OutboxMessage{
			msg("email.invite", `{"token":"one"}`, t0),
			msg("webhook", `{}`, t0),
			msg("email.reminder", `{"token":"two"}`, t0.Add(time.Minute)),
			msg("email.invite", `{"token":"later"}`, t0.Add(time.Hour)),
		}})
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{"email.invite", "email.reminder"}
	n, oldest, err := s.OutboxBacklog(ctx, kinds)
	if err != nil || n != 3 || !oldest.Equal(t0) {
		t.Fatalf("OutboxBacklog = %d, %v, %v; want 3, %v", n, oldest, err, t0)
	}

	now := t0.Add(2 * time.Minute)
	got, err := s.ClaimOutbox(ctx, kinds, now, 10, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != "email.invite" || got[1].Kind != "email.reminder" || got[0].ID >= got[1].ID {
		t.Fatalf("ClaimOutbox = %+v; want the due invite and reminder, oldest first (not the webhook, not the one due later)", got)
	}
	if string(got[0].Payload) != `{"token":"one"}` || got[0].Tenant != "acme" || got[0].CardID != "c1" || !got[0].Created.Equal(t0) ||
		got[0].Attempts != 0 || !got[0].LeasedUntil.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("claimed message = %+v", got[0])
	}
	if again, err := s.ClaimOutbox(ctx, kinds, now.Add(time.Minute), 10, 5*time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("ClaimOutbox while leased = %+v, %v; want nothing", again, err)
	}
	// A lease that ran out (a worker that died mid-send) frees the row.
	back, err := s.ClaimOutbox(ctx, kinds, now.Add(5*time.Minute), 1, time.Minute)
	if err != nil || len(back) != 1 || back[0].ID != got[0].ID {
		t.Fatalf("ClaimOutbox after the lease = %+v, %v; want the first row again, limit 1", back, err)
	}

	inviteID, reminderID := got[0].ID, got[1].ID
	if err := s.MarkOutboxSent(ctx, inviteID, now, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if st, _, _, err := s.OutboxStatus(ctx, inviteID); err != nil || st != store.OutboxSent {
		t.Fatalf("status after MarkOutboxSent = %q, %v", st, err)
	}
	all, err := s.ListOutbox(ctx, "acme", 0, 10)
	if err != nil || len(all) != 4 || string(all[0].Payload) != `{}` || string(all[2].Payload) != `{"token":"two"}` {
		t.Fatalf("ListOutbox after sending = %+v, %v; want the sent payload scrubbed, the others kept", all, err)
	}

	next := now.Add(2 * time.Minute)
	if err := s.MarkOutboxRetry(ctx, reminderID, 1, next, "connection refused"); err != nil {
		t.Fatal(err)
	}
	if st, att, last, err := s.OutboxStatus(ctx, reminderID); err != nil || st != store.OutboxPending || att != 1 || last != "connection refused" {
		t.Fatalf("status after retry = %q %d %q %v", st, att, last, err)
	}
	if early, err := s.ClaimOutbox(ctx, kinds, next.Add(-time.Second), 10, time.Minute); err != nil || len(early) != 0 {
		t.Fatalf("ClaimOutbox before the retry is due = %+v, %v; want nothing", early, err)
	}
	due, err := s.ClaimOutbox(ctx, kinds, next, 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].ID != reminderID || due[0].Attempts != 1 || due[0].LastError != "connection refused" {
		t.Fatalf("ClaimOutbox when the retry is due = %+v, %v", due, err)
	}
	if err := s.MarkOutboxDead(ctx, reminderID, 2, "mailbox unavailable", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if st, att, _, err := s.OutboxStatus(ctx, reminderID); err != nil || st != store.OutboxDead || att != 2 {
		t.Fatalf("status after MarkOutboxDead = %q %d %v", st, att, err)
	}
	if err := s.MarkOutboxRetry(ctx, reminderID, 3, next, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MarkOutboxRetry of a dead message = %v, want ErrNotFound", err)
	}
	if _, _, _, err := s.OutboxStatus(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OutboxStatus of no message = %v, want ErrNotFound", err)
	}
	n, oldest, err = s.OutboxBacklog(ctx, kinds)
	if err != nil || n != 1 || !oldest.Equal(t0.Add(time.Hour)) {
		t.Fatalf("OutboxBacklog at the end = %d, %v, %v; want the later invite only", n, oldest, err)
	}

	// Audit lines outside a card change.
	if err := s.AppendAudit(ctx, []store.AuditEvent{{Tenant: "acme", CardID: "c1", At: now, Actor: "notify", Action: "email.dead", Detail: "message 2"}}); err != nil {
		t.Fatal(err)
	}
	audit, err := s.ListAudit(ctx, "acme", "c1", 0, 10)
	if err != nil || len(audit) != 1 || audit[0].Action != "email.dead" || audit[0].Actor != "notify" {
		t.Fatalf("ListAudit = %+v, %v", audit, err)
	}

	// A tenant's whole trail, cards or none, in id order, paged; another
	// tenant's lines never.
	if err := s.AppendAudit(ctx, []store.AuditEvent{
		{Tenant: "acme", At: now, Actor: "saml", Action: "login.refused", Detail: "replay"},
		{Tenant: "globex", At: now, Actor: "saml", Action: "login.refused", Detail: "replay"},
		{Tenant: "acme", CardID: "c2", At: now, Actor: "notify", Action: "email.dead", Detail: "message 3"},
	}); err != nil {
		t.Fatal(err)
	}
	var trail []store.AuditEvent
	for after := int64(0); ; {
		page, err := s.ListTenantAudit(ctx, "acme", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		trail = append(trail, page...)
		after = page[len(page)-1].ID
	}
	if len(trail) != 3 || trail[0].CardID != "c1" || trail[1].CardID != "" || trail[1].Action != "login.refused" || trail[2].CardID != "c2" ||
		!(trail[0].ID < trail[1].ID && trail[1].ID < trail[2].ID) {
		t.Fatalf("ListTenantAudit = %+v", trail)
	}
	for _, e := range trail {
		if e.Tenant != "acme" {
			t.Fatalf("another tenant's line: %+v", e)
		}
	}
}

// testOutboxConcurrentClaims: workers claiming at once get disjoint rows,
// and together all of them.
func testOutboxConcurrentClaims(t *testing.T, s store.Backend) {
	ctx := context.Background()
	const total = 200
	var msgs []store.OutboxMessage
	for i := 0; i < total; i++ {
		msgs = append(msgs, store.OutboxMessage{Tenant: "acme", Kind: "email.invite", Payload: []byte(`{}`), Created: t0})
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, store.Changes{Outbox: msgs}) }); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimOutbox(ctx, []string{"email.invite"}, t0.Add(time.Minute), 7, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("claimed %d distinct rows, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %d claimed %d times", id, n)
		}
	}
}
