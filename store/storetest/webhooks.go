package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

func testWebhooks(t *testing.T, s store.Backend) {
	ctx := context.Background()
	c, err := s.WebhookCursor(ctx, "ep1", "acme")
	if err != nil || !c.IsZero() {
		t.Fatalf("fresh cursor = %v, %v; want the start", c, err)
	}
	for i := range 5 {
		writeEvent(t, s, "acme", "c", t0.Add(time.Duration(i)*time.Minute))
	}
	all, _ := s.EventsAfter(ctx, "acme", store.EventCursor{}, 10)
	if err := s.SetWebhookCursor(ctx, "ep1", "acme", all[1].Cursor, t0); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.WebhookCursor(ctx, "ep1", "acme"); c != all[1].Cursor {
		t.Fatalf("stored cursor %v, want %v", c, all[1].Cursor)
	}
	if c, _ := s.WebhookCursor(ctx, "ep2", "acme"); !c.IsZero() {
		t.Fatalf("another endpoint's cursor: %v", c)
	}
	if n, err := s.CountEventsAfter(ctx, "acme", all[1].Cursor, 100); err != nil || n != 3 {
		t.Fatalf("CountEventsAfter = %d, %v; want 3", n, err)
	}
	if n, _ := s.CountEventsAfter(ctx, "acme", store.EventCursor{}, 2); n != 2 {
		t.Fatalf("capped count = %d, want 2", n)
	}

	d := store.WebhookDelivery{Endpoint: "ep1", Tenant: "acme", EventIDs: []int64{all[2].ID, all[3].ID}, First: all[2].Cursor, Last: all[3].Cursor,
		Status: store.WebhookPending, Attempts: 1, LastStatus: 503, LastError: "HTTP 503", FirstAttempt: t0, LastAttempt: t0}
	id, err := s.RecordWebhookDelivery(ctx, d)
	if err != nil || id == 0 {
		t.Fatalf("RecordWebhookDelivery = %d, %v", id, err)
	}
	d.ID, d.Status, d.Attempts, d.LastStatus, d.LastAttempt = id, store.WebhookFailed, 3, 400, t0.Add(time.Hour)
	if _, err := s.RecordWebhookDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	other := store.WebhookDelivery{Endpoint: "ep1", Tenant: "globex", Status: store.WebhookFailed, FirstAttempt: t0, LastAttempt: t0}
	if _, err := s.RecordWebhookDelivery(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListWebhookDeliveries(ctx, store.WebhookDeliveryQuery{Tenant: "acme", Status: store.WebhookFailed})
	if err != nil || len(got) != 1 {
		t.Fatalf("failed deliveries of acme: %+v, %v", got, err)
	}
	g := got[0]
	if g.ID != id || g.Attempts != 3 || g.LastStatus != 400 || !slices.Equal(g.EventIDs, d.EventIDs) || g.First != d.First || g.Last != d.Last ||
		!g.FirstAttempt.Equal(t0) || !g.LastAttempt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("delivery round trip: %+v, want %+v", g, d)
	}
	if got, _ := s.ListWebhookDeliveries(ctx, store.WebhookDeliveryQuery{Tenant: "acme", Status: store.WebhookPending}); len(got) != 0 {
		t.Fatalf("pending: %+v", got)
	}
	if n, err := s.PruneWebhookDeliveries(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneWebhookDeliveries = %d, %v; want globex's only", n, err)
	}
}
