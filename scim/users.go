package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

var userSchemas = newSchemas(schema.CoreUserSchema(), schema.ExtensionEnterpriseUser())

// users serves /Users: each resource is a card as this connection's claim
// states it.
type users struct{ s *Server }

func actorOf(c connection) directory.Actor { return directory.Actor{Name: c.source} }

func (u *users) Create(r *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	in, err := u.claimInput(ctx, c, attrs)
	if err != nil {
		return elimity.Resource{}, err
	}
	in.MustBeNew = true
	out, err := u.s.dir.ApplyClaim(ctx, actorOf(c), in)
	if err != nil {
		return elimity.Resource{}, u.s.fail(ctx, err, "create user")
	}
	u.s.logger.Info("scim user created", "tenant", c.Tenant, "connection", c.Name, "card", out.Card.ID, "adopted", !out.Created)
	if out.Created {
		// A card this POST made is in none of the connection's groups, and
		// the outcome holds its claim: the answer needs no read.
		return u.s.userResource(c, out.Claim, out.Card, nil), nil
	}
	return u.resource(ctx, c, out.Card.ID)
}

func (u *users) Get(r *http.Request, id string) (elimity.Resource, error) {
	return u.resource(r.Context(), connFrom(r.Context()), id)
}

func (u *users) GetAll(r *http.Request, params elimity.ListRequestParams) (elimity.Page, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	f, err := userSchemas.userFilter(filterFrom(ctx))
	if err != nil {
		return elimity.Page{}, err
	}
	offset, limit := pageBounds(params, u.s.opt.MaxResults)
	rows, total, err := u.page(ctx, c, f, offset, limit)
	if err != nil {
		return elimity.Page{}, u.s.fail(ctx, err, "list users")
	}
	page := elimity.Page{TotalResults: total, Resources: []elimity.Resource{}}
	for _, row := range rows {
		page.Resources = append(page.Resources, u.s.userResource(c, row.Claim, row.Card, row.Groups))
	}
	return page, nil
}

// page reads the users at offset: with the total and the page's start
// from the page cache when it has them (a keyset read, no count), else with
// one row more before the page, whose id is where the page starts.
func (u *users) page(ctx context.Context, c connection, f *store.Filter, offset, limit int) ([]store.ClaimCard, int, error) {
	key := pageKey{source: c.Tenant + "/" + c.source}
	key.filter, _ = ctx.Value(filterTextKey{}).(string)
	gen := u.s.pages.generation(key.source)
	total, after, cached := u.s.pages.lookup(key, offset)
	if cached && limit == 0 {
		return nil, total, nil
	}
	q := store.ClaimQuery{Tenant: c.Tenant, Source: c.source, Filter: f, Offset: offset, Limit: limit, NoTotal: cached, WithGroups: true}
	before := false
	switch {
	case after != "":
		q.After, q.Offset = after, 0
	case offset > 0 && limit > 0:
		q.Offset, q.Limit, before = offset-1, limit+1, true
	}
	rows, n, err := u.s.dir.QueryClaims(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	if !cached {
		total = n
	}
	starts := map[int]string{}
	if before && len(rows) > 0 {
		starts[offset] = rows[0].Card.ID
		rows = rows[1:]
	}
	if len(rows) > 0 {
		starts[offset+len(rows)] = rows[len(rows)-1].Card.ID
	}
	u.s.pages.remember(key, gen, total, starts)
	return rows, total, nil
}

func pageBounds(params elimity.ListRequestParams, max int) (offset, limit int) {
	offset = params.StartIndex - 1
	if offset < 0 {
		offset = 0
	}
	limit = params.Count
	if limit < 0 {
		limit = 0
	}
	if limit > max {
		limit = max
	}
	return offset, limit
}

func (u *users) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	card, _, err := u.live(ctx, c, id)
	if err != nil {
		return elimity.Resource{}, err
	}
	want, err := ifMatch(r, card.Version)
	if err != nil {
		return elimity.Resource{}, err
	}
	in, err := u.claimInput(ctx, c, attrs)
	if err != nil {
		return elimity.Resource{}, err
	}
	in.CardID, in.IfVersion = id, want
	if _, err := u.s.dir.ApplyClaim(ctx, actorOf(c), in); err != nil {
		return elimity.Resource{}, u.s.fail(ctx, err, "replace user")
	}
	return u.resource(ctx, c, id)
}

