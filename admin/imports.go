package admin

// The admin's import: POST …/imports. Decisions the issue left open:
//
//   - The request is multipart/form-data (a file field, or a text field)
//     or, in any other body, a JSON object ({"text": …, "columns": {…}, "dry_run": true, …});
//     the options may be query parameters instead. An option given twice
//     (query and body) is an error, as is any name not listed here.
//   - Pasted text is read as a file would be: the header row's most
//     frequent delimiter (comma or tab) splits the rows, and lines are
//     reported as "pasted.txt:<line>".
//   - columns maps headers to a card field, custom.<name>, relation.<name>
//     (a relation the tenant declares) or "ignore". Given, it is the whole
//     mapping (on top of the headers rosterd knows), each of its headers
//     must be in the file, and it becomes the tenant's import default.
//     Not given, the default applies to the headers the file has. A
//     header custom.<name> needs no mapping: it is read as that custom
//     attribute (filefeed's default, what the card export writes).
//   - invite (yes|no, true|false) defaults to no; only cards the import
//     creates are invited.
//   - A dry run is the review, stored with the run; from_review=RUN
//     applies it as a new run (trigger "review") and takes no other
//     option: everything was decided when it was reviewed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/sync/filefeed"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// importParams are the options of an import, as query, form or JSON names.
var importParams = []string{"dry_run", "invite", "full_roster", "clear_empty", "columns", "from_review"}

// pastedName is the file name pasted text is read under.
const pastedName = "pasted.txt"

// ImportBody is an import's answer: its run, the summary and, for a dry
// run, the review.
type ImportBody struct {
	RunBody
	Summary ImportSummary `json:"summary"`
	// FromReview is the dry run this run applied.
	FromReview string        `json:"from_review,omitempty"`
	Review     *ImportReview `json:"review,omitempty"`
	// Failure is why the run failed, when the runner said so.
	Failure error `json:"-"`
}

// ImportSummary counts what an import did (or, in a dry run, would do).
type ImportSummary struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Invited   int `json:"invited"`
	// Flagged counts the rows skipped (not notes about the header).
	Flagged   int `json:"flagged"`
	Refused   int `json:"refused"`
	Withdrawn int `json:"withdrawn"`
}

// ImportReview is what a dry run shows before anything applies.
type ImportReview struct {
	Columns []ReviewColumn `json:"columns"`
	// Ignored are the headers of the ignored columns.
	Ignored []string       `json:"ignored"`
	Flagged []ReviewFlag   `json:"flagged"`
	Changes []ReviewChange `json:"changes"`
}

