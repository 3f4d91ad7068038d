package reconcile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// Action is what a plan does with one person.
type Action string

const (
	// Create: nobody has a card for this person yet.
	Create Action = "create"
	// Claim: a card exists (another source brought it in, or this source
	// listed the person before and withdrew): this source claims it.
	Claim Action = "claim"
	// Update: the source's claim changes attributes or email.
	Update Action = "update"
	// Deactivate: the source now says the person must not get in.
	Deactivate Action = "deactivate"
	// Reactivate: the source lists a deactivated person as active again.
	Reactivate Action = "reactivate"
	// Withdraw: the source no longer lists the person.
	Withdraw Action = "withdraw"
	// Unchanged: nothing to do (counted, not listed).
	Unchanged Action = "unchanged"
)

// Change is one line of a plan.
type Change struct {
	Action Action `json:"action"`
	Key    string `json:"key"`
	Email  string `json:"email,omitempty"`
	// CardID is the card the change lands on; empty for a create.
	CardID string `json:"card_id,omitempty"`
	// Attributes lists what an update changes, old → new.
	Attributes []directory.AttributeChange `json:"attributes,omitempty"`
	// Cleared names the attributes of Attributes the change empties: a
	// full roster's blank cell or missing column, a partial source's blank
	// cell with clear_empty.
	Cleared []string `json:"cleared,omitempty"`
	// Effect is what the directory would do to the card: "enable",
	// "disable", or "" for neither.
	Effect string `json:"effect,omitempty"`
	// Refused says why the directory would refuse the change (an email
	// that is another card's).
	Refused string `json:"refused,omitempty"`
	Line    string `json:"line,omitempty"`

	// The review of an import's change (Source.Import): the card's version
	// when planned (0 for a card the change creates), the attributes the
	// card will have (Card), what of the card's attributes change
	// (CardChanges: the card's, not the claim's, old → new), and whether
	// the change invites the person.
	Version     int64                       `json:"version,omitempty"`
	Card        *directory.Attributes       `json:"card,omitempty"`
	CardChanges []directory.AttributeChange `json:"card_changes,omitempty"`
	Invite      bool                        `json:"invite,omitempty"`
}

// Plan is the diff of a snapshot against a source's claims.
type Plan struct {
	Tenant string `json:"tenant"`
	Source string `json:"source"`
	// Records is the number of valid records in the snapshot; Flagged its
	// skipped rows.
	Records int    `json:"records"`
	Flagged []Flag `json:"flagged,omitempty"`
	// Changes lists everything but the unchanged, in snapshot order, then
	// the withdrawals.
	Changes []Change       `json:"changes"`
	Counts  map[string]int `json:"counts"`
	// Present is how many people this source listed as present before.
	Present int `json:"present"`
	// PresentAre names who Present counts, for the brake's reasons;
	// empty: "people the source lists" (a bulk action's plan counts the
	// tenant's enabled cards instead).
	PresentAre string `json:"-"`
	// FullRoster: the snapshot is everyone; those it omits are withdrawn.
	FullRoster bool `json:"full_roster"`
	// Partial: the snapshot asserts only the attributes of its Columns;
	// the claims keep the others (directory.ClaimAttributes). ClearEmpty:
	// an empty cell of those columns clears the attribute.
	Partial    bool     `json:"partial,omitempty"`
	Columns    []string `json:"columns,omitempty"`
	ClearEmpty bool     `json:"clear_empty,omitempty"`
	// Fingerprint is the source's claims' state the plan was made against.
	Fingerprint string `json:"fingerprint"`
	// Review is the dry run whose plan this one applies (ApplyReview).
	Review string `json:"review,omitempty"`

	// What the i-th change applies is made when it is previewed or
	// applied, a batch at a time (input): a million claim inputs held from
	// the plan to the end of its apply were a third of an import's memory.
	// from[i] ≥ 0 is the snapshot's record the change states, -1-k the
	// k-th withdrawal. A stored plan has none: it is made again from its
	// snapshot to be applied.
	from      []int32
	records   []Record
	withdrawn []store.Claim
	src       Source
	partial   *directory.Partial
	// listed, for a plan made not to list its changes, is them as the
	// stored run keeps them: a gzip member of their JSON array (encodePlan
	// splices it in). refused are the changes the preview refused, by
	// index: the apply skips them.
	listed  []byte
	refused []int32
	// bound: each change applies only to the card at the version it has
	// (ApplyReview: the version the review showed).
	bound bool
	// cards: the changes say what each card will be (Card, CardChanges).
	cards bool
}