func (u *users) Patch(r *http.Request, id string, ops []elimity.PatchOperation) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	// The claim is read, patched and written in one transaction (the
	// directory's Patch): no read before it, and no other write between
	// the read and the write.
	in := directory.ClaimInput{Tenant: c.Tenant, Source: c.source, CardID: id,
		Patch: func(card directory.Card, claim store.Claim) (directory.ClaimInput, error) {
			if _, err := ifMatch(r, card.Version); err != nil {
				return directory.ClaimInput{}, err
			}
			next, err := applyPatch(recordOf(claim), ops, userSchemas)
			if err != nil {
				return directory.ClaimInput{}, err
			}
			attrs, scimErr := validateUser(next)
			if scimErr != nil {
				return directory.ClaimInput{}, *scimErr
			}
			return u.claimInput(ctx, c, attrs)
		}}
	out, err := u.s.dir.ApplyClaim(ctx, actorOf(c), in)
	if errors.Is(err, directory.ErrNotFound) {
		return elimity.Resource{}, notFound("User", id)
	}
	if err != nil {
		return elimity.Resource{}, u.s.fail(ctx, err, "patch user")
	}
	return u.s.patchResult(r, out.Card.Version, func() (elimity.Resource, error) { return u.resource(ctx, c, id) })
}

func (u *users) Delete(r *http.Request, id string) error {
	ctx, c := r.Context(), connFrom(r.Context())
	card, claim, err := u.live(ctx, c, id)
	if err != nil {
		return err
	}
	want, err := ifMatch(r, card.Version)
	if err != nil {
		return err
	}
	_, err = u.s.dir.ApplyClaim(ctx, actorOf(c), directory.ClaimInput{Tenant: c.Tenant, Source: c.source, CardID: id,
		Email: claim.Email, State: store.Withdrawn, Authoritative: c.Authoritative, KeepGroups: true, IfVersion: want, EmailOptional: true})
	if err != nil {
		return u.s.fail(ctx, err, "delete user")
	}
	u.s.logger.Info("scim user deleted", "tenant", c.Tenant, "connection", c.Name, "card", id)
	return nil
}

// live returns a card this connection holds a live claim on, and the claim;
// any other card is 404, as if it did not exist.
func (u *users) live(ctx context.Context, c connection, id string) (store.Card, store.Claim, error) {
	row, err := u.row(ctx, c, id, false)
	return row.Card, row.Claim, err
}

// row is the card with this source's live claim on it (and, withGroups,
// the source's groups it is in), in one statement.
func (u *users) row(ctx context.Context, c connection, id string, withGroups bool) (store.ClaimCard, error) {
	rows, _, err := u.s.dir.QueryClaims(ctx, store.ClaimQuery{Tenant: c.Tenant, Source: c.source, Limit: 1, NoTotal: true,
		WithGroups: withGroups, Filter: &store.Filter{Op: "eq", Attr: store.AttrCardID, Value: id}})
	if err != nil {
		return store.ClaimCard{}, u.s.fail(ctx, err, "read user")
	}
	if len(rows) == 0 {
		return store.ClaimCard{}, notFound("User", id)
	}
	return rows[0], nil
}

func (u *users) resource(ctx context.Context, c connection, id string) (elimity.Resource, error) {
	row, err := u.row(ctx, c, id, true)
	if err != nil {
		return elimity.Resource{}, err
	}
	return u.s.userResource(c, row.Claim, row.Card, row.Groups), nil
}

// userResource is what GET returns: the record the IdP sent, with the
// card's id, the claim's active state, the groups it is in, and meta.
func (s *Server) userResource(c connection, claim store.Claim, card store.Card, groups []store.Group) elimity.Resource {
	attrs := recordOf(claim)
	var ext optional.String
	if k := key(attrs, "externalId"); k != "" {
		if v, ok := attrs[k].(string); ok && v != "" {
			ext = optional.NewString(v)
		}
		delete(attrs, k)
	}
	attrs["active"] = claim.State == store.Present
	if len(groups) > 0 {
		list := make([]any, 0, len(groups))
		for _, g := range groups {
			list = append(list, map[string]any{"value": g.ID, "display": g.DisplayName, "type": "direct",
				"$ref": s.opt.PublicURL + "/scim/" + c.Tenant + "/v2/Groups/" + g.ID})
		}
		attrs["groups"] = list
	}
	created, modified := claim.FirstSeen, card.UpdatedAt
	return elimity.Resource{ID: card.ID, ExternalID: ext, Attributes: attrs,
		Meta: elimity.Meta{Created: &created, LastModified: &modified, Version: etag(card.Version)}}
}

