package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/internal/sqlstore"
	"github.com/rosterd/rosterd/store/postgres"
	"github.com/rosterd/rosterd/store/sqlite"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestPlans: every hot read of the store uses its index on an empty
// database, while it grows to 10,000 cards without statistics, and once
// analysed. Nothing here times anything: the statements the store builds
// are captured as it runs them (DB.TraceReads) and each is EXPLAINed with
// its own arguments, on PostgreSQL as a custom and as a generic plan (pgx
// prepares statements, and PostgreSQL switches to the generic plan after
// five runs), on SQLite with EXPLAIN QUERY PLAN.
//
// On PostgreSQL autovacuum is off for every table of the test's database
// and the test checks that no table has statistics: what passes here does
// not pass by luck of autovacuum's timing.
func TestPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a database to 10,000 cards")
	}
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			s := storetest.Migrated(t, be.Open)
			var db *sqlstore.DB
			switch x := s.(type) {
			case *postgres.Store:
				db = x.DB
			case *sqlite.Store:
				db = x.DB
			default:
				t.Fatalf("backend %T", s)
			}
			p := &planner{t: t, pg: be.Name == "postgres", db: db.SQL}
			p.noAutovacuum()
			have := 0
			for _, n := range []int{0, 100, 1_000, 10_000} {
				growPlans(t, s, have, n)
				have = n
				p.noStatistics()
				checkPlans(t, p, db, s, fmt.Sprintf("%d cards, no statistics", n))
			}
			p.analyze()
			checkPlans(t, p, db, s, "10,000 cards, analysed")
		})
	}
}

// A hot read: run makes the store run it; every statement it runs may
// read only the indexes named in uses and also, each with an index
// condition (no walk of a whole index), and no table without an index.
type hotRead struct {
	name string
	run  func(ctx context.Context, s store.Store) error
	// uses: each of these indexes is read; also: these may be.
	uses, also []string
	// walks: these indexes may be read without a condition, in their
	// order, as far as the page reaches (the card list of a tenant that
	// holds most cards, once statistics say so).
	walks []string
}

const (
	plansTenant = "acme"
	plansSCIM   = "scim:okta"
	plansHR     = "file:hr"
	plansGroups = 20
)

func plansCard(i int) string  { return fmt.Sprintf("c%07d", i) }
func plansLogin(i int) string { return fmt.Sprintf("User%07d@Example.com", i) }
func plansGroup(i int) string { return fmt.Sprintf("g%03d", i) }
func plansEmail(i int) string { return strings.ToLower(plansLogin(i)) }

// growPlans writes cards from..to-1: each with a SCIM claim (login, raw
// record with externalId and emails) and an HR claim (external id); the
// SCIM groups (created with the first cards) get every card i in group
// i%plansGroups.
func growPlans(t *testing.T, s store.Store, from, to int) {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if from == 0 && to > 0 {
		var ch store.Changes
		for g := range plansGroups {
			ch.Groups = append(ch.Groups, store.Group{ID: plansGroup(g), Tenant: plansTenant, Source: plansSCIM,
				DisplayName: fmt.Sprintf("Group %d", g), Created: t0, Updated: t0, Version: 1})
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) }); err != nil {
			t.Fatal(err)
		}
	}
	const batch = 1000
	for lo := from; lo < to; lo += batch {
		var ch store.Changes
		for i := lo; i < min(lo+batch, to); i++ {
			id, login := plansCard(i), plansLogin(i)
			email := strings.ToLower(login)
			groups := []string{fmt.Sprintf("Group %d", i%plansGroups)}
			c := store.Card{ID: id, Tenant: plansTenant, Email: email, EmailNorm: email, Enabled: i%10 != 9,
				Attributes: store.Attributes{GivenName: "Given", FamilyName: fmt.Sprintf("F%d", i), Groups: groups},
				CreatedAt:  t0, UpdatedAt: t0, Version: 1}
			if i%3 == 0 {
				c.FirstLoginAt, c.LastLoginAt = t0, t0
			} else if i%5 == 1 { // an invite, unanswered, live for some
				c.Invite = &store.Invite{TokenHash: fmt.Sprintf("h%07d", i), SentAt: t0, ExpiresAt: t0.Add(time.Duration(i) * time.Hour)}
			}
			ch.Cards = append(ch.Cards, c)
			raw := fmt.Sprintf(`{"userName":%q,"externalId":"X%07d","name":{"givenName":"Given","familyName":"F%d"},`+
				`"emails":[{"type":"work","value":%q,"primary":true}],"active":true}`, login, i, i, email)
			state := store.Present
			if i%10 == 9 {
				state = store.Deactivated
			}
			ch.Claims = append(ch.Claims,
				store.Claim{CardID: id, Tenant: plansTenant, Source: plansSCIM, Email: email, Login: login, State: state,
					Authoritative: true, Raw: []byte(raw), FirstSeen: t0, LastSeen: t0, StateSince: t0},
				store.Claim{CardID: id, Tenant: plansTenant, Source: plansHR, ExternalID: fmt.Sprintf("E%07d", i), Email: email,
					State: store.Present, Authoritative: true, FirstSeen: t0, LastSeen: t0, StateSince: t0})
			ch.AddMembers = append(ch.AddMembers, store.Membership{GroupID: plansGroup(i % plansGroups), CardID: id})
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.Write(ctx, ch) }); err != nil {
			t.Fatal(err)
		}
	}
}

