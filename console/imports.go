package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterd/rosterd/admin"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// Imports is what the import pages ask of the admin API (*admin.API): the
// same calls its POST …/imports makes, so that how a file is read, mapped,
// reviewed and applied is decided in one place.
type Imports interface {
	Import(ctx context.Context, tenant, actor string, in admin.ImportInput) (admin.ImportBody, error)
	ApplyImportReview(ctx context.Context, tenant, reviewID, actor string) (admin.ImportBody, error)
	ImportRun(ctx context.Context, tenant, id string) (admin.ImportBody, error)
}

// maxImportFile bounds a file the console imports: the review page carries
// it back (base64) for a review after remapping. Larger files go through
// the API or `rosterd import`, which take 50 MiB.
const maxImportFile = 10 << 20

// maxImportForm bounds the body of the import forms: the file, base64, and
// the rest of the form.
const maxImportForm = maxImportFile*4/3 + 1<<20

// importFields are the import forms' fields; any other is refused.
var importFields = []string{"csrf", "text", "data", "name", "invite"}

func (c *Console) importsConfigured(w http.ResponseWriter, r *http.Request) bool {
	if c.deps.Imports == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Imports are not configured in this rosterd.")
		return false
	}
	return true
}

type importView struct {
	Tenant Tenant
	Text   string
	Error  string
	MaxMiB int
}

// importPage: GET /console/t/{t}/import — upload a file or paste rows.
func (c *Console) importPage(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.importsConfigured(w, r) {
		return
	}
	if len(r.URL.Query()) > 0 {
		c.errorPage(w, r, http.StatusBadRequest, "The import page takes no parameters.")
		return
	}
	c.render(w, r, http.StatusOK, "import", "Import · "+t.Name, importView{Tenant: t, MaxMiB: maxImportFile >> 20})
}

// option is one target a column can map to.
type option struct {
	Value, Label string
}

// optionGroup is a group of a column's select.
type optionGroup struct {
	Label   string
	Options []option
}

// gridColumn is one column of the review's grid.
type gridColumn struct {
	// Index is the column's position, from 1.
	Index            int
	Header           string
	Target           string
	Kind, By, Reason string
	Groups           []optionGroup
}

// reviewRow is one person of the review.
type reviewRow struct {
	Action, Email, Changes, Effect, Refused string
	Line                                    int
	Invite                                  bool
	CardURL                                 string
}

type reviewView struct {
	Tenant Tenant
	// Name and Data are the file, Data base64, for the review again.
	Name, Data string
	Invite     bool
	Error      string
	Columns    []gridColumn
	// Reviewed is false when the file could not be reviewed (Error says
	// why); the grid is then the one sent, to fix.
	Reviewed bool
	RunID    string
	Summary  admin.ImportSummary
	Flagged  []admin.ReviewFlag
	Changes  []reviewRow
	Cut      bool
}

// importForm is an import form as sent: a file or text, or (for a review
// again) the file back with the grid's mapping.
type importForm struct {
	name    string
	data    []byte
	invite  bool
	columns map[string]string // nil on the first review
	grid    []gridColumn      // the grid as sent
}