// recordOf is the claim's raw record as a map.
func recordOf(claim store.Claim) map[string]any {
	if len(claim.Raw) == 0 {
		return map[string]any{}
	}
	v, err := decode(claim.Raw)
	m, _ := v.(map[string]any)
	if err != nil || m == nil {
		return map[string]any{}
	}
	return m
}

// validateUser checks a patched resource against the schemas, as a POST
// body is checked, and returns its canonical attributes.
// userValidation is the core User schema plus externalId, and
// enterpriseValidation the enterprise extension: built once, since building
// them is a tenth of a PATCH's CPU, and only read afterwards (elimity's
// Schema.Validate has a value receiver and does not write to the schema).
var (
	userValidation = func() schema.Schema {
		s := schema.CoreUserSchema()
		s.Attributes = append(s.Attributes, schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name: "externalId", CaseExact: true, Mutability: schema.AttributeMutabilityReadWrite()})))
		return s
	}()
	enterpriseValidation = schema.ExtensionEnterpriseUser()
)

func validateUser(m map[string]any) (map[string]any, *scimerrors.ScimError) {
	attrs, err := userValidation.Validate(m)
	if err != nil {
		return nil, err
	}
	if k := key(m, enterpriseSchema); k != "" {
		ext, err := enterpriseValidation.Validate(m[k])
		if err != nil {
			return nil, err
		}
		attrs[enterpriseSchema] = ext
	}
	return attrs, nil
}

// claimInput maps a validated User onto the connection's claim: the email
// (the primary or work email, else a userName that is an address), the
// login (userName), active → present or deactivated, the attributes the
// card uses, and the whole record as the IdP sent it.
func (u *users) claimInput(ctx context.Context, c connection, attrs map[string]any) (directory.ClaimInput, error) {
	record := map[string]any{}
	for k, v := range attrs {
		switch strings.ToLower(k) {
		case "id", "meta", "schemas", "groups", "password":
			// Ours, read-only, or a secret rosterd never keeps.
		default:
			record[k] = v
		}
	}
	login, _ := attrs["userName"].(string)
	if strings.TrimSpace(login) == "" {
		return directory.ClaimInput{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Detail: "userName is required", Status: 400}
	}
	// The email that may identify the person across sources: the primary
	// (or work) address, else a userName that is an address. A user with
	// neither still gets a card, without an email.
	email := pickEmail(attrs)
	if _, _, err := directory.NormalizeEmail(email); err != nil {
		email = login
	}
	state := store.Present
	if v, ok := attrs["active"]; ok && v != nil && !truthy(v) {
		state = store.Deactivated
	}
	a := directory.Attributes{
		DisplayName: str(attrs["displayName"]),
		Title:       str(attrs["title"]),
	}
	if name, ok := attrs["name"].(map[string]any); ok {
		a.GivenName, a.FamilyName = str(name["givenName"]), str(name["familyName"])
		if a.DisplayName == "" {
			a.DisplayName = str(name["formatted"])
		}
	}
	if addr := pick(attrs["addresses"]); addr != nil {
		a.Location = str(addr["locality"])
	}
	if role := pick(attrs["roles"]); role != nil {
		a.Role = str(role["value"])
	}
	if ext, ok := attrs[enterpriseSchema].(map[string]any); ok {
		a.Department, a.EmployeeID = str(ext["department"]), str(ext["employeeNumber"])
		custom := map[string]string{}
		for _, f := range []struct{ from, to string }{{"organization", "organization"}, {"division", "division"}, {"costCenter", "cost_center"}} {
			if v := str(ext[f.from]); v != "" {
				custom[f.to] = v
			}
		}
		if len(custom) > 0 {
			a.Custom = custom
		}
		if mgr, ok := ext["manager"].(map[string]any); ok {
			if id := str(mgr["value"]); id != "" {
				// The manager is named by their SCIM id: the card's email is
				// what the platform shows.
				if card, err := u.s.dir.Get(ctx, c.Tenant, id); err == nil {
					a.ManagerEmail = card.Email
				}
			}
		}
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return directory.ClaimInput{}, err
	}
	return directory.ClaimInput{Tenant: c.Tenant, Source: c.source, Email: email, Login: login, State: state,
		Authoritative: c.Authoritative, Attributes: a, Raw: raw, KeepGroups: true, EmailOptional: true}, nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// pick returns the primary element of a multi-valued complex attribute,
// else the work one, else the first.
func pick(v any) map[string]any {
	list, _ := v.([]any)
	var work, firstElem map[string]any
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if truthy(m["primary"]) {
			return m
		}
		if work == nil && strings.EqualFold(str(m["type"]), "work") {
			work = m
		}
		if firstElem == nil {
			firstElem = m
		}
	}
	if work != nil {
		return work
	}
	return firstElem
}

