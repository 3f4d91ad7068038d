package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

// The users page's bulk actions. The page's form (a GET) names an action
// and the rows checked, or all=matching with the page's filter;
// bulkConfirm shows the count and the names and asks for the action's
// argument; its form POSTs exactly the card ids it
// showed to bulkApply, which applies the action through the directory's
// Bulk — the admin API's bulk rules, each card as the one-card action
// would change it — in one transaction, and says in the flash what became
// of them: how many changed, and for those refused, who and why.

// maxBulk is the most cards one bulk action takes from the console: one
// transaction of the directory's Bulk. The admin API's bulk takes more,
// in batches.
const maxBulk = 1000

// bulkNamesShown bounds the names a confirmation lists; its count is of
// all of them.
const bulkNamesShown = 100

// bulkAction is an action of the users page's bulk menu.
type bulkAction struct {
	Action directory.BulkAction
	// Menu is its entry in the menu.
	Menu string
	// verb completes "Select at least one person to …".
	verb string
	// heading asks to confirm it (fmt: the count, "person" or "people");
	// the confirmation's button is the heading without its "?".
	heading string
	// What says what it does, on the confirmation.
	What string
	// Arg is the form field of its argument: "", "reason", "role",
	// "group", "manager".
	Arg string
	// Danger: it takes people's access away.
	Danger bool
	// done says what it did (fmt: the count, "person" or "people", the
	// argument).
	done string
}

var bulkActions = []bulkAction{
	{Action: directory.BulkEnable, Menu: "Enable", verb: "enable", heading: "Enable %d %s?", done: "Enabled %[1]d %[2]s",
		What: "They are enabled whatever their sources say, until an admin releases them on their card's page."},
	{Action: directory.BulkDisable, Menu: "Disable", verb: "disable", heading: "Disable %d %s?", done: "Disabled %[1]d %[2]s", Arg: "reason", Danger: true,
		What: "They lose access to the platform until an admin enables them again. Their cards are kept."},
	{Action: directory.BulkReinvite, Menu: "Re-invite", verb: "re-invite", heading: "Re-invite %d %s?", done: "Re-invited %[1]d %[2]s",
		What: "Each gets a new invite, valid for another invite lifetime; the link of an earlier invite stops working. " +
			"Whoever cannot be invited (signed in already, disabled, or in a tenant that does not invite by email) is left as they are."},
	{Action: directory.BulkRemind, Menu: "Remind", verb: "remind", heading: "Remind %d %s?", done: "Reminded %[1]d %[2]s",
		What: "Each pending invite is sent again, at most once per the tenant's reminder interval. Whoever has no pending invite is left as they are."},
	{Action: directory.BulkApprove, Menu: "Approve", verb: "approve", heading: "Approve %d %s?", done: "Approved %[1]d %[2]s",
		What: "Each card waiting for approval is let in: its sources decide its status again, and it is invited where the tenant invites by email. " +
			"Cards not waiting for approval are left as they are."},
	{Action: directory.BulkReject, Menu: "Reject", verb: "reject", heading: "Reject %d %s?", done: "Rejected %[1]d %[2]s", Arg: "reason", Danger: true,
		What: "Each card waiting for approval is kept out: disabled until an admin enables it. Cards not waiting for approval are left as they are."},
	{Action: directory.BulkSetRole, Menu: "Set role", verb: "give a role", heading: "Set the role of %d %s?", done: "Gave %[1]d %[2]s the role %[3]s", Arg: "role",
		What: "The role is the admin's: it holds over what their sources say."},
	{Action: directory.BulkAddGroups, Menu: "Add to group", verb: "add to a group", heading: "Add %d %s to a group?", done: "Added %[1]d %[2]s to the group %[3]s", Arg: "group",
		What: "The group is added to each card's groups, as the admin's: it holds over what their sources say."},
	{Action: directory.BulkRemoveGroups, Menu: "Remove from group", verb: "remove from a group", heading: "Remove %d %s from a group?",
		done: "Removed %[1]d %[2]s from the group %[3]s", Arg: "group",
		What: "The group is taken off each card's groups, as the admin's: it holds over what their sources say."},
	{Action: directory.BulkAssignManager, Menu: "Assign staff", verb: "assign staff to", heading: "Assign staff to %d %s?",
		done: "Assigned %[3]s as staff to %[1]d %[2]s", Arg: "manager",
		What: "The staff member becomes each card's manager, as the admin's: it holds over what their sources say."},
}

