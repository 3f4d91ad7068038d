// Package reconcile turns a snapshot source's full roster into changes:
// Snapshot (what the source says now), Plan (the diff against the source's
// claims, and through the directory which cards would be enabled or
// disabled), the safety brake that holds a plan which would disable too
// many, and Apply through the directory service in bounded transactions.
//
// Runner records each run (store.Run) through its life: held, applying,
// applied, failed…; a run a crash left applying is resumed (Resume) or
// closed as superseded or interrupted. Every decision about a stored run
// — approve, reject, resume — is taken under the feed's lock on the run
// as read again under it (withRun). encode.go is how a plan is stored.
//
// It serves every snapshot source alike — HR files, LDAP — and decides
// nobody's enabled state itself: the directory does.
package reconcile
