package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrGone: a cursor older than the events kept (retention pruned them).
var ErrGone = errors.New("store: events before this cursor were pruned")

// EventCursor is a position in a tenant's event feed. Events are ordered by
// the transaction that wrote them, then by id: on PostgreSQL TxID is the
// writing transaction's id, and a reader is only ever handed events of
// transactions older than every transaction still running, so no event can
// later commit behind a cursor it was given. On SQLite, with one writer at
// a time, TxID is 0 and the id alone orders them.
type EventCursor struct {
	TxID uint64
	ID   int64
}

// String is the cursor as the API hands it out: "TXID-ID".
func (c EventCursor) String() string { return fmt.Sprintf("%d-%d", c.TxID, c.ID) }

// IsZero reports whether the cursor is the start of the feed.
func (c EventCursor) IsZero() bool { return c.TxID == 0 && c.ID == 0 }

// Less orders cursors.
func (c EventCursor) Less(o EventCursor) bool {
	return c.TxID < o.TxID || c.TxID == o.TxID && c.ID < o.ID
}

// ParseEventCursor reads a cursor String made; "" is the start.
func ParseEventCursor(s string) (EventCursor, error) {
	if s == "" {
		return EventCursor{}, nil
	}
	tx, id, ok := strings.Cut(s, "-")
	t, err1 := strconv.ParseUint(tx, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || i < 0 {
		return EventCursor{}, fmt.Errorf("invalid cursor %q", s)
	}
	return EventCursor{TxID: t, ID: i}, nil
}

// Events is the platform's change feed; part of Store.
type Events interface {
	// EventsAfter returns a tenant's events after the cursor, in order, at
	// most limit, with each event's own cursor; ErrGone when the cursor is
	// older than what retention kept.
	EventsAfter(ctx context.Context, tenant string, after EventCursor, limit int) ([]Event, error)
	// PruneEvents deletes events older than before and remembers, per
	// tenant, the newest cursor pruned.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}