func pickEmail(attrs map[string]any) string {
	if m := pick(attrs["emails"]); m != nil {
		return str(m["value"])
	}
	return ""
}

// etag is the weak entity tag of a version.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch returns the version an If-Match header names (0 when there is
// none or it is "*"), or 412 when it names another than current.
func ifMatch(r *http.Request, current int64) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		v, err := strconv.ParseInt(strings.Trim(tag, `"`), 10, 64)
		if err == nil && v == current {
			return v, nil
		}
	}
	return 0, scimerrors.ScimError{Status: http.StatusPreconditionFailed, Detail: fmt.Sprintf("the resource is at version %s, not %s", etag(current), h)}
}

func notFound(resource, id string) error {
	return scimerrors.ScimError{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %s not found", resource, id)}
}

// fail turns a directory error into a SCIM error; unexpected ones are
// logged (without bodies) and answered 500.
func (s *Server) fail(ctx context.Context, err error, what string) error {
	var se scimerrors.ScimError
	var ie *directory.InvalidEmailError
	var bad interface{ InvalidFilter() bool }
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &bad) && bad.InvalidFilter():
		return scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidFilter, Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, directory.ErrClaimExists), errors.Is(err, directory.ErrLoginTaken),
		errors.Is(err, directory.ErrEmailTaken), errors.Is(err, directory.ErrGroupNameTaken):
		return scimerrors.ScimError{ScimType: scimerrors.ScimTypeUniqueness, Status: http.StatusConflict, Detail: uniquenessDetail(err)}
	case errors.Is(err, directory.ErrVersionMismatch):
		return scimerrors.ScimError{Status: http.StatusPreconditionFailed, Detail: "the resource changed since the version given in If-Match"}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, directory.ErrUnknownTenant):
		return scimerrors.ScimError{Status: http.StatusNotFound, Detail: "resource not found"}
	case errors.As(err, &ie), errors.Is(err, directory.ErrInvalid):
		return scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return scimerrors.ScimError{Status: http.StatusServiceUnavailable, Detail: "the request was cancelled"}
	}
	c := connFrom(ctx)
	s.logger.Error("scim request failed", "tenant", c.Tenant, "connection", c.Name, "operation", what, "err", err)
	return scimerrors.ScimError{Status: http.StatusInternalServerError, Detail: "internal error"}
}

func uniquenessDetail(err error) string {
	switch {
	case errors.Is(err, directory.ErrLoginTaken):
		return "another user of this connection has this userName"
	case errors.Is(err, directory.ErrClaimExists):
		return "this connection already has a user for this person (userName or email)"
	case errors.Is(err, directory.ErrEmailTaken):
		return "another user has this email address"
	default:
		return "another group of this connection has this displayName"
	}
}

// patchResult answers a successful PATCH. RFC 7644 §3.5.2 allows 200 with
// the resource or 204 with headers; rosterd answers 204 with the new ETag
// (what Microsoft's reference server does, and Entra ID and Okta accept),
// unless the request asks for attributes, which only a body can carry.
//
// version is the resource's version after the PATCH, when the caller knows
// it (0: load tells): a 204 needs no other read.
func (s *Server) patchResult(r *http.Request, version int64, load func() (elimity.Resource, error)) (elimity.Resource, error) {
	q := r.URL.Query()
	if q.Has("attributes") || q.Has("excludedAttributes") {
		return load()
	}
	tag := ""
	if version != 0 {
		tag = etag(version)
	} else {
		res, err := load()
		if err != nil {
			return res, err
		}
		tag = res.Meta.Version
	}
	if rec, ok := r.Context().Value(recorderKey{}).(*recorder); ok {
		rec.header.Set("Etag", tag)
	}
	return elimity.Resource{}, nil
}