// readImportForm reads an import form; a problem comes back in words.
func readImportForm(r *http.Request) (importForm, string) {
	var f importForm
	values := r.PostForm
	if r.MultipartForm != nil {
		values = r.MultipartForm.Value
		for name := range r.MultipartForm.File {
			if name != "file" {
				return f, fmt.Sprintf("The form has an unknown file field %q.", name)
			}
		}
	}
	cols := map[int][2]string{}
	for name, vs := range values {
		if len(vs) > 1 {
			return f, fmt.Sprintf("The form's field %q is given more than once.", name)
		}
		kind, n, ok := strings.Cut(name, ".")
		if i, err := strconv.Atoi(n); ok && err == nil && i > 0 && i <= 10000 && (kind == "col" || kind == "header") {
			pair := cols[i]
			if kind == "header" {
				pair[0] = vs[0]
			} else {
				pair[1] = vs[0]
			}
			cols[i] = pair
			continue
		}
		if !slices.Contains(importFields, name) {
			return f, fmt.Sprintf("The form has an unknown field %q.", name)
		}
	}
	switch v := values.Get("invite"); v {
	case "yes":
		f.invite = true
	case "no", "":
	default:
		return f, fmt.Sprintf("“Auto-invite new users?” must be yes or no, not %q.", v)
	}
	text := values.Get("text")
	var files int
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["file"] {
			if fh.Size > 0 || fh.Filename != "" {
				files++
			}
		}
	}
	sources := files
	if strings.TrimSpace(text) != "" {
		sources++
	}
	if values.Get("data") != "" {
		sources++
	}
	switch {
	case sources == 0:
		return f, "Choose a file to upload, or paste a header row and a row per person."
	case sources > 1:
		return f, "Upload a file or paste rows, not both."
	case files == 1:
		fh := r.MultipartForm.File["file"][0]
		if fh.Size > maxImportFile {
			return f, fmt.Sprintf("The file is larger than %d MiB, the most the console imports; import it with the API (POST …/imports) or rosterd import.", maxImportFile>>20)
		}
		file, err := fh.Open()
		if err != nil {
			return f, "The file cannot be read: " + err.Error()
		}
		defer file.Close()
		if f.data, err = io.ReadAll(file); err != nil {
			return f, "The file cannot be read: " + err.Error()
		}
		f.name = fh.Filename
	case text != "":
		if len(text) > maxImportFile {
			return f, fmt.Sprintf("The pasted text is larger than %d MiB, the most the console imports.", maxImportFile>>20)
		}
		f.name, f.data = admin.PastedName, []byte(text)
	default:
		data, err := base64.StdEncoding.DecodeString(values.Get("data"))
		if err != nil || len(data) > maxImportFile {
			return f, "The file sent back for review is damaged; upload it again."
		}
		f.name, f.data = values.Get("name"), data
		if f.name == "" {
			return f, "The file sent back for review has no name; upload it again."
		}
		f.columns = map[string]string{}
		for _, i := range slices.Sorted(maps.Keys(cols)) {
			h, target := cols[i][0], cols[i][1]
			if h == "" || target == "" {
				return f, fmt.Sprintf("Column %d of the grid has no header or no mapping; upload the file again.", i)
			}
			f.columns[h] = target
			f.grid = append(f.grid, gridColumn{Index: i, Header: h, Target: target})
		}
		if len(f.columns) == 0 {
			return f, "The grid sent back has no columns; upload the file again."
		}
	}
	return f, ""
}

// importReview: POST /console/t/{t}/import — the review (a dry run) of a
// file or text, or of the file again with the grid's mapping.
func (c *Console) importReview(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.importsConfigured(w, r) {
		return
	}
	f, problem := readImportForm(r)
	again := func(problem string) {
		c.render(w, r, http.StatusOK, "import", "Import · "+t.Name, importView{Tenant: t, Text: r.PostFormValue("text"), Error: problem, MaxMiB: maxImportFile >> 20})
	}
	if problem != "" {
		again(problem)
		return
	}
	body, err := c.deps.Imports.Import(r.Context(), t.ID, actor(r).Name, admin.ImportInput{Name: f.name, Data: f.data, Columns: f.columns, DryRun: true, Invite: f.invite})
	view := reviewView{Tenant: t, Name: f.name, Data: base64.StdEncoding.EncodeToString(f.data), Invite: f.invite}
	var refused *admin.ImportError
	switch {
	case errors.As(err, &refused) && f.columns == nil:
		again(refused.Message)
		return
	case errors.As(err, &refused):
		view.Error = "The mapping cannot be used: " + refused.Message
	case err != nil:
		c.fail(w, r, err)
		return
	case body.Failed() || body.Review == nil:
		view.Error = "The file cannot be imported: " + strings.TrimPrefix(body.Error, "import: ")
		if body.Error == "" && body.Failure != nil {
			view.Error = "The file cannot be imported: " + body.Failure.Error()
		}
	default:
		view.Reviewed, view.RunID, view.Summary = true, body.ID, body.Summary
	}
	relations := c.relationsOf(t.ID)
	if view.Reviewed {
		rv := body.Review
		for _, col := range rv.Columns {
			target := col.Target
			if col.Kind == "ignored" {
				target = filefeed.IgnoreColumn
			}
			view.Columns = append(view.Columns, gridColumn{Index: col.Column, Header: col.Header, Target: target, Kind: col.Kind, By: col.MappedBy, Reason: col.Reason})
		}
		view.Flagged = rv.Flagged
		for _, ch := range rv.Changes {
			if len(view.Changes) >= planRows {
				view.Cut = true
				break
			}
			row := reviewRow{Action: ch.Action, Email: ch.Email, Line: ch.Line, Invite: ch.Invite, Effect: ch.Effect, Refused: ch.Refused}
			var parts []string
			for _, a := range ch.Changes {
				parts = append(parts, fmt.Sprintf("%s: %q → %q", a.Name, a.Old, a.New))
			}
			row.Changes = strings.Join(parts, "; ")
			if ch.CardID != "" {
				row.CardURL = tenantURL(t.ID) + "/cards/" + url.PathEscape(ch.CardID)
			}
			view.Changes = append(view.Changes, row)
		}
	} else {
		view.Columns = f.grid
	}
	for i := range view.Columns {
		view.Columns[i].Groups = targetOptions(view.Columns[i], relations)
	}
	c.render(w, r, http.StatusOK, "import_review", "Review the import · "+t.Name, view)
}