func hotReads() []hotRead {
	// The card in the middle of 10,000, which smaller stages do not have
	// yet: a lookup that finds nothing plans as one that finds a row.
	mid := 5000
	cardIDs := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = plansCard(mid + i*7)
		}
		return ids
	}
	claims := func(f *store.Filter, limit int) func(context.Context, store.Store) error {
		return func(ctx context.Context, s store.Store) error {
			_, _, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: plansTenant, Source: plansSCIM, Filter: f, Limit: limit, WithGroups: true})
			return err
		}
	}
	inTx := func(fn func(tx store.Tx) error) func(context.Context, store.Store) error {
		return func(ctx context.Context, s store.Store) error { return s.InTx(ctx, fn) }
	}
	cards := func(f store.CardFilter) func(context.Context, store.Store) error {
		return func(ctx context.Context, s store.Store) error {
			f.Tenant, f.Limit = plansTenant, 50
			_, err := s.ListCards(ctx, f)
			return err
		}
	}
	yes, no := true, false
	// The tenant's cards in id order: on cards_tenant_id, or, once
	// statistics say the tenant holds most cards, on the primary key.
	cardWalks := []string{"cards_tenant_id", "cards_pkey"}
	// What a page of users joins to its ids: the claim, the card, the
	// card's groups.
	pageRows := []string{"claims_pkey", "cards_pkey", "group_members_card", "groups_pkey"}
	// As the SCIM server translates externalId eq: a value of the raw record.
	// emails[type eq "work" and value eq v] (with type), emails.value eq
	// v (without): claim_emails finds the claims, by primary key.
	workEmail := &store.Filter{Op: "eq", Attr: store.AttrElem, Path: []string{"type"}, Value: "work"}
	emails := func(typ *store.Filter, v string) *store.Filter {
		eq := store.Filter{Op: "eq", Attr: store.AttrElem, Path: []string{"value"}, Value: v, Fold: true}
		if typ != nil {
			eq = store.Filter{Op: "and", Sub: []store.Filter{*typ, eq}}
		}
		return &store.Filter{Op: "any", Path: []string{"emails"}, Sub: []store.Filter{eq}}
	}
	emailRows := []string{"claim_emails_value", "claims_pkey"}
	extID := func(v string) *store.Filter {
		return &store.Filter{Op: "eq", Attr: store.AttrRaw, Path: []string{"externalId"}, Value: v}
	}
	login := &store.Filter{Op: "eq", Attr: store.AttrLogin, Value: strings.ToUpper(plansLogin(mid)), Fold: true}
	return []hotRead{
		// SCIM: an IdP's lookup before it creates or updates a user.
		{name: "scim userName eq, none", run: claims(&store.Filter{Op: "eq", Attr: store.AttrLogin, Value: "nobody@example.com", Fold: true}, 100),
			uses: []string{"claims_login"}, also: pageRows},
		{name: "scim userName eq", run: claims(login, 100), uses: []string{"claims_login"}, also: pageRows},
		{name: "scim userName eq, count 1", run: claims(login, 1), uses: []string{"claims_login"}, also: pageRows},
		{name: "scim userName eq and active", run: claims(&store.Filter{Op: "and", Sub: []store.Filter{*login,
			{Op: "eq", Attr: store.AttrActive, Value: true}}}, 100), uses: []string{"claims_login"}, also: pageRows},
		{name: "scim externalId eq", run: claims(extID("X0005000"), 100), uses: []string{"claims_raw_external_id"}, also: pageRows},
		{name: "scim externalId eq, none", run: claims(extID("nobody"), 100), uses: []string{"claims_raw_external_id"}, also: pageRows},
		{name: "scim externalId eq, count 1", run: claims(extID("X0005000"), 1), uses: []string{"claims_raw_external_id"}, also: pageRows},
		{name: "scim externalId eq and active", run: claims(&store.Filter{Op: "and", Sub: []store.Filter{*extID("X0005000"),
			{Op: "eq", Attr: store.AttrActive, Value: true}}}, 100), uses: []string{"claims_raw_external_id"}, also: pageRows},
		{name: "scim emails.value eq", run: claims(emails(nil, plansEmail(mid)), 100), uses: emailRows, also: pageRows},
		{name: "scim emails.value eq, none", run: claims(emails(nil, "nobody@example.com"), 100), uses: emailRows, also: pageRows},
		{name: "scim emails.value eq, count 1", run: claims(emails(nil, plansEmail(mid)), 1), uses: emailRows, also: pageRows},
		{name: `scim emails[type eq "work"].value eq`, run: claims(emails(workEmail, strings.ToUpper(plansEmail(mid))), 100),
			uses: emailRows, also: pageRows},
		{name: `scim emails[type eq "work"].value eq and active`, run: claims(&store.Filter{Op: "and", Sub: []store.Filter{
			*emails(workEmail, plansEmail(mid)), {Op: "eq", Attr: store.AttrActive, Value: true}}}, 100), uses: emailRows, also: pageRows},
		{name: "scim id eq", run: func(ctx context.Context, s store.Store) error {
			_, _, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: plansTenant, Source: plansSCIM, Limit: 1, NoTotal: true, WithGroups: true,
				Filter: &store.Filter{Op: "eq", Attr: store.AttrCardID, Value: plansCard(mid)}})
			return err
		}, uses: []string{"claims_pkey"}, also: pageRows},
		{name: "scim page", run: claims(nil, 100), uses: []string{"claims_source_card"}, also: pageRows},
		{name: "scim page after", run: func(ctx context.Context, s store.Store) error {
			_, _, err := s.QueryClaims(ctx, store.ClaimQuery{Tenant: plansTenant, Source: plansSCIM, Limit: 100, After: plansCard(mid), NoTotal: true, WithGroups: true})
			return err
		}, uses: []string{"claims_source_card"}, also: pageRows},
		{name: "scim active eq false", run: claims(&store.Filter{Op: "eq", Attr: store.AttrActive, Value: false}, 100),
			uses: []string{"claims_source_card"}, also: pageRows},

		// What every SCIM write reads in its transaction.
		{name: "claims of a card", run: inTx(func(tx store.Tx) error { _, err := tx.Claims(ctx, plansTenant, cardIDs(1)); return err }),
			uses: []string{"claims_pkey"}},
		{name: "claims of cards", run: inTx(func(tx store.Tx) error { _, err := tx.Claims(ctx, plansTenant, cardIDs(100)); return err }),
			uses: []string{"claims_pkey"}},
		{name: "card by id", run: inTx(func(tx store.Tx) error { _, err := tx.CardsByID(ctx, plansTenant, cardIDs(1)); return err }),
			uses: []string{"cards_pkey"}},
		{name: "cards by id", run: inTx(func(tx store.Tx) error { _, err := tx.CardsByID(ctx, plansTenant, cardIDs(100)); return err }),
			uses: []string{"cards_pkey"}},
		{name: "card by email", run: inTx(func(tx store.Tx) error {
			_, err := tx.CardsByEmail(ctx, plansTenant, []string{strings.ToLower(plansLogin(mid))})
			return err
		}), uses: []string{"cards_tenant_email"}},
		{name: "cards by email", run: inTx(func(tx store.Tx) error {
			emails := make([]string, 100)
			for i := range emails {
				emails[i] = strings.ToLower(plansLogin(mid + i))
			}
			_, err := tx.CardsByEmail(ctx, plansTenant, emails)
			return err
		}), uses: []string{"cards_tenant_email"}},
		{name: "card by login", run: inTx(func(tx store.Tx) error {
			_, err := tx.LoginCardIDs(ctx, plansTenant, plansSCIM, []string{plansLogin(mid)})
			return err
		}), uses: []string{"claims_login"}},
		{name: "card by external id", run: inTx(func(tx store.Tx) error {
			_, err := tx.ClaimCardIDs(ctx, plansTenant, plansHR, []string{fmt.Sprintf("E%07d", mid)})
			return err
		}), uses: []string{"claims_external_id"}},
		{name: "cards by external id", run: inTx(func(tx store.Tx) error {
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = fmt.Sprintf("E%07d", mid+i)
			}
			_, err := tx.ClaimCardIDs(ctx, plansTenant, plansHR, ids)
			return err
		}), uses: []string{"claims_external_id"}},

		// Admin reads of one card.
		{name: "claims of a card, outside a transaction", run: func(ctx context.Context, s store.Store) error {
			_, err := s.ListClaims(ctx, plansTenant, plansCard(mid))
			return err
		}, uses: []string{"claims_pkey"}},
		{name: "card by email, outside a transaction", run: func(ctx context.Context, s store.Store) error {
			_, err := s.GetCardByEmail(ctx, plansTenant, strings.ToLower(plansLogin(mid)))
			if err == store.ErrNotFound {
				err = nil
			}
			return err
		}, uses: []string{"cards_tenant_email"}},

		// Groups.
		{name: "group members", run: func(ctx context.Context, s store.Store) error {
			_, err := s.GroupMembers(ctx, plansGroup(3), "", 1000)
			return err
		}, uses: []string{"group_members_pkey"}},
		{name: "group members after", run: func(ctx context.Context, s store.Store) error {
			_, err := s.GroupMembers(ctx, plansGroup(3), plansCard(mid), 1000)
			return err
		}, uses: []string{"group_members_pkey"}},
		{name: "group member displays", run: func(ctx context.Context, s store.Store) error {
			_, err := s.GroupMemberDisplays(ctx, plansGroup(3), "", 1000)
			return err
		}, uses: []string{"group_members_pkey", "claims_pkey", "groups_pkey"}},
		{name: "group member displays after", run: func(ctx context.Context, s store.Store) error {
			_, err := s.GroupMemberDisplays(ctx, plansGroup(3), plansCard(mid), 1000)
			return err
		}, uses: []string{"group_members_pkey", "claims_pkey", "groups_pkey"}},
		{name: "group members in a transaction", run: inTx(func(tx store.Tx) error { _, err := tx.GroupMemberIDs(ctx, plansGroup(3)); return err }),
			uses: []string{"group_members_pkey"}},
		{name: "groups of a card", run: inTx(func(tx store.Tx) error {
			_, err := tx.GroupNamesOfCards(ctx, plansTenant, plansSCIM, cardIDs(1))
			return err
		}), uses: []string{"group_members_card"}, also: []string{"groups_pkey"}},
		{name: "group by name", run: inTx(func(tx store.Tx) error {
			_, err := tx.GroupIDsByName(ctx, plansTenant, plansSCIM, []string{"group 3"})
			return err
		}), uses: []string{"groups_name"}},

		{name: "scim group displayName eq", run: func(ctx context.Context, s store.Store) error {
			_, _, err := s.QueryGroups(ctx, store.GroupQuery{Tenant: plansTenant, Source: plansSCIM, Limit: 100,
				Filter: &store.Filter{Op: "eq", Attr: store.AttrDisplayName, Value: "GROUP 3", Fold: true}})
			return err
		}, uses: []string{"groups_name"}, also: []string{"groups_pkey"}},
		{name: "scim group id eq", run: func(ctx context.Context, s store.Store) error {
			_, _, err := s.QueryGroups(ctx, store.GroupQuery{Tenant: plansTenant, Source: plansSCIM, Limit: 1,
				Filter: &store.Filter{Op: "eq", Attr: store.AttrGroupID, Value: plansGroup(3)}})
			return err
		}, uses: []string{"groups_pkey"}},

		// The admin card list and its filters: the tenant's cards in id
		// order, filtered, up to a page.
		{name: "card list", run: cards(store.CardFilter{}), also: cardWalks, walks: cardWalks},
		{name: "card list after", run: cards(store.CardFilter{After: plansCard(mid)}), also: cardWalks, walks: cardWalks},
		{name: "card list disabled", run: cards(store.CardFilter{Enabled: &no}), also: cardWalks, walks: cardWalks},
		{name: "card list logged in", run: cards(store.CardFilter{LoggedIn: &yes}), also: cardWalks, walks: cardWalks},
		{name: "card list invite live", run: cards(store.CardFilter{Invite: "live", Now: time.Now()}), also: cardWalks, walks: cardWalks},
		{name: "card list search", run: cards(store.CardFilter{Query: "user00050"}), also: cardWalks, walks: cardWalks},
		// SQLite reads the group's card_groups rows; PostgreSQL its GIN
		// index on the names once the statistics say the group is small
		// (BenchmarkCardsByRoleAndGroup), else the walk.
		{name: "card list group", run: cards(store.CardFilter{Group: "Group 3"}),
			also: append([]string{"card_groups_pkey", "cards_groups_gin"}, cardWalks...), walks: cardWalks},
		{name: "card list group id", run: cards(store.CardFilter{GroupID: plansGroup(3)}), uses: []string{"group_members_pkey"}, also: cardWalks, walks: cardWalks},
		// The users page's status counts: the kept counts and the live
		// invites (issue 17), never a pass over the tenant's cards. (The
		// live invites are read only when there are invites: not at 0.)
		{name: "card counts", run: func(ctx context.Context, s store.Store) error {
			_, err := s.CountCards(ctx, plansTenant, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
			return err
		}, also: []string{"card_counts_tenant", "card_counts_pkey", "cards_invite_live"}},
		{name: "card list source", run: cards(store.CardFilter{Source: plansSCIM}), uses: []string{"claims_pkey"}, also: cardWalks, walks: cardWalks},
	}
}