func bulkActionNamed(name string) (bulkAction, bool) {
	i := slices.IndexFunc(bulkActions, func(a bulkAction) bool { return string(a.Action) == name })
	if i < 0 {
		return bulkAction{}, false
	}
	return bulkActions[i], true
}

func bulkActionNames() string {
	var names []string
	for _, a := range bulkActions {
		names = append(names, string(a.Action))
	}
	return strings.Join(names, ", ")
}

type bulkView struct {
	Tenant Tenant
	Action bulkAction
	// Heading and Button ask to confirm, with the count.
	Heading, Button string
	Count           int
	// Rows are the first bulkNamesShown of the cards; More is how many
	// more there are.
	Rows []userRow
	More int
	// IDs are every card's, the form's.
	IDs []string
	// Roles are the tenant's (none: any role is taken).
	Roles []string
	// Filter says the users page's filter, when the selection is every
	// card it matched.
	Filter string
	// Preview says whom a dry run found the action would leave as they
	// are (the actions whose argument does not decide it).
	Preview string
	// Hold: the tenant's safety brake holds this action (the reasons);
	// Disables is how many it would disable, the number to type in.
	Hold     []string
	Disables int
	Back     string
}

// mayDisable: actions that can disable cards, which meet the brake.
func mayDisable(a directory.BulkAction) bool {
	return a == directory.BulkDisable || a == directory.BulkRelease
}

// held is what the tenant's brake says of results (a dry run): the
// reasons it holds, and how many the action would disable.
func (c *Console) held(ctx context.Context, tenant string, a bulkAction, results []directory.BulkResult) ([]string, int) {
	if c.deps.Brake == nil || !mayDisable(a.Action) {
		return nil, 0
	}
	n := 0
	for _, r := range results {
		if r.Disables {
			n++
		}
	}
	if n == 0 {
		return nil, 0
	}
	return c.deps.Brake.BulkHold(ctx, tenant, n), n
}

// selected is the ids a bulk form or link carries; with none or bad ones
// it answers (back to the page with a word, or an error page) and
// returns false.
func (c *Console) selected(w http.ResponseWriter, r *http.Request, v url.Values, a bulkAction, back string) ([]string, bool) {
	ids, err := bulkIDs(v)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if len(ids) == 0 {
		c.sessions.setFlash(r.Context(), sessionOf(r), "Select at least one person to "+a.verb+".")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil, false
	}
	return ids, true
}

