package store

import (
	"context"
	"time"
)

// Run statuses.
const (
	RunPlanned  = "planned"  // a dry run's plan, or a plan about to apply
	RunHeld     = "held"     // the safety brake held the plan for an admin
	RunApplying = "applying" // applying; a crash leaves it so, and it resumes at start
	RunApplied  = "applied"
	RunFailed   = "failed"
	RunSkipped  = "skipped" // nothing to do: no new file, the same content again
	RunRejected = "rejected"
	// RunSuperseded: left applying by a crash, and a newer run of the feed
	// applied before it could resume; the rest of it is never applied.
	RunSuperseded = "superseded"
	// RunInterrupted: left applying by a crash and not resumable (its
	// feed is no longer configured, or its snapshot cannot be read); part
	// of its plan may have applied.
	RunInterrupted = "interrupted"
)

// RunStatuses are all of them, in the order of a run's life.
var RunStatuses = []string{RunPlanned, RunHeld, RunApplying, RunApplied, RunFailed, RunSkipped, RunRejected, RunSuperseded, RunInterrupted}

// Run is one execution of a feed (or an admin import): what it read, what
// it planned, what became of it.
type Run struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	Feed    string    `json:"feed"`
	Kind    string    `json:"kind"` // file | ldap | import
	Status  string    `json:"status"`
	DryRun  bool      `json:"dry_run"`
	Trigger string    `json:"trigger"` // schedule | manual | import | approval | resume
	Actor   string    `json:"actor"`
	Started time.Time `json:"started"`
	// Finished is zero while the run goes on.
	Finished time.Time `json:"finished,omitzero"`
	FileName string    `json:"file_name,omitempty"`
	FileSize int64     `json:"file_size,omitempty"`
	FileHash string    `json:"file_hash,omitempty"`
	// Counts: records, flagged, create, claim, update, deactivate, withdraw,
	// unchanged, enable, disable, applied, …
	Counts map[string]int `json:"counts,omitempty"`
	// Flagged is the JSON list of skipped rows; HoldReasons why a plan was held.
	Flagged     []byte   `json:"-"`
	HoldReasons []string `json:"hold_reasons,omitempty"`
	// Plan is the stored plan (gzip'd JSON), read by GetRun only.
	Plan []byte `json:"-"`
	// Fingerprint is the source's claims' state when the plan was made.
	Fingerprint string `json:"-"`
	Error       string `json:"error,omitempty"`
}

// RunQuery selects runs of a tenant, newest first.
type RunQuery struct {
	Tenant string
	// Feed: "" for all.
	Feed string
	// Statuses: only runs in one of these; none for all.
	Statuses []string
	// Before: the cursor, a run id.
	Before string
	Limit  int
}

// Runs is what sync needs of the store; part of Store.
type Runs interface {
	// PutRun inserts or replaces a run.
	PutRun(ctx context.Context, r Run) error
	GetRun(ctx context.Context, tenant, id string) (Run, error)
	// ListRuns returns runs without their plans.
	ListRuns(ctx context.Context, q RunQuery) ([]Run, error)
	// LastRun returns the newest run of a feed in one of the statuses (any
	// status when none is given), without its plan; ErrNotFound if none.
	LastRun(ctx context.Context, tenant, feed string, statuses ...string) (Run, error)
	// SourceClaims calls fn with every claim of a source, in no particular
	// order, holding what a plan compares: CardID, Tenant, Source,
	// ExternalID, Email, State, Authoritative and Attributes (not Raw,
	// Login, RunID, Actor or the times: a million claims stream in half
	// the time without them).
	SourceClaims(ctx context.Context, tenant, source string, fn func(Claim) error) error
	// SourceFingerprint changes whenever a claim of the source changes.
	SourceFingerprint(ctx context.Context, tenant, source string) (string, error)
	// ClaimSlot records that a feed's run due at due has been started;
	// false when another process recorded it first.
	ClaimSlot(ctx context.Context, tenant, feed string, due time.Time) (bool, error)
	// TryLock takes the named lock if it is free — across processes on
	// PostgreSQL (an advisory lock held on a connection of its own), within
	// the process on SQLite — and returns its release.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}
