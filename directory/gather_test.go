package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// heldStore holds its first two write transactions until released (so
// that the calls after them must wait and be gathered), counts the write
// transactions, and fails a write that holds a card of failEmail.
type heldStore struct {
	store.Store
	txs       atomic.Int32
	entered   chan struct{}
	release   chan struct{}
	failEmail string
	// panicEmail: a write holding a card of it panics.
	panicEmail atomic.Value
	// blockEmail: a write holding a card of it says so on blocked, then
	// waits, inside its transaction, until unblock is closed.
	blockEmail atomic.Value
	blocked    chan struct{}
	unblock    chan struct{}
}

func newHeldStore(st store.Store) *heldStore {
	return &heldStore{Store: st, entered: make(chan struct{}, 2), release: make(chan struct{}),
		blocked: make(chan struct{}, 1), unblock: make(chan struct{})}
}

func (h *heldStore) InTx(ctx context.Context, fn func(store.Tx) error) error {
	if h.txs.Add(1) <= 2 {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Store.InTx(ctx, func(tx store.Tx) error { return fn(&heldTx{Tx: tx, h: h}) })
}

type heldTx struct {
	store.Tx
	h *heldStore
}

func (t *heldTx) Write(ctx context.Context, ch store.Changes) error {
	for _, c := range ch.Cards {
		if t.h.failEmail != "" && c.EmailNorm == t.h.failEmail {
			return errInjected
		}
		if e, _ := t.h.panicEmail.Load().(string); e != "" && c.EmailNorm == e {
			panic("injected panic writing " + e)
		}
		if e, _ := t.h.blockEmail.Load().(string); e != "" && c.EmailNorm == e {
			t.h.blocked <- struct{}{}
			<-t.h.unblock
		}
	}
	return t.Tx.Write(ctx, ch)
}

// gathered runs ins as concurrent ApplyClaim calls of one actor: the
// first two start alone and are held inside their transactions until
// the rest wait behind them, in order, so that the rest are gathered.
func gathered(t *testing.T, svc *directory.Service, h *heldStore, ctxs []context.Context, ins []directory.ClaimInput) ([]directory.Outcome, []error) {
	t.Helper()
	return gatheredUntil(t, svc, h, ctxs, ins, func() { close(h.release) })
}

// gatheredUntil is gathered with release called, to release the held
// transactions, once every call waits.
func gatheredUntil(t *testing.T, svc *directory.Service, h *heldStore, ctxs []context.Context, ins []directory.ClaimInput, release func()) ([]directory.Outcome, []error) {
	t.Helper()
	outs, errs := make([]directory.Outcome, len(ins)), make([]error, len(ins))
	var wg sync.WaitGroup
	call := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panicked: %v", p)
				}
			}()
			outs[i], errs[i] = svc.ApplyClaim(ctxs[i], actor("scim:okta"), ins[i])
		}()
	}
	call(0)
	call(1)
	<-h.entered
	<-h.entered
	// The rest queue one at a time, in order.
	deadline := time.Now().Add(10 * time.Second)
	for i := 2; i < len(ins); i++ {
		call(i)
		for directory.GatherWaiting(svc) < i-1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls waiting, want %d", directory.GatherWaiting(svc), i-1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	release()
	wg.Wait()
	return outs, errs
}

func scimUser(i int) directory.ClaimInput {
	in := present("scim:okta", fmt.Sprintf("user%02d@example.com", i))
	in.Login, in.MustBeNew, in.KeepGroups, in.EmailOptional = fmt.Sprintf("user%02d@example.com", i), true, true, true
	in.Attributes.GivenName = fmt.Sprint("Given ", i)
	return in
}

func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = ctx
	}
	return ctxs
}

// TestGatheredWritesShareTransactions: 42 concurrent creates of one
// connection run in 3 transactions (two alone, then the 40 that waited
// behind them in one), and each caller gets its own card.
func TestGatheredWritesShareTransactions(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(h, ssoPolicy())
		const n = 42
		ins := make([]directory.ClaimInput, n)
		for i := range ins {
			ins[i] = scimUser(i)
		}
		outs, errs := gathered(t, svc, h, backgrounds(n), ins)
		seen := map[string]bool{}
		for i := range ins {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			c := outs[i].Card
			if !outs[i].Created || c.Email != ins[i].Email || c.Attributes.GivenName != ins[i].Attributes.GivenName || seen[c.ID] {
				t.Fatalf("call %d (%s) got card %s %s %q, created %v", i, ins[i].Email, c.ID, c.Email, c.Attributes.GivenName, outs[i].Created)
			}
			seen[c.ID] = true
			stored, err := st.GetCard(ctx, "acme", c.ID)
			if err != nil || stored.Email != ins[i].Email {
				t.Fatalf("card %s stored as %+v, %v", c.ID, stored, err)
			}
		}
		if got := h.txs.Load(); got != 3 {
			t.Fatalf("%d write transactions for %d calls, want 3", got, n)
		}
		if got := directory.GatherWaiting(svc); got != 0 {
			t.Fatalf("%d calls still waiting", got)
		}
	})
}

