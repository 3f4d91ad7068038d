package directory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/store"
)

// Group errors.
var (
	// ErrGroupNameTaken: another group of the source has that display name.
	ErrGroupNameTaken = errors.New("group name taken")
	// ErrVersionMismatch: the caller changed a version it had not read
	// (an If-Match that no longer holds).
	ErrVersionMismatch = errors.New("version mismatch")
)

// Group is a source's named set of cards (a SCIM group).
type Group = store.Group

// GroupInput is a group as its source states it.
type GroupInput struct {
	Tenant      string
	Source      string
	DisplayName string
	ExternalID  string
	// Raw is the source's record of the group without its members (JSON).
	Raw []byte
	// Labels are the display labels the source sent with members, by
	// card id (a SCIM member's "display").
	Labels map[string]string
}

// GroupChange edits a group; nil fields stay as they are.
type GroupChange struct {
	DisplayName *string
	ExternalID  *string
	Raw         []byte
	// ReplaceMembers makes Add the whole membership; otherwise Add and
	// Remove change it. Members are card ids.
	ReplaceMembers bool
	Add, Remove    []string
	// Labels are the display labels sent with members of Add, by card id.
	// A member of Add that is already in the group takes its label when
	// one was sent, and with ReplaceMembers also loses one that was not.
	Labels map[string]string
	// IfVersion, when not zero, is the version the caller last read.
	IfVersion int64
}

// GroupResult is a group after a change, and the member ids that were
// ignored because no live claim of the source names them.
type GroupResult struct {
	Group   Group
	Ignored []string
}

// A group's membership is the source's statement about its members: each
// member card's claim of that source carries the names of its groups, so
// that membership changes are card changes (resolved, audited, evented)
// like any other. A group of 10,000 is changed member by member; the group
// itself is never rewritten as a list.

// CreateGroup creates a group with its first members.
func (s *Service) CreateGroup(ctx context.Context, actor Actor, in GroupInput, members []string) (GroupResult, error) {
	return s.changeGroup(ctx, actor, in.Tenant, in.Source, "", func(g *Group, _ []string) (GroupChange, error) {
		*g = Group{ID: uuid.Must(uuid.NewV7()).String(), Tenant: in.Tenant, Source: in.Source,
			DisplayName: in.DisplayName, ExternalID: in.ExternalID, Raw: in.Raw}
		return GroupChange{ReplaceMembers: true, Add: members, Labels: in.Labels}, nil
	})
}

// UpdateGroup changes a group's name, record or members.
func (s *Service) UpdateGroup(ctx context.Context, actor Actor, tenant, source, id string, ch GroupChange) (GroupResult, error) {
	return s.changeGroup(ctx, actor, tenant, source, id, func(g *Group, _ []string) (GroupChange, error) {
		if ch.IfVersion != 0 && ch.IfVersion != g.Version {
			return ch, fmt.Errorf("%w: group %s is at version %d, not %d", ErrVersionMismatch, id, g.Version, ch.IfVersion)
		}
		if ch.DisplayName != nil {
			g.DisplayName = *ch.DisplayName
		}
		if ch.ExternalID != nil {
			g.ExternalID = *ch.ExternalID
		}
		if ch.Raw != nil {
			g.Raw = ch.Raw
		}
		return ch, nil
	})
}

// DeleteGroup removes a group; its members' cards lose its name.
func (s *Service) DeleteGroup(ctx context.Context, actor Actor, tenant, source, id string) error {
	_, err := s.changeGroup(ctx, actor, tenant, source, id, nil)
	return err
}

