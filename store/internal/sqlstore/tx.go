package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rosterd/rosterd/store"
)

// tx implements store.Tx. Every method works on slices and cuts them into
// statements below the dialect's parameter limit, so a batch of thousands
// costs a handful of round trips, not thousands.
type tx struct {
	tx *sql.Tx
	d  Dialect
}

func (t *tx) rowsPer(cols int) int { return max(1, t.d.MaxParams/cols) }

func (t *tx) CardsByEmail(ctx context.Context, tenant string, emailNorms []string) (map[string]store.Card, error) {
	out := make(map[string]store.Card, len(emailNorms))
	err := chunks(emailNorms, t.d.MaxParams-1, func(part []string) error {
		args := make([]any, 0, len(part)+1)
		args = append(args, tenant)
		for _, e := range part {
			args = append(args, e)
		}
		cards, err := queryCards(ctx, t.tx, `SELECT `+cardColumns+` FROM cards WHERE tenant = $1 AND email_norm IN (`+list(len(part), 2)+`) ORDER BY id`+t.d.ForUpdate, args...)
		for _, c := range cards {
			out[c.EmailNorm] = c
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading cards by email: %w", err))
	}
	return out, nil
}

func (t *tx) CardsByID(ctx context.Context, tenant string, ids []string) (map[string]store.Card, error) {
	out := make(map[string]store.Card, len(ids))
	err := chunks(ids, t.d.MaxParams-1, func(part []string) error {
		args := make([]any, 0, len(part)+1)
		args = append(args, tenant)
		for _, id := range part {
			args = append(args, id)
		}
		cards, err := queryCards(ctx, t.tx, `SELECT `+cardColumns+` FROM cards WHERE tenant = $1 AND id IN (`+list(len(part), 2)+`) ORDER BY id`+t.d.ForUpdate, args...)
		for _, c := range cards {
			out[c.ID] = c
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading cards by id: %w", err))
	}
	return out, nil
}

func (t *tx) ClaimCardIDs(ctx context.Context, tenant, source string, externalIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(externalIDs))
	err := chunks(externalIDs, t.d.MaxParams-2, func(part []string) error {
		args := make([]any, 0, len(part)+2)
		args = append(args, tenant, source)
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := t.tx.QueryContext(ctx, `SELECT external_id, card_id FROM claims WHERE tenant = $1 AND source = $2 AND external_id IN (`+list(len(part), 3)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ext, card string
			if err := rows.Scan(&ext, &card); err != nil {
				return err
			}
			out[ext] = card
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading claims by external id: %w", err))
	}
	return out, nil
}

func (t *tx) Claims(ctx context.Context, tenant string, cardIDs []string) (map[string][]store.Claim, error) {
	out := make(map[string][]store.Claim, len(cardIDs))
	err := chunks(cardIDs, t.d.MaxParams-1, func(part []string) error {
		args := make([]any, 0, len(part)+1)
		args = append(args, tenant)
		for _, id := range part {
			args = append(args, id)
		}
		claims, err := queryClaims(ctx, t.tx, `SELECT `+claimColumns+` FROM claims WHERE tenant = $1 AND card_id IN (`+list(len(part), 2)+`) ORDER BY card_id, source`, args...)
		for _, c := range claims {
			out[c.CardID] = append(out[c.CardID], c)
		}
		return err
	})
	if err != nil {
		return nil, t.d.MapError(fmt.Errorf("reading claims: %w", err))
	}
	return out, nil
}

// cardUpdateSet is the SET list of an upsert that replaces every mutable
// column of a card.
var cardUpdateSet = func() string {
	var sets []string
	for _, col := range strings.Split(cardColumns, ",") {
		col = strings.TrimSpace(col)
		if col == "id" || col == "tenant" || col == "created_at" {
			continue
		}
		sets = append(sets, col+" = excluded."+col)
	}
	return strings.Join(sets, ", ")
}()

func (t *tx) PutCards(ctx context.Context, cards []store.Card) error {
	var inserts, updates []store.Card
	for _, c := range cards {
		if c.Version <= 1 {
			inserts = append(inserts, c)
		} else {
			updates = append(updates, c)
		}
	}
	err := chunks(inserts, t.rowsPer(cardColumnCount), func(part []store.Card) error {
		args, err := cardArgsList(part)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO cards (`+cardColumns+`) VALUES `+placeholders(len(part), cardColumnCount, 1), args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("inserting cards: %w", err))
	}
	// An update is an upsert on the primary key that only takes effect when
	// the stored version is the one the caller read: RETURNING tells which
	// rows did, and a missing one means somebody else wrote in between.
	err = chunks(updates, t.rowsPer(cardColumnCount), func(part []store.Card) error {
		args, err := cardArgsList(part)
		if err != nil {
			return err
		}
		rows, err := t.tx.QueryContext(ctx, `INSERT INTO cards (`+cardColumns+`) VALUES `+placeholders(len(part), cardColumnCount, 1)+
			` ON CONFLICT (id) DO UPDATE SET `+cardUpdateSet+` WHERE cards.version = excluded.version - 1 RETURNING id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != len(part) {
			return fmt.Errorf("%w: %d of %d cards changed since they were read", store.ErrConflict, len(part)-n, len(part))
		}
		return nil
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("updating cards: %w", err))
	}
	return nil
}

func cardArgsList(cards []store.Card) ([]any, error) {
	args := make([]any, 0, len(cards)*cardColumnCount)
	for i := range cards {
		a, err := cardArgs(&cards[i])
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
	}
	return args, nil
}

func (t *tx) PutClaims(ctx context.Context, claims []store.Claim) error {
	err := chunks(claims, t.rowsPer(claimColumnCount), func(part []store.Claim) error {
		args := make([]any, 0, len(part)*claimColumnCount)
		for i := range part {
			a, err := claimArgs(&part[i])
			if err != nil {
				return err
			}
			args = append(args, a...)
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO claims (`+claimColumns+`) VALUES `+placeholders(len(part), claimColumnCount, 1)+
			` ON CONFLICT (card_id, source) DO UPDATE SET external_id = excluded.external_id, email = excluded.email, state = excluded.state,
			authoritative = excluded.authoritative, attrs_json = excluded.attrs_json, run_id = excluded.run_id, actor = excluded.actor,
			last_seen = excluded.last_seen, state_since = excluded.state_since`, args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("writing claims: %w", err))
	}
	return nil
}

func (t *tx) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	const cols = 10
	err := chunks(events, t.rowsPer(cols), func(part []store.AuditEvent) error {
		args := make([]any, 0, len(part)*cols)
		for _, e := range part {
			args = append(args, e.Tenant, e.CardID, micros(e.At), e.Actor, e.Source, e.Action, e.RunID,
				nullString(string(e.Before), e.Before != nil), nullString(string(e.After), e.After != nil), e.Detail)
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO audit_events (tenant, card_id, at, actor, source, action, run_id, before_json, after_json, detail)
			VALUES `+placeholders(len(part), cols, 1), args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("writing audit events: %w", err))
	}
	return nil
}

func (t *tx) AppendEvents(ctx context.Context, events []store.Event) error {
	const cols = 7
	err := chunks(events, t.rowsPer(cols), func(part []store.Event) error {
		args := make([]any, 0, len(part)*cols)
		for _, e := range part {
			args = append(args, e.Tenant, e.CardID, e.Type, micros(e.At), e.Actor, e.Source, string(e.Data))
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO events (tenant, card_id, type, at, actor, source, data) VALUES `+placeholders(len(part), cols, 1), args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("writing events: %w", err))
	}
	return nil
}

func (t *tx) Enqueue(ctx context.Context, msgs []store.OutboxMessage) error {
	const cols = 6
	err := chunks(msgs, t.rowsPer(cols), func(part []store.OutboxMessage) error {
		args := make([]any, 0, len(part)*cols)
		for _, m := range part {
			args = append(args, m.Tenant, m.CardID, m.Kind, string(m.Payload), micros(m.Created), micros(m.Created))
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO outbox (tenant, card_id, kind, payload, created_at, next_attempt_at) VALUES `+placeholders(len(part), cols, 1), args...)
		return err
	})
	if err != nil {
		return t.d.MapError(fmt.Errorf("writing outbox: %w", err))
	}
	return nil
}