// bulkIDs reads the selected card ids (id=…, repeated).
func bulkIDs(v url.Values) ([]string, error) {
	ids := slices.Clone(v["id"])
	if len(ids) > maxBulk {
		return nil, fmt.Errorf("At most %d people at once; %d are selected.", maxBulk, len(ids))
	}
	for _, id := range ids {
		if id == "" || len(id) > 64 { // as the admin API's bulk refuses them
			return nil, fmt.Errorf("%.70q is not a card id.", id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// bulkConfirm: GET /console/t/{t}/users/bulk?action=…&id=…&back=… — asks
// to confirm the action, with the count and the names, and its argument.
func (c *Console) bulkConfirm(w http.ResponseWriter, r *http.Request, t Tenant) {
	v := r.URL.Query()
	back := safeNext(v.Get("back"))
	if v.Get("action") == "" {
		c.sessions.setFlash(r.Context(), sessionOf(r), "Choose what to do with the selected people.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	a, ok := bulkActionNamed(v.Get("action"))
	if !ok {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("There is no bulk action %q (there are %s).", v.Get("action"), bulkActionNames()))
		return
	}
	if v.Get("all") == "matching" {
		c.bulkConfirmMatching(w, r, t, a, v.Get("filter"), back)
		return
	}
	ids, ok := c.selected(w, r, v, a, back)
	if !ok {
		return
	}
	cards := make([]directory.Card, 0, len(ids))
	for _, id := range ids {
		card, err := c.deps.Directory.Get(r.Context(), t.ID, id)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		cards = append(cards, card)
	}
	c.renderBulkConfirm(w, r, t, a, cards, "", back)
}

// bulkConfirmMatching is bulkConfirm of every card the users page's
// filter selects (all=matching&filter=…): the filter is read as the page
// reads it and resolved to its cards now, at most maxBulk of them, and
// the confirmation carries their ids, so that what is applied is what
// was shown.
func (c *Console) bulkConfirmMatching(w http.ResponseWriter, r *http.Request, t Tenant, a bulkAction, filter, back string) {
	params, err := url.ParseQuery(filter)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The filter %q cannot be read: %v.", filter, err))
		return
	}
	params.Del("cursor") // all matching, not a page of them
	f, problem := parseUsersFilter(t.ID, params)
	if problem != "" {
		c.errorPage(w, r, http.StatusBadRequest, problem)
		return
	}
	q := f.Query
	q.Limit = maxBulk
	page, err := c.deps.Directory.List(r.Context(), q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if page.Next != "" {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The filter selects more than %d people, the most the console changes at once. "+
			"Narrow the filter, or use the admin API's bulk action (POST /api/v1/tenants/%s/cards/bulk with the filter), which takes up to 100,000.",
			maxBulk, t.ID))
		return
	}
	if len(page.Cards) == 0 {
		c.sessions.setFlash(r.Context(), sessionOf(r), "Nobody matches the filter now.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	c.renderBulkConfirm(w, r, t, a, page.Cards, describeFilter(f), back)
}

// describeFilter says a users page's filter in words.
func describeFilter(f usersFilter) string {
	var parts []string
	if s := f.Params.Get("status"); s != "" {
		parts = append(parts, "status "+statusLabel(directory.Status(s)))
	}
	if s := f.Params.Get("q"); s != "" {
		parts = append(parts, "search “"+s+"”")
	}
	if s := f.Params.Get("role"); s != "" {
		parts = append(parts, "role "+s)
	}
	if s := f.Params.Get("group"); s != "" {
		parts = append(parts, "group "+s)
	}
	if s := f.Params.Get("manager"); s != "" {
		parts = append(parts, "assigned to "+s)
	}
	switch f.Params.Get("assigned") {
	case "yes":
		parts = append(parts, "assigned staff")
	case "no":
		parts = append(parts, "no assigned staff")
	}
	if s := f.Params.Get("source"); s != "" {
		parts = append(parts, "source "+s)
	}
	if len(parts) == 0 {
		return "everybody in the tenant"
	}
	return strings.Join(parts, ", ")
}

func (c *Console) renderBulkConfirm(w http.ResponseWriter, r *http.Request, t Tenant, a bulkAction, cards []directory.Card, filter, back string) {
	heading := fmt.Sprintf(a.heading, len(cards), people(len(cards)))
	view := bulkView{Tenant: t, Action: a, Heading: heading, Button: strings.TrimSuffix(heading, "?"), Count: len(cards), Filter: filter, Back: back}
	if a.Arg == "role" {
		view.Roles = c.rolesOf(t.ID)
	}
	now := c.deps.Directory.Now()
	for i, card := range cards {
		view.IDs = append(view.IDs, card.ID)
		if i < bulkNamesShown {
			view.Rows = append(view.Rows, userRow{ID: card.ID, Name: displayName(card), Email: card.Email, Status: directory.StatusOf(card, now)})
		}
	}
	view.More = len(cards) - len(view.Rows)
	// Who would be left as they are, where that does not hang on the
	// argument still to be given: a dry run, nothing written.
	if a.Arg == "" || a.Arg == "reason" {
		results, err := c.deps.Directory.Bulk(r.Context(), actor(r), t.ID, directory.BulkInput{Action: a.Action}, view.IDs, true)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		view.Preview = c.bulkPreview(t.ID, a, results)
		view.Hold, view.Disables = c.held(r.Context(), t.ID, a, results)
	}
	c.render(w, r, http.StatusOK, "bulk", heading, view)
}

// bulkApply: POST /console/t/{t}/users/bulk — applies the action to the
// cards through the directory's Bulk, and goes back with what became of
// them.
func (c *Console) bulkApply(w http.ResponseWriter, r *http.Request, t Tenant) {
	f := r.PostForm
	back := safeNext(f.Get("back"))
	a, ok := bulkActionNamed(f.Get("action"))
	if !ok {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("There is no bulk action %q (there are %s).", f.Get("action"), bulkActionNames()))
		return
	}
	ids, ok := c.selected(w, r, f, a, back)
	if !ok {
		return
	}
	in := directory.BulkInput{Action: a.Action}
	arg := strings.TrimSpace(f.Get(a.Arg))
	switch a.Arg {
	case "reason":
		if arg == "" {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("Give a reason to %s them: it goes into the audit trail.", a.verb))
			return
		}
		in.Reason = arg
	case "role":
		if arg == "" {
			c.errorPage(w, r, http.StatusBadRequest, "Choose the role to give them.")
			return
		}
		if p, err := c.deps.Directory.Policy(t.ID); err == nil {
			role, ok := p.KnownRole(arg)
			if !ok {
				c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The tenant has no role %q (its roles are %s).", arg, strings.Join(p.Roles, ", ")))
				return
			}
			arg = role
		}
		in.Role = arg
	case "group":
		if arg == "" {
			c.errorPage(w, r, http.StatusBadRequest, "Name the group.")
			return
		}
		in.Groups = []string{arg}
	case "manager":
		display, _, err := directory.NormalizeEmail(arg)
		if err != nil {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The staff member's email %q is not valid: %v.", arg, err))
			return
		}
		arg, in.ManagerEmail = display, display
	}
	if err := in.Check(); err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "The action cannot be applied: "+err.Error()+".")
		return
	}
	// Over the tenant's safety limits a disable goes ahead only with the
	// number it disables typed in, as the admin API's takes "confirm":
	// counted again now, by a dry run.
	if mayDisable(a.Action) && c.deps.Brake != nil {
		dry, err := c.deps.Directory.Bulk(r.Context(), actor(r), t.ID, in, ids, true)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if hold, n := c.held(r.Context(), t.ID, a, dry); len(hold) > 0 && strings.TrimSpace(f.Get("confirm")) != strconv.Itoa(n) {
			c.errorPage(w, r, http.StatusConflict, fmt.Sprintf("Not applied: this would disable %s, over the tenant's safety limits (%s). Type %d in the confirmation to go ahead.",
				people(n), strings.Join(hold, "; "), n))
			return
		}
	}
	// One id ties the job's audit lines and events together, as the admin
	// API's bulk job does.
	ac := actor(r)
	ac.RunID = uuid.Must(uuid.NewV7()).String()
	results, err := c.deps.Directory.Bulk(r.Context(), ac, t.ID, in, ids, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.deps.Logger.Info("console bulk action", "tenant", t.ID, "action", a.Action, "bulk", ac.RunID, "cards", len(ids))
	c.sessions.setFlash(r.Context(), sessionOf(r), c.bulkOutcome(t.ID, a, arg, results))
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// bulkOutcome says what a bulk action did: how many changed, how many
// were so already, and who was refused, grouped by why, in words.
func (c *Console) bulkOutcome(tenant string, a bulkAction, arg string, results []directory.BulkResult) string {
	t := c.tally(tenant, a, results)
	var b strings.Builder
	fmt.Fprintf(&b, a.done, t.changed, people(t.changed), arg)
	if t.unchanged > 0 {
		fmt.Fprintf(&b, "; %d unchanged", t.unchanged)
	}
	if t.refused > 0 {
		fmt.Fprintf(&b, "; %d not: %s", t.refused, t.why)
	}
	b.WriteString(".")
	return b.String()
}

// bulkPreview says, on the confirmation, what a dry run of the action
// found that the count alone does not: the cards it would leave as they
// are. Empty when it would change them all.
func (c *Console) bulkPreview(tenant string, a bulkAction, results []directory.BulkResult) string {
	t := c.tally(tenant, a, results)
	if t.unchanged == 0 && t.refused == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Of these, %d would change", t.changed)
	if t.unchanged > 0 {
		fmt.Fprintf(&b, "; %d %s so already", t.unchanged, map[bool]string{true: "is", false: "are"}[t.unchanged == 1])
	}
	if t.refused > 0 {
		fmt.Fprintf(&b, "; %d would not: %s", t.refused, t.why)
	}
	b.WriteString(".")
	return b.String()
}

// bulkTally counts a bulk's results; why names the refused, grouped by
// the reason, in the order met.
type bulkTally struct {
	changed, unchanged, refused int
	why                         string
}

// refusalsNamed bounds the people named per reason of refusal.
const refusalsNamed = 3

func (c *Console) tally(tenant string, a bulkAction, results []directory.BulkResult) bulkTally {
	policy, _ := c.deps.Directory.Policy(tenant)
	now := c.deps.Directory.Now()
	var t bulkTally
	var reasons []string
	refused := map[string][]string{}
	for _, res := range results {
		switch {
		case res.Err != nil:
			t.refused++
			why := refusalWords(a.Action, policy, now, res)
			if _, ok := refused[why]; !ok {
				reasons = append(reasons, why)
			}
			who := res.Card.Email
			if who == "" {
				who = "card " + res.CardID
			}
			refused[why] = append(refused[why], who)
		case res.Changed:
			t.changed++
		default:
			t.unchanged++
		}
	}
	var b strings.Builder
	for i, why := range reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		who := refused[why]
		b.WriteString(strings.Join(who[:min(len(who), refusalsNamed)], ", "))
		if len(who) > refusalsNamed {
			fmt.Fprintf(&b, " and %d more", len(who)-refusalsNamed)
		}
		b.WriteString(" — " + why)
	}
	t.why = b.String()
	return t
}

// refusalWords says why the directory refused a card, as a clause.
func refusalWords(action directory.BulkAction, policy directory.Policy, now time.Time, res directory.BulkResult) string {
	var soon *directory.TooSoonError
	switch {
	case errors.Is(res.Err, store.ErrNotFound):
		return "the card no longer exists"
	case errors.As(res.Err, &soon):
		return "a reminder went out less than the reminder interval ago"
	case errors.Is(res.Err, directory.ErrNotInvitable) && action == directory.BulkRemind:
		return fmt.Sprintf("no pending invite to remind of (%s)", strings.ToLower(statusLabel(directory.StatusOf(res.Card, now))))
	case errors.Is(res.Err, directory.ErrNotInvitable):
		if why := directory.NotInvitedReason(policy, res.Card); why != "" {
			return why.Explain()
		}
	case errors.Is(res.Err, directory.ErrNotPending):
		return "not waiting for approval"
	}
	return res.Err.Error()
}

func people(n int) string {
	if n == 1 {
		return "person"
	}
	return "people"
}
