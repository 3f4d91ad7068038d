package directory

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Group commit. ApplyClaim is one statement about one person — a SCIM
// POST, PUT, PATCH or DELETE — and an identity provider's first push
// sends thousands of them at once, each its own transaction: on durable
// PostgreSQL most of such a write's cost is per transaction and per
// statement (the write statement's planning and its triggers, the commit,
// the WAL flush), not per card. So concurrent ApplyClaim calls of one
// tenant by one actor are gathered: while gatherInflight transactions of
// theirs are running, newcomers wait, and the next to go takes every
// waiting call (up to gatherMax) into one ApplyClaims transaction.
//
// Nothing about a call's outcome depends on whether it was gathered:
//   - ApplyClaims already applies its inputs one after the other, each
//     seeing the ones before it (a second POST of the same userName is
//     refused as it would be a moment later), and a refused input does not
//     stop the others;
//   - an error of the store (a lost race beyond the retries, a constraint
//     one input breaks) would fail the whole transaction, so then each
//     call is run again alone, and gets its own outcome;
//   - a call with no other waiting runs at once, alone, as before;
//   - one card's changes (by id: a PUT, PATCH or DELETE) apply in the
//     order they came, one transaction after the other, each at a version
//     of its own: a change of a card that a running transaction writes
//     waits for it, even while a slot is free.
//
// The actor is part of the key because a transaction's audit lines and
// events name one actor and run.

const (
	// gatherInflight: transactions of one key running at once. Two keep
	// both cores of a small machine busy — one batch in the database while
	// the next is prepared — without the batches queueing on each other's
	// locks.
	gatherInflight = 2
	// gatherMax bounds a gathered transaction.
	gatherMax = 64
)

type gatherKey struct{ tenant, actor, run string }

type gatherer struct {
	mu     sync.Mutex
	queues map[gatherKey]*gatherQueue
}

type gatherQueue struct {
	inflight int
	pending  []*gatherCall
	// busy counts, by card id, the calls of running batches that name
	// that card: a later call of the card waits until they are done, so
	// that one card's changes apply in the order they came.
	busy map[string]int
}

// mark counts the batch's cards as busy (add 1) or done (add -1).
func (q *gatherQueue) mark(batch []*gatherCall, add int) {
	for _, c := range batch {
		if id := c.in.CardID; id != "" {
			if q.busy[id] += add; q.busy[id] == 0 {
				delete(q.busy, id)
			}
		}
	}
}

type gatherCall struct {
	ctx context.Context
	in  ClaimInput
	out Outcome
	err error
	// wake receives, once, the batch this call is to run (itself first),
	// or nil when another call ran it and out and err are set.
	wake chan []*gatherCall
}

// applyGathered is ApplyClaims of the one input, gathered with the
// calls of the same key that wait at the same time.
func (s *Service) applyGathered(ctx context.Context, actor Actor, in ClaimInput) (Outcome, error) {
	g := &s.gather
	k := gatherKey{in.Tenant, actor.Name, actor.RunID}
	c := &gatherCall{ctx: ctx, in: in}
	g.mu.Lock()
	if g.queues == nil {
		g.queues = map[gatherKey]*gatherQueue{}
	}
	q := g.queues[k]
	if q == nil {
		q = &gatherQueue{busy: map[string]int{}}
		g.queues[k] = q
	}
	// A change of a card a running batch writes waits for it. (A waiting
	// change of the card is behind such a batch too: when a slot frees,
	// handOn takes every call that may go.)
	if q.inflight < gatherInflight && q.busy[c.in.CardID] == 0 {
		q.inflight++
		batch := []*gatherCall{c}
		q.mark(batch, 1)
		g.mu.Unlock()
		s.runGathered(k, actor, batch)
		return c.out, c.err
	}
	c.wake = make(chan []*gatherCall, 1)
	q.pending = append(q.pending, c)
	g.mu.Unlock()
	var batch []*gatherCall
	select {
	case batch = <-c.wake:
	case <-ctx.Done():
		// The caller went away while waiting: if no batch has taken the
		// call yet, it leaves the queue unwritten; once taken, its write
		// goes on and it waits for the outcome like the others.
		g.mu.Lock()
		i := slices.Index(q.pending, c)
		if i >= 0 {
			q.pending = slices.Delete(q.pending, i, i+1)
		}
		g.mu.Unlock()
		if i >= 0 {
			return Outcome{}, ctx.Err()
		}
		batch = <-c.wake
	}
	if batch != nil {
		s.runGathered(k, actor, batch)
	}
	return c.out, c.err
}

