package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterd/rosterd/store"
)

const runColumns = `id, tenant, feed, kind, status, dry_run, trigger, actor, started_at, finished_at, file_name, file_size,
	file_hash, counts_json, flagged_json, hold_reasons_json, fingerprint, error`

func scanRun(sc scanner, withPlan bool) (store.Run, error) {
	var (
		r                       store.Run
		started, finished       sql.NullInt64
		counts, flagged, reason string
	)
	dest := []any{&r.ID, &r.Tenant, &r.Feed, &r.Kind, &r.Status, &r.DryRun, &r.Trigger, &r.Actor, &started, &finished,
		&r.FileName, &r.FileSize, &r.FileHash, &counts, &flagged, &reason, &r.Fingerprint, &r.Error}
	if withPlan {
		dest = append(dest, &r.Plan)
	}
	if err := sc.Scan(dest...); err != nil {
		return r, err
	}
	r.Started, r.Finished = fromMicros(started), fromMicros(finished)
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return r, fmt.Errorf("run %s: counts: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(reason), &r.HoldReasons); err != nil {
		return r, fmt.Errorf("run %s: hold reasons: %w", r.ID, err)
	}
	r.Flagged = []byte(flagged)
	return r, nil
}

// PutRun implements store.Runs.
func (s *DB) PutRun(ctx context.Context, r store.Run) error {
	counts, err := json.Marshal(r.Counts)
	if err != nil {
		return err
	}
	if r.Counts == nil {
		counts = []byte("{}")
	}
	reasons, err := json.Marshal(r.HoldReasons)
	if err != nil {
		return err
	}
	if r.HoldReasons == nil {
		reasons = []byte("[]")
	}
	flagged := string(r.Flagged)
	if flagged == "" {
		flagged = "[]"
	}
	var plan any
	if r.Plan != nil {
		plan = r.Plan
	}
	_, err = s.SQL.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`, plan) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, dry_run = excluded.dry_run, trigger = excluded.trigger,
		actor = excluded.actor, finished_at = excluded.finished_at, file_name = excluded.file_name, file_size = excluded.file_size,
		file_hash = excluded.file_hash, counts_json = excluded.counts_json, flagged_json = excluded.flagged_json,
		hold_reasons_json = excluded.hold_reasons_json, plan = COALESCE(excluded.plan, runs.plan),
		fingerprint = excluded.fingerprint, error = excluded.error`,
		r.ID, r.Tenant, r.Feed, r.Kind, r.Status, r.DryRun, r.Trigger, r.Actor, micros(r.Started), micros(r.Finished),
		r.FileName, r.FileSize, r.FileHash, string(counts), flagged, string(reasons), r.Fingerprint, r.Error, plan)
	if err != nil {
		return s.d.MapError(fmt.Errorf("storing run %s: %w", r.ID, err))
	}
	return nil
}

// GetRun implements store.Runs.
func (s *DB) GetRun(ctx context.Context, tenant, id string) (store.Run, error) {
	row := s.queryRowContext(ctx, `SELECT `+runColumns+`, plan FROM runs WHERE tenant = $1 AND id = $2`, tenant, id)
	r, err := scanRun(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, s.d.MapError(fmt.Errorf("reading run %s: %w", id, err))
	}
	return r, nil
}