// ReviewColumn is how one header maps: Kind is field, custom, relation
// or ignored; MappedBy is columns (the request's), import_default (the
// tenant's remembered mapping) or default (a header rosterd knows).
type ReviewColumn struct {
	Column   int    `json:"column"`
	Header   string `json:"header"`
	Target   string `json:"target,omitempty"`
	Kind     string `json:"kind"`
	MappedBy string `json:"mapped_by,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// ReviewFlag is a row that is skipped.
type ReviewFlag struct {
	Line   int    `json:"line"`
	Where  string `json:"where"`
	Reason string `json:"reason"`
}

// ReviewChange is one person the import creates or changes: the card's
// attributes after it and what of them changes.
type ReviewChange struct {
	Action  string `json:"action"`
	Line    int    `json:"line,omitempty"`
	Email   string `json:"email,omitempty"`
	CardID  string `json:"card_id,omitempty"`
	Version int64  `json:"version,omitempty"`
	// Attributes are all the card will have.
	Attributes *directory.Attributes       `json:"attributes,omitempty"`
	Changes    []directory.AttributeChange `json:"changes"`
	Invite     bool                        `json:"invite"`
	Effect     string                      `json:"effect,omitempty"`
	Refused    string                      `json:"refused,omitempty"`
}

// importRequest is an import as asked for.
type importRequest struct {
	values  map[string]string // the options but columns, as given
	columns map[string]string // nil when not given
	name    string
	data    []byte
	given   bool // a file or text was sent
}

// importFile: POST …/imports — see the top of this file.
func (a *API) importFile(w http.ResponseWriter, r *http.Request, tenant string) {
	if _, ok := a.runner(w); !ok {
		return
	}
	req, ok := readImport(w, r)
	if !ok {
		return
	}
	if id := req.values["from_review"]; id != "" {
		a.applyReview(w, r, tenant, req, id)
		return
	}
	if !req.given {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "file", "send a file (multipart field file) or pasted text (text), or name a review (from_review)")
		return
	}
	var opts [3]bool
	for i, name := range []string{"dry_run", "full_roster", "clear_empty"} {
		if opts[i], ok = boolParam(w, name, req.values[name]); !ok {
			return
		}
	}
	invite, ok := yesNo(w, "invite", req.values["invite"])
	if !ok {
		return
	}
	body, err := a.Import(r.Context(), tenant, actor(r).Name, ImportInput{Name: req.name, Data: req.data, Columns: req.columns,
		DryRun: opts[0], Invite: invite, FullRoster: opts[1], ClearEmpty: opts[2]})
	a.answerImport(w, r, body, err)
}

// applyReview applies a dry run as it was reviewed.
func (a *API) applyReview(w http.ResponseWriter, r *http.Request, tenant string, req importRequest, id string) {
	for _, name := range importParams {
		if _, set := req.values[name]; set && name != "from_review" || name == "columns" && req.columns != nil {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name,
				fmt.Sprintf("%s cannot be given with from_review: the review is applied as it was reviewed", name))
			return
		}
	}
	if req.given {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "file", "a file or text cannot be given with from_review: the review's own rows are applied")
		return
	}
	body, err := a.ApplyImportReview(r.Context(), tenant, id, actor(r).Name)
	a.answerImport(w, r, body, err)
}

// ReviewRunner applies an import's review (*reconcile.Runner).
type ReviewRunner interface {
	ApplyReview(ctx context.Context, f reconcile.Feed, reviewID string, opt reconcile.RunOptions) (store.Run, error)
}

// answerImport answers with the import's run: 201, or 422 when it failed;
// an import refused, with its error.
func (a *API) answerImport(w http.ResponseWriter, r *http.Request, body ImportBody, err error) {
	var (
		refused *ImportError
		changed *reconcile.ReviewChangedError
	)
	switch {
	case errors.As(err, &refused):
		daemon.WriteError(w, refused.Status, refused.Code, refused.Field, refused.Message)
		return
	case errors.As(err, &changed):
		daemon.WriteJSON(w, http.StatusConflict, planChangedBody{
			Error: planChangedDetail{Code: "review_changed", Message: err.Error(), Changes: changed.Changes},
			Run:   body.RunBody,
		})
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if body.Failed() {
		status = http.StatusUnprocessableEntity
	}
	w.Header().Set("Location", "/api/v1/tenants/"+body.Tenant+"/runs/"+body.ID)
	writeImportBody(w, status, body)
}

// writeImportBody writes body as daemon.WriteJSON would, a review's
// changes one at a time: the review of 50,000 rows is 29 MB of JSON, which
// json.Marshal would build (and grow, copy and clear) in memory first. The
// rest is marshalled with the changes left out, and they are written where
// json put their null: "changes":null can only appear in that output
// unescaped as the key itself, and the review's changes come last.
func writeImportBody(w http.ResponseWriter, status int, body ImportBody) {
	if body.Review == nil || len(body.Review.Changes) < 100 {
		daemon.WriteJSON(w, status, body)
		return
	}
	changes := body.Review.Changes
	rv := *body.Review
	rv.Changes = nil
	body.Review = &rv
	shell, err := json.Marshal(body)
	head, rest, ok := bytes.Cut(shell, []byte(`"changes":null`))
	if err != nil || !ok {
		body.Review.Changes = changes
		daemon.WriteJSON(w, status, body)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head)
	bw.WriteString(`"changes":[`)
	enc := json.NewEncoder(bw)
	for i := range changes {
		if i > 0 {
			bw.WriteByte(',')
		}
		// Encode ends each value with a newline, which JSON allows
		// between values.
		if err := enc.Encode(&changes[i]); err != nil {
			return // the status is out: the client sees a cut answer
		}
	}
	bw.WriteByte(']')
	bw.Write(rest)
	bw.WriteByte('\n')
	_ = bw.Flush()
}

func importSummary(run store.Run, plan *reconcile.Plan) ImportSummary {
	c := run.Counts
	s := ImportSummary{Created: c["create"], Updated: c["claim"] + c["update"] + c["deactivate"] + c["reactivate"],
		Unchanged: c["unchanged"], Invited: c["invited"], Refused: c["refused"], Withdrawn: c["withdraw"]}
	if plan != nil {
		for _, f := range plan.Flagged {
			if !f.Header {
				s.Flagged++
			}
		}
	}
	return s
}

// lineNumber is the line of "file:12".
func lineNumber(where string) int {
	n, _ := strconv.Atoi(where[strings.LastIndexByte(where, ':')+1:])
	return n
}

func makeReview(plan *reconcile.Plan, header []filefeed.HeaderColumn, remembered bool) *ImportReview {
	rv := &ImportReview{Columns: make([]ReviewColumn, 0, len(header)), Ignored: []string{}, Flagged: []ReviewFlag{},
		Changes: make([]ReviewChange, 0, len(plan.Changes))}
	for _, h := range header {
		c := ReviewColumn{Column: h.Column, Header: h.Header, Target: h.Target, MappedBy: h.By, Reason: h.Reason}
		switch {
		case h.Ignored:
			c.Kind = "ignored"
			rv.Ignored = append(rv.Ignored, h.Header)
		case strings.HasPrefix(h.Target, "custom."):
			c.Kind = "custom"
		case strings.HasPrefix(h.Target, "relation."):
			c.Kind = "relation"
		default:
			c.Kind = "field"
		}
		if remembered && c.MappedBy == "columns" {
			c.MappedBy = "import_default"
		}
		rv.Columns = append(rv.Columns, c)
	}
	for _, f := range plan.Flagged {
		if !f.Header {
			rv.Flagged = append(rv.Flagged, ReviewFlag{Line: lineNumber(f.Line), Where: f.Line, Reason: f.Reason})
		}
	}
	for _, ch := range plan.Changes {
		changes := ch.CardChanges
		if changes == nil {
			changes = []directory.AttributeChange{}
		}
		rc := ReviewChange{Action: string(ch.Action), Email: ch.Email, CardID: ch.CardID, Version: ch.Version,
			Attributes: ch.Card, Changes: changes, Invite: ch.Invite, Effect: ch.Effect, Refused: ch.Refused}
		if ch.Line != "" {
			rc.Line = lineNumber(ch.Line)
		}
		rv.Changes = append(rv.Changes, rc)
	}
	return rv
}

// importDefaults is where tenants' import mappings are kept: the store,
// when it keeps them.
func (a *API) importDefaults() store.ImportDefaults {
	d, _ := a.services.Store.(store.ImportDefaults)
	return d
}

// readImport reads an import request: query parameters, and a
// multipart/form-data or JSON body. It answers a bad one itself.
func readImport(w http.ResponseWriter, r *http.Request) (importRequest, bool) {
	req := importRequest{values: map[string]string{}}
	set := func(name, v string) bool {
		if !slices.Contains(importParams, name) {
			daemon.WriteError(w, http.StatusBadRequest, "unknown_parameter", name,
				fmt.Sprintf("unknown parameter %q (want file or text, %s)", name, strings.Join(importParams, ", ")))
			return false
		}
		if _, dup := req.values[name]; dup || name == "columns" && req.columns != nil {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, fmt.Sprintf("%s is given more than once", name))
			return false
		}
		if name == "columns" {
			var cols map[string]string
			if err := json.Unmarshal([]byte(v), &cols); err != nil || cols == nil {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "columns", `columns must be a JSON object of header → target, such as {"Office Location": "location"}`)
				return false
			}
			req.columns = cols
			return true
		}
		req.values[name] = v
		return true
	}
	// A misspelt option ("clear-empty") must not pass for its default.
	for name, vs := range r.URL.Query() {
		if len(vs) > 1 {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, fmt.Sprintf("%s is given more than once", name))
			return req, false
		}
		if !set(name, vs[0]) {
			return req, false
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBody)
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		return req, readImportForm(w, r, &req, set)
	}
	// Any other body is JSON, whatever its type says (curl -d sends
	// application/x-www-form-urlencoded), as for the other JSON routes.
	// No body: a review applied, named in the query.
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); err != nil {
		if bodyTooBig(w, err, "") {
			return req, false
		}
		return req, true
	}
	r.Body = io.NopCloser(br)
	return req, readImportJSON(w, r, &req, set)
}

func bodyTooBig(w http.ResponseWriter, err error, field string) bool {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		daemon.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", field, "the upload is larger than 50 MiB")
		return true
	}
	if slow, ok := errors.AsType[*daemon.BodyTimeoutError](err); ok {
		daemon.WriteError(w, http.StatusRequestTimeout, "body_timeout", field, slow.Error())
		return true
	}
	return false
}

func readImportForm(w http.ResponseWriter, r *http.Request, req *importRequest, set func(name, v string) bool) bool {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		if !bodyTooBig(w, err, "file") {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_body", "", "send multipart/form-data with a file or text field: "+err.Error())
		}
		return false
	}
	defer r.MultipartForm.RemoveAll()
	for name, vs := range r.MultipartForm.Value {
		if name == "text" {
			continue
		}
		if len(vs) > 1 {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, fmt.Sprintf("%s is given more than once", name))
			return false
		}
		if !set(name, vs[0]) {
			return false
		}
	}
	for name := range r.MultipartForm.File {
		if name != "file" {
			daemon.WriteError(w, http.StatusBadRequest, "unknown_parameter", name, fmt.Sprintf("unknown file field %q (want file)", name))
			return false
		}
	}
	texts := r.MultipartForm.Value["text"]
	files := r.MultipartForm.File["file"]
	switch {
	case len(texts)+len(files) > 1:
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "file", "send one file or one text, not several")
		return false
	case len(texts) == 1:
		return setText(w, req, texts[0])
	case len(files) == 1:
		file, err := files[0].Open()
		if err != nil {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "file", "the file cannot be read: "+err.Error())
			return false
		}
		defer file.Close()
		if req.data, err = io.ReadAll(file); err != nil {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "file", "the file cannot be read: "+err.Error())
			return false
		}
		req.name, req.given = files[0].Filename, true
	}
	return true
}

func setText(w http.ResponseWriter, req *importRequest, text string) bool {
	if strings.TrimSpace(text) == "" {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "text", "text is empty: paste a header row and a row per person")
		return false
	}
	req.name, req.data, req.given = pastedName, []byte(text), true
	return true
}

func readImportJSON(w http.ResponseWriter, r *http.Request, req *importRequest, set func(name, v string) bool) bool {
	var body map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil || dec.More() {
		if err == nil || !bodyTooBig(w, err, "text") {
			daemon.WriteError(w, http.StatusBadRequest, "invalid_json", "", "the body must be one JSON object")
		}
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(body)) {
		raw := body[name]
		if name == "text" {
			var text string
			if err := json.Unmarshal(raw, &text); err != nil {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "text", "text must be a string")
				return false
			}
			if !setText(w, req, text) {
				return false
			}
			continue
		}
		if !slices.Contains(importParams, name) {
			daemon.WriteError(w, http.StatusBadRequest, "unknown_field", name,
				fmt.Sprintf("unknown field %q (want text, %s)", name, strings.Join(importParams, ", ")))
			return false
		}
		v := string(bytes.TrimSpace(raw))
		if name != "columns" {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				v = s
			} else if v != "true" && v != "false" {
				daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, name+" must be a string or true or false")
				return false
			}
		}
		if !set(name, v) {
			return false
		}
	}
	return true
}

// yesNo reads invite: yes, no, true, false (and the other spellings of
// strconv.ParseBool); empty is no.
func yesNo(w http.ResponseWriter, name, v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "on":
		return true, true
	case "no", "off", "":
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", name, name+" must be yes or no")
		return false, false
	}
	return b, true
}
