package store

import (
	"context"
	"time"
)

// Webhook delivery statuses. A delivery record is written for a batch of
// events only once an attempt to deliver it failed: pending while it is
// retried, then delivered or failed (given up and skipped). Batches that
// went through at the first attempt leave only the endpoint's cursor.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// WebhookDelivery is one batch of one tenant's events for one endpoint that
// needed more than one attempt, or was given up.
type WebhookDelivery struct {
	// ID is assigned by RecordWebhookDelivery on insert.
	ID int64 `json:"id"`
	// Endpoint is the endpoint's id (not its URL, which may hold a token).
	Endpoint string  `json:"endpoint"`
	Tenant   string  `json:"tenant"`
	EventIDs []int64 `json:"event_ids"`
	// First and Last are the cursors of the batch's first and last event:
	// a failed batch can be read again from the feed with after=First's
	// predecessor.
	First  EventCursor `json:"-"`
	Last   EventCursor `json:"-"`
	Status string      `json:"status"`
	// Attempts so far; LastStatus the HTTP status of the last (0 when it got
	// no answer); LastError a short description without personal data.
	Attempts     int       `json:"attempts"`
	LastStatus   int       `json:"last_status,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
}

// WebhookDeliveryQuery selects delivery records of one tenant, newest first.
type WebhookDeliveryQuery struct {
	Tenant string
	// Status: "" any.
	Status string
	// Endpoint: "" any.
	Endpoint string
	// BeforeID: only records with a smaller id (paging); 0 none.
	BeforeID int64
	Limit    int
}

// Webhooks keeps the push side of the change feed: each endpoint's cursor
// per tenant, and the record of batches that did not go through at once.
// Every method is one statement outside InTx. Part of Store.
type Webhooks interface {
	// WebhookCursor returns the cursor after which an endpoint has not yet
	// delivered a tenant's events; the zero cursor (the start of the feed)
	// when none was stored.
	WebhookCursor(ctx context.Context, endpoint, tenant string) (EventCursor, error)
	// SetWebhookCursor stores it.
	SetWebhookCursor(ctx context.Context, endpoint, tenant string, c EventCursor, now time.Time) error
	// RecordWebhookDelivery inserts d (ID 0; the new id is returned) or
	// updates the record with d.ID.
	RecordWebhookDelivery(ctx context.Context, d WebhookDelivery) (int64, error)
	// ListWebhookDeliveries returns records, newest first.
	ListWebhookDeliveries(ctx context.Context, q WebhookDeliveryQuery) ([]WebhookDelivery, error)
	// PruneWebhookDeliveries deletes records whose last attempt is older
	// than before.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
	// CountEventsAfter counts a tenant's events after the cursor, at most
	// limit (a backlog gauge need not count a million rows).
	CountEventsAfter(ctx context.Context, tenant string, after EventCursor, limit int) (int, error)
}