func (c *Console) relationsOf(tenant string) []string {
	if p, err := c.deps.Directory.Policy(tenant); err == nil {
		return p.Relations
	}
	return nil
}

// targetOptions are what a column can map to: the card's fields, a custom
// attribute named after its header (or the one it maps to), the tenant's
// relations, or nothing.
func targetOptions(col gridColumn, relations []string) []optionGroup {
	fields := optionGroup{Label: "Card fields"}
	for _, f := range filefeed.Targets() {
		fields.Options = append(fields.Options, option{Value: f, Label: f})
	}
	custom := optionGroup{Label: "Custom attribute"}
	own := "custom." + customName(col.Header)
	if strings.HasPrefix(col.Target, "custom.") && col.Target != own {
		custom.Options = append(custom.Options, option{Value: col.Target, Label: col.Target})
	}
	if own != "custom." {
		custom.Options = append(custom.Options, option{Value: own, Label: own})
	}
	groups := []optionGroup{fields, custom}
	if len(relations) > 0 {
		rel := optionGroup{Label: "Relation"}
		for _, name := range relations {
			rel.Options = append(rel.Options, option{Value: "relation." + name, Label: "relation." + name})
		}
		groups = append(groups, rel)
	}
	return append(groups, optionGroup{Label: "None", Options: []option{{Value: filefeed.IgnoreColumn, Label: "Ignore this column"}}})
}

// customName is a header as a custom attribute's name: "Cost Center" →
// cost_center.
func customName(header string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(strings.TrimSpace(header)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		default:
			under = true
		}
	}
	return b.String()
}

// importApply: POST /console/t/{t}/import/apply — applies the review as it
// was shown, then opens the summary. Cards that changed since refuse it
// (409) and nothing is applied.
func (c *Console) importApply(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.importsConfigured(w, r) {
		return
	}
	for name := range r.PostForm {
		if name != "csrf" && name != "review" {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("The form has an unknown field %q.", name))
			return
		}
	}
	id := r.PostForm.Get("review")
	if id == "" {
		c.errorPage(w, r, http.StatusBadRequest, "The form names no review to apply.")
		return
	}
	// A browser that goes away does not stop an apply midway.
	body, err := c.deps.Imports.ApplyImportReview(context.WithoutCancel(r.Context()), t.ID, id, actor(r).Name)
	var (
		changed *reconcile.ReviewChangedError
		refused *admin.ImportError
	)
	switch {
	case errors.As(err, &changed):
		c.errorPage(w, r, http.StatusConflict, "Nothing was imported: cards changed since the review ("+strings.Join(changed.Changes, "; ")+
			"). Upload the file again to review it as the cards are now.")
		return
	case errors.As(err, &refused):
		c.errorPage(w, r, refused.Status, "The review cannot be applied: "+refused.Message+".")
		return
	case errors.Is(err, reconcile.ErrBusy):
		c.errorPage(w, r, http.StatusConflict, "Another run of this tenant is under way; apply the review again in a moment.")
		return
	case err != nil:
		c.fail(w, r, err)
		return
	case body.Failed():
		c.deps.Logger.Warn("console import failed", "tenant", t.ID, "run", body.ID)
		c.sessions.setFlash(r.Context(), sessionOf(r), "The import failed: "+body.Error)
	default:
		c.sessions.setFlash(r.Context(), sessionOf(r), "Imported.")
	}
	http.Redirect(w, r, tenantURL(t.ID)+"/imports/"+url.PathEscape(body.ID), http.StatusSeeOther)
}

type summaryView struct {
	Tenant  Tenant
	Run     admin.ImportBody
	Summary admin.ImportSummary
	Flagged []reconcile.Flag
	RunURL  string
}

// importSummary: GET /console/t/{t}/imports/{id} — what an import did.
func (c *Console) importSummary(w http.ResponseWriter, r *http.Request, t Tenant) {
	if !c.importsConfigured(w, r) {
		return
	}
	if len(r.URL.Query()) > 0 {
		c.errorPage(w, r, http.StatusBadRequest, "The import summary takes no parameters.")
		return
	}
	body, err := c.deps.Imports.ImportRun(r.Context(), t.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, "There is no such import in this tenant.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	view := summaryView{Tenant: t, Run: body, Summary: body.Summary, RunURL: tenantURL(t.ID) + "/runs/" + url.PathEscape(body.ID)}
	if plan, err := reconcile.LoadPlan(body.Run); err == nil {
		for _, f := range plan.Flagged {
			if !f.Header {
				view.Flagged = append(view.Flagged, f)
			}
		}
	}
	c.render(w, r, http.StatusOK, "import_summary", "Import summary · "+t.Name, view)
}