// changeGroup runs one group change in one transaction. edit changes the
// group (a fresh one when id is empty) and says how the members change;
// a nil edit deletes the group.
func (s *Service) changeGroup(ctx context.Context, actor Actor, tenant, source, id string, edit func(g *Group, current []string) (GroupChange, error)) (GroupResult, error) {
	policy, err := s.Policy(tenant)
	if err != nil {
		return GroupResult{}, err
	}
	var res GroupResult
	err = s.inTx(ctx, func(tx store.Tx) error {
		res = GroupResult{}
		b := s.newBatch(tx, tenant, policy, actor)
		var g, before Group
		exists := id != ""
		if exists {
			m, err := tx.GroupsByID(ctx, tenant, source, []string{id})
			if err != nil {
				return err
			}
			var ok bool
			if g, ok = m[id]; !ok {
				return fmt.Errorf("group %s: %w", id, ErrNotFound)
			}
			before = g
		}
		var current []string
		if exists {
			var err error
			if current, err = tx.GroupMemberIDs(ctx, id); err != nil {
				return err
			}
		}

		deleting := edit == nil
		var ch GroupChange
		if !deleting {
			var err error
			if ch, err = edit(&g, current); err != nil {
				return err
			}
			if strings.TrimSpace(g.DisplayName) == "" {
				return fmt.Errorf("%w: a group needs a display name", ErrInvalid)
			}
			if !exists || !strings.EqualFold(g.DisplayName, before.DisplayName) {
				taken, err := tx.GroupIDsByName(ctx, tenant, source, []string{g.DisplayName})
				if err != nil {
					return err
				}
				if other := taken[strings.ToLower(g.DisplayName)]; other != "" && other != g.ID {
					return fmt.Errorf("%w: %q is group %s", ErrGroupNameTaken, g.DisplayName, other)
				}
			}
		}

		// Who joins and who leaves.
		isMember := map[string]bool{}
		for _, c := range current {
			isMember[c] = true
		}
		var add, remove []string
		switch {
		case deleting:
			remove = current
		case ch.ReplaceMembers:
			want := map[string]bool{}
			for _, c := range ch.Add {
				want[c] = true
			}
			for _, c := range current {
				if !want[c] {
					remove = append(remove, c)
				}
			}
			for c := range want {
				if !isMember[c] {
					add = append(add, c)
				}
			}
		default:
			for _, c := range dedupe(slices.Clone(ch.Add)) {
				if !isMember[c] {
					add = append(add, c)
				}
			}
			for _, c := range dedupe(slices.Clone(ch.Remove)) {
				if isMember[c] {
					remove = append(remove, c)
				}
			}
		}
		slices.Sort(add)
		slices.Sort(remove)

		// A rename or a delete touches every member; a membership change
		// only those who join or leave.
		renamed := exists && !deleting && g.DisplayName != before.DisplayName
		affected := slices.Concat(add, remove)
		if renamed {
			affected = slices.Concat(affected, current)
		}
		affected = dedupe(affected)
		if _, err := b.load(ctx, affected, nil, nil); err != nil {
			return err
		}
		// Only cards that this source knows, and still lists, may join;
		// an admin's group takes any card of the tenant (adopt).
		adopt := source == KindAdmin
		live := func(cardID string) bool {
			w := b.byID[cardID]
			if w == nil {
				return false
			}
			if adopt {
				return true
			}
			c, ok := w.claim(source)
			return ok && c.State != store.Withdrawn
		}
		joining := add[:0:0]
		for _, c := range add {
			if live(c) {
				joining = append(joining, c)
			} else {
				res.Ignored = append(res.Ignored, c)
			}
		}
		add = joining
		names, err := tx.GroupNamesOfCards(ctx, tenant, source, affected)
		if err != nil {
			return err
		}

		leaving := map[string]bool{}
		for _, c := range remove {
			leaving[c] = true
		}
		joins := map[string]bool{}
		for _, c := range add {
			joins[c] = true
		}
		for _, cardID := range affected {
			w := b.byID[cardID]
			if w == nil {
				continue
			}
			if c, ok := w.claim(source); (!ok || c.State == store.Withdrawn) && adopt && joins[cardID] {
				// An admin's group takes any card of the tenant: the
				// admin's claim, attributes-only, carries its groups.
				w.putClaim(Claim{Source: source, Email: w.card.Email, State: store.Present, FirstSeen: b.now, StateSince: b.now, LastSeen: b.now,
					Actor: actor.Name, RunID: actor.RunID})
			}
			if _, ok := w.claim(source); !ok {
				continue // a member whose claim is gone keeps no groups of it
			}
			set := map[string]bool{}
			for _, n := range names[cardID] {
				set[n] = true
			}
			if exists {
				delete(set, before.DisplayName)
			}
			stays := isMember[cardID] && !leaving[cardID] && !deleting
			if stays || joins[cardID] {
				set[g.DisplayName] = true
			}
			groups := slices.Sorted(maps.Keys(set))
			out, err := b.mutate(ctx, w, "group.membership", source, func(w *working) error {
				c, _ := w.claim(source)
				if slices.Equal(c.Attributes.Groups, groups) {
					return nil
				}
				c.Attributes.Groups = groups
				c.LastSeen, c.Actor, c.RunID = b.now, actor.Name, actor.RunID
				w.putClaim(c)
				return nil
			}, mutation{emailOptional: true})
			if err != nil {
				return err
			}
			if out.Err != nil {
				return out.Err
			}
		}

		for _, c := range add {
			b.addMembers = append(b.addMembers, store.Membership{GroupID: g.ID, CardID: c, Display: ch.Labels[c]})
		}
		// Members who stay take the label sent with them (the store skips
		// a label that is unchanged).
		if !deleting {
			for _, c := range dedupe(slices.Clone(ch.Add)) {
				label, sent := ch.Labels[c]
				if isMember[c] && !leaving[c] && (ch.ReplaceMembers || sent && label != "") {
					b.addMembers = append(b.addMembers, store.Membership{GroupID: g.ID, CardID: c, Display: label})
				}
			}
		}
		for _, c := range remove {
			b.removeMembers = append(b.removeMembers, store.Membership{GroupID: g.ID, CardID: c})
		}
		action := "group.updated"
		switch {
		case deleting:
			action = "group.deleted"
			b.deleteGroups = append(b.deleteGroups, g.ID)
		case !exists:
			action = "group.created"
		}
		if !deleting {
			g.Updated = b.now
			if !exists {
				g.Created, g.Version = b.now, 1
			} else {
				g.Version = before.Version + 1
			}
			b.groups = append(b.groups, g)
		}
		detail := fmt.Sprintf("group %s %q: %d joined, %d left", g.ID, g.DisplayName, len(add), len(remove))
		if renamed {
			detail += fmt.Sprintf(", renamed from %q", before.DisplayName)
		}
		if len(res.Ignored) > 0 {
			detail += fmt.Sprintf(", %d unknown members ignored", len(res.Ignored))
		}
		b.audit = append(b.audit, store.AuditEvent{Tenant: tenant, At: b.now, Actor: actor.Name, Source: source,
			Action: action, RunID: actor.RunID, Detail: detail})
		res.Group = g
		return b.flush(ctx)
	})
	if err != nil {
		return GroupResult{}, err
	}
	if len(res.Ignored) > 0 {
		s.logger.Info("group members ignored: no live claim of the source", "tenant", tenant, "source", source,
			"group", res.Group.ID, "ignored", len(res.Ignored))
	}
	return res, nil
}

// ErrInvalid: the input breaks a rule of the domain (an empty name).
var ErrInvalid = errors.New("invalid")

// leaveGroups takes a card out of every group of the source (its claim of
// the source was withdrawn): the memberships go, and so do the group names
// on the withdrawn claim, so that a person the source lists again does not
// come back in groups nobody put them in.
func (b *batch) leaveGroups(ctx context.Context, w *working, source string) error {
	names, err := b.tx.GroupNamesOfCards(ctx, b.tenant, source, []string{w.card.ID})
	if err != nil {
		return err
	}
	if len(names[w.card.ID]) > 0 {
		ids, err := b.tx.GroupIDsByName(ctx, b.tenant, source, names[w.card.ID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			b.removeMembers = append(b.removeMembers, store.Membership{GroupID: id, CardID: w.card.ID})
		}
	}
	c, ok := w.claim(source)
	if ok && len(c.Attributes.Groups) > 0 {
		c.Attributes.Groups = nil
		w.putClaim(c)
		w.dirty = true
	}
	return nil
}