// checkPlans runs every hot read and checks the plan of each statement it ran.
func checkPlans(t *testing.T, p *planner, db *sqlstore.DB, s store.Store, stage string) {
	t.Helper()
	for _, r := range hotReads() {
		var stmts []statement
		db.TraceReads(func(query string, args []any) {
			stmts = append(stmts, statement{query, slices.Clone(args)})
		})
		err := r.run(ctx, s)
		db.TraceReads(nil)
		if err != nil {
			t.Fatalf("%s: %s: %v", stage, r.name, err)
		}
		if len(stmts) == 0 {
			t.Fatalf("%s: %s ran no statement", stage, r.name)
		}
		allowed := append(slices.Clone(r.uses), r.also...)
		used := map[string]bool{}
		for _, st := range stmts {
			for _, mode := range p.modes() {
				scans := p.explain(st, mode)
				for _, sc := range scans {
					switch {
					case sc.index == "":
						t.Errorf("%s: %s (%s plan): reads table %s without an index\n%s\n%s", stage, r.name, mode, sc.table, st.query, sc.plan)
					case !slices.Contains(allowed, p.index(sc.index, allowed)):
						t.Errorf("%s: %s (%s plan): reads index %s; want only %v\n%s\n%s", stage, r.name, mode, sc.index, allowed, st.query, sc.plan)
					case !sc.cond && !slices.Contains(r.walks, p.index(sc.index, allowed)):
						t.Errorf("%s: %s (%s plan): walks all of index %s\n%s\n%s", stage, r.name, mode, sc.index, st.query, sc.plan)
					}
					used[p.index(sc.index, allowed)] = true
				}
			}
		}
		for _, ix := range r.uses {
			if !used[ix] {
				t.Errorf("%s: %s: index %s not used; used %v", stage, r.name, ix, used)
			}
		}
	}
}