// applies reports whether p was made by MakePlan, so that it knows what
// each of its changes applies. A stored plan does not.
func (p *Plan) applies() bool { return p.listed != nil || len(p.from) == len(p.Changes) }

// list lists a plan's changes (Changes) that it kept only encoded.
func (p *Plan) list() error {
	if p.listed == nil {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.listed))
	if err != nil {
		return err
	}
	var chs []Change
	if err := json.NewDecoder(zr).Decode(&chs); err != nil {
		return fmt.Errorf("listing the plan's changes: %w", err)
	}
	p.Changes, p.listed = chs, nil
	return nil
}

// noteCards notes on each change what its card will be, on a plan made
// without: a held import's, for whoever approves it.
func (p *Plan) noteCards(ctx context.Context, dir Directory) error {
	if p.cards || !p.src.Import || !p.applies() {
		return nil
	}
	// The changes are previewed again, as they were when planned.
	prepare := func(lo, hi int) ([]Change, []directory.ClaimInput) { return p.Changes[lo:hi], p.inputs(span(lo, hi)) }
	err := p.previewInOrder(ctx, dir, len(p.Changes), prepare, func(_ int, chs []Change, outs []directory.Outcome) error {
		for i, o := range outs {
			if o.Err == nil && o.Changed {
				noteCard(&chs[i], o)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("previewing the cards: %w", err)
	}
	p.cards = true
	return nil
}

// input is the claim the plan's i-th change applies.
func (p *Plan) input(i int) directory.ClaimInput {
	var version int64
	if p.bound {
		version = p.Changes[i].Version
	}
	return p.inputAt(p.from[i], version)
}

// inputAt is the claim of the change of at (a record's index in the
// snapshot, or -1-k for the k-th withdrawal), bound to the card's version
// when it is not 0.
func (p *Plan) inputAt(at int32, version int64) directory.ClaimInput {
	src := p.src
	if at < 0 {
		c := p.withdrawn[-1-at]
		return directory.ClaimInput{Tenant: src.Tenant, Source: src.Name, ExternalID: c.ExternalID, CardID: c.CardID,
			Email: c.Email, State: store.Withdrawn, Authoritative: c.Authoritative}
	}
	rec := &p.records[at]
	state := store.Present
	if rec.Deactivated {
		state = store.Deactivated
	}
	return directory.ClaimInput{Tenant: src.Tenant, Source: src.Name, ExternalID: rec.Key, Email: rec.Email,
		State: state, Authoritative: src.Authoritative, Attributes: rec.Attributes, Partial: p.partial, Import: src.Import,
		Invite: src.Invite, IfVersion: version}
}

// inputs are the claims of the changes at, in order.
func (p *Plan) inputs(at []int32) []directory.ClaimInput {
	ins := make([]directory.ClaimInput, len(at))
	for j, i := range at {
		ins[j] = p.input(int(i))
	}
	return ins
}

// span is lo, lo+1, … hi-1.
func span(lo, hi int) []int32 {
	s := make([]int32, hi-lo)
	for i := range s {
		s[i] = int32(lo + i)
	}
	return s
}

// Directory is what reconcile needs of the directory service.
type Directory interface {
	Preview(ctx context.Context, actor directory.Actor, ins []directory.ClaimInput) ([]directory.Outcome, error)
	ApplyInputs(ctx context.Context, actor directory.Actor, n int, inputs func(lo, hi int) []directory.ClaimInput, opt directory.BatchOptions) ([]directory.Outcome, error)
}

// Claims is what reconcile needs of the store.
type Claims interface {
	SourceClaims(ctx context.Context, tenant, source string, fn func(store.Claim) error) error
	SourceFingerprint(ctx context.Context, tenant, source string) (string, error)
}

// Source names a snapshot source and how its claims count.
type Source struct {
	Tenant string
	// Name is the claims' source: "file:hr", "ldap:corp", "admin".
	Name string
	// Authoritative sources decide enabled/disabled.
	Authoritative bool
	// Withdraw: people the snapshot omits are withdrawn (a full roster).
	// An admin's import that is not a full roster only adds and updates.
	Withdraw bool
	// Invite overrides the tenant's auto-invite for cards this source
	// creates; nil = the tenant's policy.
	Invite *bool
	// Partial: a record asserts only the attributes of the snapshot's
	// Columns (an import, a feed configured partial: true); an attribute
	// it has no column for keeps the claim's value, and so does one whose
	// cell is empty, unless ClearEmpty. A snapshot without Columns is
	// taken whole.
	Partial    bool
	ClearEmpty bool
	// Import: an admin's one-off import, not a source that goes on listing
	// people (directory.ClaimInput.Import).
	Import bool
}

// bigSnapshot is the size from which MakePlan starts with a collection.
const bigSnapshot = 250_000

// previewBatch bounds one preview transaction.
const previewBatch = 1000

// MakePlan diffs a snapshot against the source's claims: who is new, who
// changed, who left. Which cards would be enabled or disabled is asked of
// the directory (Preview), never decided here. An import's plan is its
// review: each change says what the card will be (Card, CardChanges).
func MakePlan(ctx context.Context, dir Directory, claims Claims, src Source, snap Snapshot) (Plan, error) {
	return makePlan(ctx, dir, claims, src, snap, planFor{cards: src.Import, list: true})
}

// planFor says what a plan made by makePlan is read for.
type planFor struct {
	// cards: each change says what its card will be (an import's review).
	cards bool
	// list: the plan lists its changes (Changes). Otherwise they are kept
	// only as the stored run keeps them, encoded (a plan applied at once:
	// a million changes in memory for nobody; the run is where they are
	// read).
	list bool
	// progress, when set, is told how many changes are previewed
	// (RunOptions.Progress, Planning).
	progress func(phase Phase, done, total int)
}

// makePlan is MakePlan, made for how. A plan that is applied at once is
// read by nobody: for a million new people, what each card would be was
// half of its memory, and its changes listed another third.
func makePlan(ctx context.Context, dir Directory, claims Claims, src Source, snap Snapshot, how planFor) (Plan, error) {
	fingerprint, err := claims.SourceFingerprint(ctx, src.Tenant, src.Name)
	if err != nil {
		return Plan{}, err
	}
	if len(snap.Records) >= bigSnapshot {
		// The garbage collector last measured the heap while the source's
		// bytes and the parser's tables were live, and lets the heap grow
		// to twice that before it looks again: for a million rows that is
		// 1.08 GB of resident memory during the plan, where one collection
		// here (~55 ms) keeps it at 0.91 GB (BENCHMARKS.md, file feeds).
		runtime.GC()
	}
	// Claims are compared with the records as they stream in, and only the
	// ones that differ are kept: a roster of a million unchanged people
	// holds the snapshot, an index of it, and little else. The index is
	// made at the first claim: a source that has none yet (a first
	// import, a new feed) needs no index of a million keys.
	var index map[string]int32
	find := func(key string) (int32, bool) {
		if index == nil {
			index = make(map[string]int32, len(snap.Records))
			for i, rec := range snap.Records {
				index[rec.Key] = int32(i)
			}
		}
		i, ok := index[key]
		return i, ok
	}
	// A bad row that names its person keeps them as they are.
	flaggedKeys := map[string]bool{}
	for _, f := range snap.Flagged {
		if f.Key != "" {
			flaggedKeys[f.Key] = true
		}
	}
	var partial *directory.Partial
	if src.Partial && snap.Columns != nil {
		partial = &directory.Partial{Attributes: snap.Columns, ClearEmpty: src.ClearEmpty}
	}
	var (
		present   int
		unchanged = make([]bool, len(snap.Records))
		differ    = map[int32]store.Claim{}
		gone      []store.Claim
	)
	err = claims.SourceClaims(ctx, src.Tenant, src.Name, func(c store.Claim) error {
		if c.State == store.Present {
			present++
		}
		key := claimKey(c)
		i, listed := find(key)
		switch {
		case !listed:
			if src.Withdraw && c.State != store.Withdrawn && !flaggedKeys[key] {
				gone = append(gone, store.Claim{CardID: c.CardID, ExternalID: c.ExternalID, Email: c.Email, Authoritative: c.Authoritative})
			}
		case sameClaim(c, snap.Records[i], src.Authoritative, partial):
			unchanged[i] = true
		default:
			differ[i] = c
		}
		return nil
	})
	if err != nil {
		return Plan{}, fmt.Errorf("reading the claims of %s: %w", src.Name, err)
	}

	p := Plan{Tenant: src.Tenant, Source: src.Name, Records: len(snap.Records), Flagged: snap.Flagged,
		Counts: map[string]int{}, Present: present, Fingerprint: fingerprint, FullRoster: src.Withdraw,
		records: snap.Records, src: src, partial: partial, cards: how.cards && src.Import}
	if partial != nil {
		p.Partial, p.Columns, p.ClearEmpty = true, partial.Attributes, partial.ClearEmpty
	}
	// The changes to preview, in the plan's order: the records that are
	// new or differ, in snapshot order, then the withdrawals by key (they
	// come from a map), so that a plan reads the same every time.
	todo := make([]int32, 0, len(snap.Records)+len(gone))
	for i := range snap.Records {
		if unchanged[i] {
			p.Counts[string(Unchanged)]++
			continue
		}
		todo = append(todo, int32(i))
	}
	if src.Withdraw {
		type withdrawal struct {
			key string
			c   store.Claim
		}
		ws := make([]withdrawal, len(gone))
		for i, c := range gone {
			ws[i] = withdrawal{claimKey(c), c}
		}
		slices.SortFunc(ws, func(a, b withdrawal) int { return strings.Compare(a.key, b.key) })
		p.withdrawn = make([]store.Claim, len(ws))
		for k, w := range ws {
			p.withdrawn[k] = w.c
			todo = append(todo, int32(-1-k))
		}
	}
	p.from = make([]int32, 0, len(todo))
	var stream *changeStream
	if how.list {
		p.Changes = make([]Change, 0, len(todo))
	} else {
		stream = newChangeStream()
	}
	previewed := 0
	if how.progress != nil {
		how.progress(Planning, 0, len(todo))
	}
	// What the directory would not write at all is unchanged, not a change.
	prepare := func(lo, hi int) ([]Change, []directory.ClaimInput) {
		chs, ins := make([]Change, hi-lo), make([]directory.ClaimInput, hi-lo)
		for j, at := range todo[lo:hi] {
			chs[j], ins[j] = p.change(at, differ), p.inputAt(at, 0)
		}
		return chs, ins
	}
	err = p.previewInOrder(ctx, dir, len(todo), prepare, func(lo int, chs []Change, outs []directory.Outcome) error {
		previewPart(chs, outs, p.src.Import, p.cards)
		from := todo[lo:]
		if previewed += len(chs); how.progress != nil {
			defer how.progress(Planning, previewed, len(todo))
		}
		for j := range chs {
			ch := &chs[j]
			if ch.Action == Unchanged {
				p.Counts[string(Unchanged)]++
				continue
			}
			p.Counts[string(ch.Action)]++
			if ch.Effect != "" {
				p.Counts[ch.Effect]++
			}
			if ch.Refused != "" {
				p.Counts["refused"]++
				p.refused = append(p.refused, int32(len(p.from)))
			}
			if ch.Invite {
				p.Counts["invited"]++
			}
			p.from = append(p.from, from[j])
			if how.list {
				p.Changes = append(p.Changes, *ch)
			} else if err := stream.add(ch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Plan{}, fmt.Errorf("previewing the plan: %w", err)
	}
	if stream != nil {
		if p.listed, err = stream.close(); err != nil {
			return Plan{}, err
		}
	}
	p.Counts["records"], p.Counts["flagged"] = len(snap.Records), len(snap.Flagged)
	return p, nil
}

// change is what the plan's change of at (a record's index in the
// snapshot, or -1-k for the k-th withdrawal) is before its preview.
// differ is the source's claims that differ from their records.
func (p *Plan) change(at int32, differ map[int32]store.Claim) Change {
	if at < 0 {
		c := p.withdrawn[-1-at]
		return Change{Action: Withdraw, Key: claimKey(c), Email: c.Email, CardID: c.CardID}
	}
	rec := &p.records[at]
	c, had := differ[at]
	ch := Change{Key: rec.Key, Email: rec.Email, Line: rec.Line}
	switch {
	case !had:
		ch.Action = Create // or Claim, once the directory has said whether a card exists
	case c.State == store.Withdrawn:
		ch.Action, ch.CardID = Claim, c.CardID
	case c.State == store.Present && rec.Deactivated:
		ch.Action, ch.CardID = Deactivate, c.CardID
	case c.State == store.Deactivated && !rec.Deactivated:
		ch.Action, ch.CardID = Reactivate, c.CardID
	default:
		ch.Action, ch.CardID = Update, c.CardID
	}
	if had {
		next := directory.ClaimAttributes(c.Attributes, rec.Attributes, p.partial)
		ch.Attributes = directory.AttributeChanges(c.Attributes, next)
		ch.Cleared = directory.ClearedAttributes(c.Attributes, next)
		if c.Email != rec.Email {
			ch.Attributes = append([]directory.AttributeChange{{Name: "email", Old: c.Email, New: rec.Email}}, ch.Attributes...)
		}
	}
	return ch
}

// previewInOrder asks the directory what n changes would do, a batch at
// a time: prepare(lo, hi) makes a batch's changes and their claims, in
// one of previewWorkers goroutines, and emit is handed each batch's
// changes and outcomes in order, one call at a time. Each preview is a
// read-only transaction of its own, so the batches do not see each
// other; no more than previewWorkers are made before their turn.
func (p *Plan) previewInOrder(ctx context.Context, dir Directory, n int,
	prepare func(lo, hi int) ([]Change, []directory.ClaimInput),
	emit func(lo int, chs []Change, outs []directory.Outcome) error) error {
	type batch struct {
		lo   int
		chs  []Change
		outs []directory.Outcome
		err  error
		done chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	actor := directory.Actor{Name: p.src.Name}
	// One batch is waited on, the queue holds the others in flight.
	queue := make(chan *batch, previewWorkers()-1)
	go func() {
		defer close(queue)
		for lo := 0; lo < n; lo += previewBatch {
			b := &batch{lo: lo, done: make(chan struct{})}
			select {
			case queue <- b:
			case <-ctx.Done():
				return
			}
			go func() {
				defer close(b.done)
				var ins []directory.ClaimInput
				b.chs, ins = prepare(lo, min(lo+previewBatch, n))
				b.outs, b.err = dir.Preview(ctx, actor, ins)
			}()
		}
	}()
	var err error
	for b := range queue {
		<-b.done
		if err == nil {
			if err = b.err; err == nil {
				err = emit(b.lo, b.chs, b.outs)
			}
		}
		if err != nil {
			cancel() // the rest are drained, not emitted
		}
	}
	return err
}

// previewWorkers is how many previews a plan runs at once: one per CPU,
// at most 4 (each holds a database connection).
func previewWorkers() int { return min(runtime.GOMAXPROCS(0), 4) }

// previewPart notes on part's changes what the directory's preview of
// them (outs) says they would do: a refusal, a create that would claim an
// existing card, the effect on the card's access, or nothing at all
// (Unchanged, which MakePlan then counts rather than lists).
//
// With review (an import), it notes the card's version now and whether
// the person would be invited; with cards too, what the card will be:
// its attributes after, and what of them change.
func previewPart(part []Change, outs []directory.Outcome, review, cards bool) {
	for i, o := range outs {
		ch := &part[i]
		if review && o.Err == nil && o.Changed {
			noteReview(ch, o)
			if cards {
				noteCard(ch, o)
			}
		}
		switch {
		case o.Err != nil:
			ch.Refused = o.Err.Error()
		case !o.Changed:
			ch.Action = Unchanged // the directory would write nothing
			continue
		case ch.Action == Create && !o.Created:
			ch.Action, ch.CardID = Claim, o.Card.ID
		}
		switch o.Event {
		case "card.enabled":
			ch.Effect = "enable"
		case "card.disabled":
			ch.Effect = "disable"
		case "card.created":
			if o.Card.Enabled {
				ch.Effect = "enable"
			}
		}
	}
}

// sameClaim reports whether the source's claim already says what the
// record says, as the directory would apply it (partial: see
// directory.ClaimAttributes).
func sameClaim(c store.Claim, rec Record, authoritative bool, partial *directory.Partial) bool {
	state := store.Present
	if rec.Deactivated {
		state = store.Deactivated
	}
	return c.State == state && c.Email == rec.Email && c.Authoritative == authoritative &&
		len(directory.AttributeChanges(c.Attributes, directory.ClaimAttributes(c.Attributes, rec.Attributes, partial))) == 0
}

func claimKey(c store.Claim) string {
	if c.ExternalID != "" {
		return c.ExternalID
	}
	return strings.ToLower(strings.TrimSpace(c.Email))
}

// noteReview notes on ch what its preview o says an import's review
// holds it to: the card's version now (0 for a card it creates), and
// whether the person would be invited.
func noteReview(ch *Change, o directory.Outcome) {
	ch.Invite = o.Created && o.Card.Invite != nil
	switch {
	case o.Before != nil:
		ch.Version = o.Before.Version
	case !o.Created:
		ch.Version = o.Card.Version
	}
}

// noteCard notes on ch what its preview o says the card will be.
func noteCard(ch *Change, o directory.Outcome) {
	after := o.Card.Attributes
	ch.Card = &after
	ch.CardChanges = nil
	if o.Before == nil && o.Created {
		ch.CardChanges = newCardChanges(after)
		return
	}
	var before directory.Attributes
	if o.Before != nil {
		before = o.Before.Attributes
		if o.Before.Email != o.Card.Email {
			ch.CardChanges = append(ch.CardChanges, directory.AttributeChange{Name: "email", Old: o.Before.Email, New: o.Card.Email})
		}
	}
	ch.CardChanges = append(ch.CardChanges, directory.AttributeChanges(before, after)...)
}

// newCardChanges is directory.AttributeChanges of a new card (from no
// attributes to a), without its general comparison: a review notes one
// for every card an import creates.
func newCardChanges(a directory.Attributes) []directory.AttributeChange {
	// Sized to what the card has, not to every attribute it could have: a
	// review of a million creates keeps every one of these lists.
	n := 0
	for _, name := range store.TextAttributes {
		if *a.Text(name) != "" {
			n++
		}
	}
	if len(a.Groups) > 0 {
		n++
	}
	for _, v := range a.Custom {
		if v != "" {
			n++
		}
	}
	for _, v := range a.Relations {
		if v != "" {
			n++
		}
	}
	out := make([]directory.AttributeChange, 0, n)
	for _, name := range store.TextAttributes {
		if v := *a.Text(name); v != "" {
			out = append(out, directory.AttributeChange{Name: name, New: v})
		}
	}
	if len(a.Groups) > 0 {
		out = append(out, directory.AttributeChange{Name: "groups", New: strings.Join(a.Groups, ", ")})
	}
	for _, m := range []struct {
		prefix string
		vals   map[string]string
	}{{"custom.", a.Custom}, {"relation.", a.Relations}} {
		start := len(out)
		for k, v := range m.vals {
			if v != "" {
				out = append(out, directory.AttributeChange{Name: m.prefix + k, New: v})
			}
		}
		slices.SortFunc(out[start:], func(x, y directory.AttributeChange) int { return strings.Compare(x.Name, y.Name) })
	}
	return out
}