// TestGatheredRefusalStopsNoOther: in one gathered transaction, a second
// POST of a userName is refused as it would be alone, and the calls
// around it apply.
func TestGatheredRefusalStopsNoOther(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(h, ssoPolicy())
		ins := []directory.ClaimInput{scimUser(0), scimUser(1), scimUser(2), scimUser(3), scimUser(2), scimUser(5)}
		ins[4].Email = "someone.else@example.com" // same userName as ins[2], another address
		outs, errs := gathered(t, svc, h, backgrounds(len(ins)), ins)
		refused, won := 4, 2 // the second POST of user02's userName, and the first
		for i := range ins {
			switch {
			case i == refused && !errors.Is(errs[i], directory.ErrLoginTaken):
				t.Fatalf("second POST of %s: %v, want ErrLoginTaken", ins[i].Login, errs[i])
			case i != refused && (errs[i] != nil || outs[i].Card.Email != ins[i].Email):
				t.Fatalf("call %d: %+v, %v", i, outs[i].Card, errs[i])
			}
		}
		if h.txs.Load() != 3 {
			t.Fatalf("%d transactions, want 3 (the four waiting calls in one)", h.txs.Load())
		}
		if _, err := st.GetCardByEmail(ctx, "acme", ins[refused].Email); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused POST left a card: %v", err)
		}
		if _, err := st.GetCardByEmail(ctx, "acme", ins[won].Email); err != nil {
			t.Fatalf("the first POST of the userName: %v", err)
		}
	})
}

// TestGatheredStoreErrorRunsEachAlone: when the store fails a gathered
// transaction, each of its calls runs again alone: only the one whose
// write fails gets the error, the others apply.
func TestGatheredStoreErrorRunsEachAlone(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(h, ssoPolicy())
		const n = 10
		ins := make([]directory.ClaimInput, n)
		for i := range ins {
			ins[i] = scimUser(i)
		}
		h.failEmail = "user06@example.com"
		outs, errs := gathered(t, svc, h, backgrounds(n), ins)
		for i := range ins {
			switch {
			case i == 6 && !errors.Is(errs[i], errInjected):
				t.Fatalf("call 6: %v, want the injected fault", errs[i])
			case i != 6 && (errs[i] != nil || !strings.EqualFold(outs[i].Card.Email, ins[i].Email)):
				t.Fatalf("call %d: %+v, %v", i, outs[i].Card, errs[i])
			}
		}
		// 2 alone, the gathered 8 (failed), then the 8 alone again.
		if got := h.txs.Load(); got != 2+1+8 {
			t.Fatalf("%d transactions, want 11", got)
		}
		cards, err := st.ListCards(ctx, store.CardFilter{Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if len(cards) != n-1 {
			t.Fatalf("%d cards, want %d", len(cards), n-1)
		}
	})
}

// TestGatheredCallerGoneLeavesTheQueue: a caller that goes away while it
// waits (an IdP's request timing out behind a slow transaction) leaves
// the queue and writes nothing; the calls around it apply.
func TestGatheredCallerGoneLeavesTheQueue(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(h, ssoPolicy())
		ins := []directory.ClaimInput{scimUser(0), scimUser(1), scimUser(2), scimUser(3), scimUser(4)}
		ctxs := backgrounds(len(ins))
		gone, cancel := context.WithCancel(ctx)
		ctxs[3] = gone
		outs, errs := gatheredUntil(t, svc, h, ctxs, ins, func() {
			// Once every call waits, the second to wait goes away.
			cancel()
			deadline := time.Now().Add(10 * time.Second)
			for directory.GatherWaiting(svc) != 2 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			close(h.release)
		})
		for i := range ins {
			switch {
			case i == 3 && !errors.Is(errs[i], context.Canceled):
				t.Fatalf("the call that went away: %+v, %v; want context.Canceled", outs[i].Card, errs[i])
			case i != 3 && (errs[i] != nil || outs[i].Card.Email != ins[i].Email):
				t.Fatalf("call %d: %+v, %v", i, outs[i].Card, errs[i])
			}
		}
		if _, err := st.GetCardByEmail(ctx, "acme", ins[3].Email); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the call that went away wrote its card: %v", err)
		}
		if got := h.txs.Load(); got != 3 {
			t.Fatalf("%d transactions, want 3 (two alone, the two that stayed together)", got)
		}
	})
}