// errGatherPanic is the outcome of the calls of a batch whose
// transaction panicked in another call's goroutine.
var errGatherPanic = errors.New("directory: the shared transaction of this write failed unexpectedly; nothing of it was written")

// runGathered runs one batch, sets each call's outcome, and hands the
// key's next batch, if any waits, to its first call. Whatever happens —
// a panic too, which goes on up the first call's goroutine — the batch's
// other calls are answered and the key's queue moves on: one bad write
// must not leave a tenant's SCIM writes waiting for ever.
func (s *Service) runGathered(k gatherKey, actor Actor, batch []*gatherCall) {
	defer s.handOn(k, batch)
	applied := false
	defer func() {
		if !applied {
			for _, c := range batch {
				c.out, c.err = Outcome{}, errGatherPanic
			}
		}
		for _, c := range batch[1:] {
			c.wake <- nil
		}
	}()
	s.applyBatch(actor, batch)
	applied = true
}

// handOn, once done's batch has run, hands the key's next batch, if one
// may go, to its first call, or gives up the key's slot. A waiting call
// whose card is in the other running batch is left for that batch's
// handOn: its slot is the one that goes on.
func (s *Service) handOn(k gatherKey, done []*gatherCall) {
	g := &s.gather
	g.mu.Lock()
	q := g.queues[k]
	q.mark(done, -1)
	next := take(q)
	if len(next) == 0 {
		// When none runs, none waits: a call waits only behind a running one.
		if q.inflight--; q.inflight == 0 && len(q.pending) == 0 {
			delete(g.queues, k)
		}
		g.mu.Unlock()
		return
	}
	q.mark(next, 1)
	g.mu.Unlock()
	next[0].wake <- next
}

// take removes from q the calls of its next batch: the waiting calls in
// order, up to gatherMax, but at most one per card named by id (a PUT,
// PATCH or DELETE), and none of a card a running batch writes. A card is
// written once per transaction with one version, and each change must
// have its own (the ETag a PATCH answers with names exactly the card it
// left), in the order the changes came: a later call of the same card
// waits for a later batch.
func take(q *gatherQueue) []*gatherCall {
	var next, rest []*gatherCall
	cards := map[string]bool{}
	for _, c := range q.pending {
		id := c.in.CardID
		if len(next) == gatherMax || id != "" && (cards[id] || q.busy[id] > 0) {
			if id != "" {
				cards[id] = true // and every later call of it waits too
			}
			rest = append(rest, c)
			continue
		}
		if id != "" {
			cards[id] = true
		}
		next = append(next, c)
	}
	q.pending = rest
	return next
}

// applyBatch runs the batch's inputs in one ApplyClaims. A batch of more
// than one is everyone's: the first caller going away must not cancel
// the others' writes; and when the store fails it, which input broke the
// transaction is not known, so each runs again alone.
func (s *Service) applyBatch(actor Actor, batch []*gatherCall) {
	ctx := batch[0].ctx
	if len(batch) > 1 {
		ctx = context.WithoutCancel(ctx)
	}
	ins := make([]ClaimInput, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	outs, err := s.ApplyClaims(ctx, actor, ins)
	for i, c := range batch {
		switch {
		case err == nil:
			c.out = outs[i]
		case len(batch) == 1:
			c.err = err
		default:
			alone, err := s.ApplyClaims(c.ctx, actor, []ClaimInput{c.in})
			if c.err = err; err == nil {
				c.out = alone[0]
			}
		}
	}
}