// ListRuns implements store.Runs.
func (s *DB) ListRuns(ctx context.Context, q store.RunQuery) ([]store.Run, error) {
	where, args := []string{"tenant = $1"}, []any{q.Tenant}
	if q.Feed != "" {
		args = append(args, q.Feed)
		where = append(where, "feed = $"+strconv.Itoa(len(args)))
	}
	if q.Before != "" {
		args = append(args, q.Before)
		where = append(where, "id < $"+strconv.Itoa(len(args)))
	}
	if len(q.Statuses) > 0 {
		var ph []string
		for _, st := range q.Statuses {
			args = append(args, st)
			ph = append(ph, "$"+strconv.Itoa(len(args)))
		}
		where = append(where, "status IN ("+strings.Join(ph, ",")+")")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, limit)
	rows, err := s.queryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, s.d.MapError(fmt.Errorf("listing runs: %w", err))
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LastRun implements store.Runs.
func (s *DB) LastRun(ctx context.Context, tenant, feed string, statuses ...string) (store.Run, error) {
	where, args := []string{"tenant = $1", "feed = $2"}, []any{tenant, feed}
	if len(statuses) > 0 {
		var ph []string
		for _, st := range statuses {
			args = append(args, st)
			ph = append(ph, "$"+strconv.Itoa(len(args)))
		}
		where = append(where, "status IN ("+strings.Join(ph, ",")+")")
	}
	row := s.queryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT 1`, args...)
	r, err := scanRun(row, false)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, s.d.MapError(fmt.Errorf("reading the last run of %s: %w", feed, err))
	}
	return r, nil
}

// SourceClaims implements store.Runs. Rows stream: a source of a million
// claims is not held twice in memory. No ORDER BY: sorting a million rows
// (or walking an index to the heap in card order) was a third of the read.
func (s *DB) SourceClaims(ctx context.Context, tenant, source string, fn func(store.Claim) error) error {
	rows, err := s.queryContext(ctx, `SELECT card_id, external_id, email, state, authoritative, attrs_json
		FROM claims WHERE tenant = $1 AND source = $2`, tenant, source)
	if err != nil {
		return s.d.MapError(fmt.Errorf("reading claims of %s: %w", source, err))
	}
	defer rows.Close()
	c := store.Claim{Tenant: tenant, Source: source}
	var state string
	var attrs sql.RawBytes // decoded at once: no copy of a million attribute sets
	for rows.Next() {
		c.Attributes = store.Attributes{}
		if err := rows.Scan(&c.CardID, &c.ExternalID, &c.Email, &state, &c.Authoritative, &attrs); err != nil {
			return s.d.MapError(fmt.Errorf("reading claims of %s: %w", source, err))
		}
		c.State = store.ClaimState(state)
		if err := json.Unmarshal(attrs, &c.Attributes); err != nil {
			return fmt.Errorf("claim %s/%s: attributes: %w", c.CardID, source, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.d.MapError(fmt.Errorf("reading claims of %s: %w", source, err))
	}
	return nil
}

// SourceFingerprint implements store.Runs: every change of a claim moves
// its last_seen, so the count, the latest and a checksum of them change.
func (s *DB) SourceFingerprint(ctx context.Context, tenant, source string) (string, error) {
	var n, latest, sum int64
	err := s.queryRowContext(ctx, `SELECT count(*), COALESCE(max(last_seen), 0), COALESCE(sum(last_seen % 1000003), 0)
		FROM claims WHERE tenant = $1 AND source = $2`, tenant, source).Scan(&n, &latest, &sum)
	if err != nil {
		return "", s.d.MapError(fmt.Errorf("fingerprinting claims of %s: %w", source, err))
	}
	return fmt.Sprintf("%d:%d:%d", n, latest, sum), nil
}

// ClaimSlot implements store.Runs.
func (s *DB) ClaimSlot(ctx context.Context, tenant, feed string, due time.Time) (bool, error) {
	res, err := s.SQL.ExecContext(ctx, `INSERT INTO schedule_slots (tenant, feed, due_at, claimed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, tenant, feed, due.UnixMicro(), time.Now().UnixMicro())
	if err != nil {
		return false, s.d.MapError(fmt.Errorf("claiming the run of %s due %s: %w", feed, due, err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// inProcessLocks are SQLite's named locks: one process serves one SQLite
// file.
var inProcessLocks sync.Map // name → *sync.Mutex

// TryLock implements store.Runs.
func (s *DB) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if !s.d.AdvisoryLocks {
		v, _ := inProcessLocks.LoadOrStore(s.lockScope()+name, &sync.Mutex{})
		mu := v.(*sync.Mutex)
		if !mu.TryLock() {
			return nil, false, nil
		}
		return mu.Unlock, true, nil
	}
	// An advisory lock belongs to a session: hold it on a connection of its
	// own, which nothing else borrows until it is released.
	conn, err := s.SQL.Conn(ctx)
	if err != nil {
		return nil, false, s.d.MapError(fmt.Errorf("lock %s: %w", name, err))
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	key := int64(h.Sum64())
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, s.d.MapError(fmt.Errorf("lock %s: %w", name, err))
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Closing the connection would release the lock too, but a
			// pooled connection may live on: unlock explicitly.
			conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key)
			conn.Close()
		})
	}, true, nil
}

// lockScope separates the in-process locks of two stores in one process
// (tests open many).
func (s *DB) lockScope() string { return fmt.Sprintf("%p/", s) }
