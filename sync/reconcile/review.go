package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/store"
)

// ErrNotReview: a run named to be applied as a review is not one (not an
// import's dry run, or one kept from before reviews were stored).
var ErrNotReview = errors.New("not an import review")

// ReviewChangedError refuses to apply a review: cards it changes changed
// since it was made (their versions moved), or the import would now do
// something else. Nothing was applied.
type ReviewChangedError struct {
	RunID string
	// Changes says what differs, a line each.
	Changes []string
}

func (e *ReviewChangedError) Error() string {
	return fmt.Sprintf("review %s: cards changed since the review, nothing was applied; review the import again: %s",
		e.RunID, strings.Join(e.Changes, "; "))
}

// maxReviewChanges bounds the lines a ReviewChangedError lists.
const maxReviewChanges = 20

// ApplyReview applies an import's dry run (its review) as it was
// reviewed: the stored snapshot is planned again against the cards as
// they are, and when any change differs from the reviewed one — a card's
// version moved, a card appeared for a person the review creates, a row
// the review left unchanged now changes — nothing is applied and a
// *ReviewChangedError says what. Otherwise a new run applies the plan,
// each change bound to the card version the review showed (a card that
// changes in between is refused, not overwritten); the brake holds it as
// it holds any import. f is the import's feed, as ImportChoices builds it.
func (r *Runner) ApplyReview(ctx context.Context, f Feed, reviewID string, opt RunOptions) (store.Run, error) {
	release, err := r.lock(ctx, f)
	if err != nil {
		return store.Run{}, err
	}
	defer release()
	review, err := r.Store.GetRun(ctx, f.Source.Tenant, reviewID)
	if err != nil {
		return review, err
	}
	if review.Kind != "import" || !review.DryRun || review.Status != store.RunPlanned {
		return review, fmt.Errorf("%w: run %s is a %s run (%s, dry run %v); name an import's dry run", ErrNotReview, reviewID, review.Kind, review.Status, review.DryRun)
	}
	st, err := decodePlan(review.Plan)
	if err != nil || st.Snapshot == nil {
		return review, fmt.Errorf("%w: run %s keeps no snapshot to apply; run the dry run again", ErrNotReview, reviewID)
	}
	snap := *st.Snapshot
	// Listed: it is compared with the review, change by change, and each
	// change binds its card's version.
	plan, err := makePlan(ctx, r.Dir, r.Store, f.Source, snap, planFor{list: true})
	if err != nil {
		return review, err
	}
	if changes := reviewChanges(st.Plan, plan); len(changes) > 0 {
		return review, &ReviewChangedError{RunID: reviewID, Changes: changes}
	}
	plan.bound = true // each change to the card version the review showed
	plan.Review = reviewID
	run := store.Run{ID: uuid.Must(uuid.NewV7()).String(), Tenant: review.Tenant, Feed: review.Feed, Kind: review.Kind,
		Status: store.RunPlanned, Trigger: "review", Actor: opt.Actor, Started: r.now(),
		FileName: review.FileName, FileSize: review.FileSize, FileHash: review.FileHash, Flagged: review.Flagged}
	if run.Flagged == nil && snap.Flagged != nil {
		run.Flagged, _ = json.Marshal(snap.Flagged)
	}
	run.Counts, run.Fingerprint = plan.Counts, plan.Fingerprint
	log := r.runLogger(run).With("review", reviewID)
	if opt.Planned != nil {
		opt.Planned(plan)
	}
	last, err := r.lastApplied(ctx, run.Tenant, run.Feed)
	if err != nil {
		return r.finish(ctx, run, store.RunFailed, err, log)
	}
	if reasons := Hold(plan, f.Limits, last.Counts["records"]); len(reasons) > 0 {
		return r.hold(ctx, f, run, plan, snap, last, reasons, log)
	}
	return r.apply(ctx, f, run, plan, snap, nil, opt, log)
}

// reviewChanges says how a plan made now differs from the reviewed one,
// change by change: nothing when it does exactly what was reviewed to the
// cards at the versions reviewed.
func reviewChanges(was, now Plan) []string {
	var out []string
	add := func(format string, args ...any) {
		out = append(out, fmt.Sprintf(format, args...))
	}
	who := func(ch Change) string {
		s := ch.Email
		if s == "" {
			s = ch.Key
		}
		if ch.Line != "" {
			s += " (" + ch.Line + ")"
		}
		return s
	}
	reviewed := make(map[string]Change, len(was.Changes))
	for _, ch := range was.Changes {
		reviewed[ch.Key] = ch
	}
	seen := make(map[string]bool, len(now.Changes))
	for _, ch := range now.Changes {
		seen[ch.Key] = true
		old, ok := reviewed[ch.Key]
		switch {
		case !ok:
			add("%s: reviewed as unchanged, now %s", who(ch), ch.Action)
		case old.Action != ch.Action:
			add("%s: reviewed as %s, now %s", who(ch), old.Action, ch.Action)
		case old.Version != ch.Version:
			add("%s: the card changed since the review (version %d, now %d)", who(ch), old.Version, ch.Version)
		case old.CardID != ch.CardID:
			add("%s: now lands on card %s, not %s", who(ch), ch.CardID, old.CardID)
		case old.Refused != ch.Refused || old.Effect != ch.Effect || old.Invite != ch.Invite ||
			!slices.Equal(old.Attributes, ch.Attributes) || !slices.Equal(old.Cleared, ch.Cleared):
			add("%s: the change differs from the reviewed one", who(ch))
		}
	}
	for _, ch := range was.Changes {
		if !seen[ch.Key] {
			add("%s: reviewed as %s, now unchanged", who(ch), ch.Action)
		}
	}
	if len(out) > maxReviewChanges {
		n := len(out) - maxReviewChanges
		out = append(out[:maxReviewChanges], fmt.Sprintf("and %d more", n))
	}
	return out
}