// TestGatheredOneCallPerCard: calls that name the same card go in
// separate transactions, each change with its own version; calls of
// other cards still share.
func TestGatheredOneCallPerCard(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(st, ssoPolicy())
		var ids []string
		for i := range 2 {
			out, err := svc.ApplyClaim(ctx, actor("scim:okta"), scimUser(10+i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, out.Card.ID)
		}
		svc, _ = newService(h, ssoPolicy())
		edit := func(id, title string) directory.ClaimInput {
			in := scimUser(0)
			in.CardID, in.MustBeNew, in.Login, in.Email = id, false, "", ""
			in.Attributes.Title = title
			return in
		}
		ins := []directory.ClaimInput{scimUser(0), scimUser(1), edit(ids[0], "first"), edit(ids[0], "second"), edit(ids[1], "other")}
		outs, errs := gathered(t, svc, h, backgrounds(len(ins)), ins)
		for i := range ins {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
		}
		if v2, v3 := outs[2].Card.Version, outs[3].Card.Version; v2 != 2 || v3 != 3 {
			t.Fatalf("two changes of one card at versions %d and %d, want 2 and 3", v2, v3)
		}
		// 2 alone; then the first change of card 0 with card 1's; then the second.
		if got := h.txs.Load(); got != 4 {
			t.Fatalf("%d transactions, want 4", got)
		}
	})
}

// TestGatheredCardWaitsForItsRunningChange: a change of a card waits
// while a transaction writing that card runs, even with a slot free, so
// that one card's changes apply in the order they came (two in flight
// at once could commit in either order).
func TestGatheredCardWaitsForItsRunningChange(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		h.txs.Store(2) // none held: only the blocked write below waits
		svc, _ := newService(h, ssoPolicy())
		out, err := svc.ApplyClaim(ctx, actor("scim:okta"), scimUser(0))
		if err != nil {
			t.Fatal(err)
		}
		edit := func(title string) directory.ClaimInput {
			in := scimUser(0)
			in.CardID, in.MustBeNew, in.Login, in.Email = out.Card.ID, false, "", ""
			in.Attributes.Title = title
			return in
		}
		h.blockEmail.Store("user00@example.com")
		var once sync.Once
		unblock := func() { once.Do(func() { h.blockEmail.Store(""); close(h.unblock) }) }
		t.Cleanup(unblock) // a failed test leaves no write waiting
		type result struct {
			out directory.Outcome
			err error
		}
		first, second := make(chan result, 1), make(chan result, 1)
		go func() {
			o, err := svc.ApplyClaim(ctx, actor("scim:okta"), edit("first"))
			first <- result{o, err}
		}()
		<-h.blocked // the first change is in its transaction, writing
		go func() {
			o, err := svc.ApplyClaim(ctx, actor("scim:okta"), edit("second"))
			second <- result{o, err}
		}()
		deadline := time.Now().Add(10 * time.Second)
		for directory.GatherWaiting(svc) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the second change of the card does not wait for the first (%d waiting)", directory.GatherWaiting(svc))
			}
			time.Sleep(100 * time.Microsecond)
		}
		unblock()
		a, b := <-first, <-second
		if a.err != nil || b.err != nil || a.out.Card.Version != 2 || b.out.Card.Version != 3 || b.out.Card.Attributes.Title != "second" {
			t.Fatalf("first: version %d, %v; second: version %d %q, %v; want 2, then 3 with the second title",
				a.out.Card.Version, a.err, b.out.Card.Version, b.out.Card.Attributes.Title, b.err)
		}
	})
}

// TestGatheredPanicAnswersEveryone: when a gathered transaction panics
// (in the goroutine of the call that runs it), the batch's other calls
// are answered with an error, nothing of the batch is written, and the
// connection's next writes go on: nobody waits for ever.
func TestGatheredPanicAnswersEveryone(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		h := newHeldStore(st)
		svc, _ := newService(h, ssoPolicy())
		ins := []directory.ClaimInput{scimUser(0), scimUser(1), scimUser(2), scimUser(3), scimUser(4)}
		h.panicEmail.Store("user03@example.com")
		_, errs := gathered(t, svc, h, backgrounds(len(ins)), ins)
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("the calls alone: %v, %v", errs[0], errs[1])
		}
		if errs[2] == nil || !strings.Contains(errs[2].Error(), "panicked") {
			t.Fatalf("the call that ran the batch: %v, want its panic", errs[2])
		}
		for _, i := range []int{3, 4} {
			if errs[i] == nil || !strings.Contains(errs[i].Error(), "failed unexpectedly") {
				t.Fatalf("call %d of the batch that panicked: %v", i, errs[i])
			}
			if _, err := st.GetCardByEmail(ctx, "acme", ins[i].Email); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("call %d's card was written: %v", i, err)
			}
		}
		h.panicEmail.Store("")
		done := make(chan error, 1)
		go func() { _, err := svc.ApplyClaim(ctx, actor("scim:okta"), scimUser(5)); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the next write: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the next write of the connection waits for ever after a panic")
		}
	})
}