type statement struct {
	query string
	args  []any
}

// A scan is one read of a table in a plan: through index (or none), with
// an index condition (cond) or walking it all.
type scan struct {
	table, index string
	cond         bool
	plan         string
}

type planner struct {
	t  *testing.T
	pg bool
	db *sql.DB
	n  int
}

func (p *planner) modes() []string {
	if p.pg {
		return []string{"custom", "generic"}
	}
	return []string{"sqlite"}
}

// index maps SQLite's names of primary key indexes to PostgreSQL's, which
// the expectations use.
func (p *planner) index(name string, _ []string) string {
	if rest, ok := strings.CutPrefix(name, "sqlite_autoindex_"); ok {
		if i := strings.LastIndexByte(rest, '_'); i > 0 {
			return rest[:i] + "_pkey"
		}
	}
	return name
}

var plansTables = []string{"cards", "claims", "claim_emails", "groups", "group_members", "audit_events", "events", "outbox"}

// noAutovacuum turns autovacuum off for the tables the test grows.
func (p *planner) noAutovacuum() {
	if !p.pg {
		return
	}
	for _, tb := range plansTables {
		if _, err := p.db.ExecContext(ctx, `ALTER TABLE `+tb+` SET (autovacuum_enabled = off)`); err != nil {
			p.t.Fatal(err)
		}
	}
}

// noStatistics fails the test if any table has statistics.
func (p *planner) noStatistics() {
	p.t.Helper()
	var n int
	q := `SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'`
	if p.pg {
		q = `SELECT count(*) FROM pg_stats WHERE schemaname = 'public'`
	}
	if err := p.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	if n != 0 {
		p.t.Fatalf("the tables have statistics (%d rows of %s)", n, q)
	}
	if p.pg {
		if err := p.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND reltuples >= 0 AND relkind = 'r'`).Scan(&n); err != nil {
			p.t.Fatal(err)
		}
		if n != 0 {
			p.t.Fatalf("%d tables have a row count estimate: analysed or vacuumed", n)
		}
	}
}

func (p *planner) analyze() {
	if _, err := p.db.ExecContext(ctx, `ANALYZE`); err != nil {
		p.t.Fatal(err)
	}
}

// explain returns the scans of the statement's plan.
func (p *planner) explain(st statement, mode string) []scan {
	p.t.Helper()
	if !p.pg {
		return p.explainSQLite(st)
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close()
	p.n++
	name := "plan" + strconv.Itoa(p.n)
	lits := make([]string, len(st.args))
	for i, a := range st.args {
		lits[i] = literal(p.t, a)
	}
	var out string
	err = func() error {
		if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_`+mode+`_plan`); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `PREPARE `+name+` AS `+st.query); err != nil {
			return err
		}
		defer conn.ExecContext(ctx, `DEALLOCATE `+name) //nolint:errcheck
		call := name
		if len(lits) > 0 {
			call += "(" + strings.Join(lits, ", ") + ")"
		}
		return conn.QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) EXECUTE `+call).Scan(&out)
	}()
	conn.ExecContext(ctx, `RESET plan_cache_mode`) //nolint:errcheck
	if err != nil {
		p.t.Fatalf("explaining %s: %v", st.query, err)
	}
	var doc []struct{ Plan pgNode }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
		p.t.Fatalf("reading the plan of %s: %v\n%s", st.query, err, out)
	}
	text := pgPlanText(doc[0].Plan, 0)
	var scans []scan
	var walk func(n pgNode)
	walk = func(n pgNode) {
		switch n.NodeType {
		case "Seq Scan":
			scans = append(scans, scan{table: n.RelationName, plan: text})
		case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
			scans = append(scans, scan{table: n.RelationName, index: n.IndexName, cond: n.IndexCond != "", plan: text})
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return scans
}

type pgNode struct {
	NodeType     string   `json:"Node Type"`
	RelationName string   `json:"Relation Name"`
	Alias        string   `json:"Alias"`
	IndexName    string   `json:"Index Name"`
	IndexCond    string   `json:"Index Cond"`
	Filter       string   `json:"Filter"`
	Plans        []pgNode `json:"Plans"`
}

func pgPlanText(n pgNode, depth int) string {
	s := strings.Repeat("  ", depth) + n.NodeType
	if n.IndexName != "" {
		s += " using " + n.IndexName
	}
	if n.RelationName != "" {
		s += " on " + n.RelationName + " " + n.Alias
	}
	if n.IndexCond != "" {
		s += " [" + n.IndexCond + "]"
	}
	if n.Filter != "" {
		s += " filter " + n.Filter
	}
	s += "\n"
	for _, c := range n.Plans {
		s += pgPlanText(c, depth+1)
	}
	return s
}

// literal renders an argument as PostgreSQL SQL, for EXECUTE.
func literal(t *testing.T, a any) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := a.(type) {
	case nil:
		return "NULL"
	case string:
		return quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	t.Fatalf("no literal for %T", a)
	return ""
}

// explainSQLite reads EXPLAIN QUERY PLAN: SEARCH lines name the index and
// its condition; a SCAN of a table walks all of it (with or without an
// index), except of a subquery's result or a json_each.
func (p *planner) explainSQLite(st statement) []scan {
	rows, err := p.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+st.query, st.args...)
	if err != nil {
		p.t.Fatalf("explaining %s: %v", st.query, err)
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			p.t.Fatal(err)
		}
		details = append(details, detail)
	}
	if err := rows.Err(); err != nil {
		p.t.Fatal(err)
	}
	text := strings.Join(details, "\n")
	derived := map[string]bool{}
	var scans []scan
	for _, d := range details {
		f := strings.Fields(d)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "MATERIALIZE", "CO-ROUTINE":
			derived[f[1]] = true
		case "SCAN", "SEARCH":
			if derived[f[1]] || strings.Contains(d, "VIRTUAL TABLE") || f[1] == "CONSTANT" {
				continue
			}
			sc := scan{table: f[1], cond: f[0] == "SEARCH", plan: text}
			switch {
			case strings.Contains(d, "AUTOMATIC"):
				// An index SQLite builds for this statement, from a scan.
				sc.index = ""
			case strings.Contains(d, " USING INTEGER PRIMARY KEY"):
				sc.index = "rowid"
			case strings.Contains(d, " USING PRIMARY KEY"):
				// The key of a WITHOUT ROWID table (group_members,
				// card_groups): named as PostgreSQL names it.
				sc.index = tableOf(st.query, f[1]) + "_pkey"
			default:
				if _, rest, ok := strings.Cut(d, " INDEX "); ok {
					sc.index, _, _ = strings.Cut(rest, " ")
				}
			}
			scans = append(scans, sc)
		}
	}
	return scans
}

// tableOf is the table that name stands for in query: name itself, or
// the table it aliases ("FROM group_members gm": gm is group_members).
// SQLite's plan names a table by its alias.
func tableOf(query, name string) string {
	m := regexp.MustCompile(`(?i)\b(\w+)\s+(?:AS\s+)?`+regexp.QuoteMeta(name)+`(?:[\s,)]|$)`).FindAllStringSubmatch(query, -1)
	for _, g := range m {
		switch strings.ToUpper(g[1]) {
		case "FROM", "JOIN", "AS", "ON", "AND", "OR", "WHERE", "SELECT", "BY", "NOT", "IN", "EXISTS", "CASE", "WHEN", "THEN", "ELSE":
			continue
		}
		return g[1]
	}
	return name
}
