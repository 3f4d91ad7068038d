package scim

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/store"
)

var groupSchemas = newSchemas(schema.CoreGroupSchema())

// groups serves /Groups. A group's members are never held as one list:
// adding or removing members changes those members only, so a group of
// 10,000 is as cheap to change as a group of ten.
type groups struct{ s *Server }

func (g *groups) Create(r *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	name := str(attrs["displayName"])
	if name == "" {
		return elimity.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: 400, Detail: "displayName is required"}
	}
	raw, ext := groupRecord(attrs)
	ids, labels := memberRefs(attrs["members"])
	res, err := g.s.dir.CreateGroup(ctx, actorOf(c), directory.GroupInput{Tenant: c.Tenant, Source: c.source,
		DisplayName: name, ExternalID: ext, Raw: raw, Labels: labels}, ids)
	if err != nil {
		return elimity.Resource{}, g.s.fail(ctx, err, "create group")
	}
	g.logIgnored(c, res)
	return g.resource(ctx, c, res.Group, !excludesMembers(r))
}

func (g *groups) Get(r *http.Request, id string) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	grp, err := g.s.dir.GetGroup(ctx, c.Tenant, c.source, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return elimity.Resource{}, notFound("Group", id)
		}
		return elimity.Resource{}, g.s.fail(ctx, err, "read group")
	}
	return g.resource(ctx, c, grp, !excludesMembers(r))
}

func (g *groups) GetAll(r *http.Request, params elimity.ListRequestParams) (elimity.Page, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	f, err := groupSchemas.groupFilter(filterFrom(ctx))
	if err != nil {
		return elimity.Page{}, err
	}
	offset, limit := pageBounds(params, g.s.opt.MaxResults)
	list, total, err := g.s.dir.QueryGroups(ctx, store.GroupQuery{Tenant: c.Tenant, Source: c.source, Filter: f, Offset: offset, Limit: limit})
	if err != nil {
		return elimity.Page{}, g.s.fail(ctx, err, "list groups")
	}
	page := elimity.Page{TotalResults: total, Resources: []elimity.Resource{}}
	withMembers := !excludesMembers(r)
	for _, grp := range list {
		res, err := g.resource(ctx, c, grp, withMembers)
		if err != nil {
			return elimity.Page{}, err
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

func (g *groups) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	grp, err := g.s.dir.GetGroup(ctx, c.Tenant, c.source, id)
	if err != nil {
		return elimity.Resource{}, g.notFoundOr(ctx, err, id)
	}
	want, err := ifMatch(r, grp.Version)
	if err != nil {
		return elimity.Resource{}, err
	}
	name := str(attrs["displayName"])
	if name == "" {
		return elimity.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: 400, Detail: "displayName is required"}
	}
	raw, ext := groupRecord(attrs)
	ids, labels := memberRefs(attrs["members"])
	res, err := g.s.dir.UpdateGroup(ctx, actorOf(c), c.Tenant, c.source, id, directory.GroupChange{
		DisplayName: &name, ExternalID: &ext, Raw: raw, ReplaceMembers: true, Add: ids, Labels: labels, IfVersion: want})
	if err != nil {
		return elimity.Resource{}, g.s.fail(ctx, err, "replace group")
	}
	g.logIgnored(c, res)
	return g.resource(ctx, c, res.Group, !excludesMembers(r))
}

// Patch turns operations on members into additions and removals, and
// applies the rest (displayName, externalId) to the group's record.
func (g *groups) Patch(r *http.Request, id string, ops []elimity.PatchOperation) (elimity.Resource, error) {
	ctx, c := r.Context(), connFrom(r.Context())
	grp, err := g.s.dir.GetGroup(ctx, c.Tenant, c.source, id)
	if err != nil {
		return elimity.Resource{}, g.notFoundOr(ctx, err, id)
	}
	want, err := ifMatch(r, grp.Version)
	if err != nil {
		return elimity.Resource{}, err
	}
	record := map[string]any{"displayName": grp.DisplayName}
	if grp.ExternalID != "" {
		record["externalId"] = grp.ExternalID
	}
	ch := directory.GroupChange{IfVersion: want}
	var rest []elimity.PatchOperation
	memberOp := func(op string, path *filter.Path, value any) error {
		op = strings.ToLower(op)
		switch {
		case path != nil && path.ValueExpression != nil:
			// members[value eq "id"]: the ids the filter names.
			ids := filterIDs(path.ValueExpression)
			if op != elimity.PatchOperationRemove {
				return patchError(scimerrors.ScimTypeInvalidPath, "only remove takes a members filter")
			}
			ch.Remove = append(ch.Remove, ids...)
		case op == elimity.PatchOperationAdd:
			ids, labels := memberRefs(value)
			ch.Add = append(ch.Add, ids...)
			ch.Labels = withLabels(ch.Labels, labels)
		case op == elimity.PatchOperationRemove && value == nil:
			ch.ReplaceMembers, ch.Add, ch.Remove, ch.Labels = true, nil, nil, nil
		case op == elimity.PatchOperationRemove:
			ch.Remove = append(ch.Remove, memberIDs(value)...)
		case op == elimity.PatchOperationReplace:
			ids, labels := memberRefs(value)
			ch.ReplaceMembers, ch.Add, ch.Remove, ch.Labels = true, ids, nil, labels
		}
		return nil
	}
	for _, op := range ops {
		if op.Path != nil {
			if strings.EqualFold(op.Path.AttributePath.AttributeName, "members") {
				if err := memberOp(op.Op, op.Path, op.Value); err != nil {
					return elimity.Resource{}, err
				}
				continue
			}
			rest = append(rest, op)
			continue
		}
		values, ok := op.Value.(map[string]any)
		if !ok {
			return elimity.Resource{}, patchError(scimerrors.ScimTypeInvalidValue, "an operation without a path needs an object value")
		}
		others := map[string]any{}
		for k, v := range values {
			if strings.EqualFold(k, "members") {
				if err := memberOp(op.Op, nil, v); err != nil {
					return elimity.Resource{}, err
				}
				continue
			}
			others[k] = v
		}
		if len(others) > 0 {
			rest = append(rest, elimity.PatchOperation{Op: op.Op, Value: others})
		}
	}
	if ch.ReplaceMembers && len(ch.Remove) > 0 {
		return elimity.Resource{}, patchError(scimerrors.ScimTypeInvalidValue, "members replaced and removed in one request")
	}
	if len(rest) > 0 {
		next, err := applyPatch(record, rest, groupSchemas)
		if err != nil {
			return elimity.Resource{}, err
		}
		name, ext := str(next["displayName"]), str(next["externalId"])
		if name == "" {
			return elimity.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: 400, Detail: "displayName is required"}
		}
		raw, _ := groupRecord(next)
		ch.DisplayName, ch.ExternalID, ch.Raw = &name, &ext, raw
	}
	res, err := g.s.dir.UpdateGroup(ctx, actorOf(c), c.Tenant, c.source, id, ch)
	if err != nil {
		return elimity.Resource{}, g.s.fail(ctx, err, "patch group")
	}
	g.logIgnored(c, res)
	return g.s.patchResult(r, 0, func() (elimity.Resource, error) { return g.resource(ctx, c, res.Group, !excludesMembers(r)) })
}

func (g *groups) Delete(r *http.Request, id string) error {
	ctx, c := r.Context(), connFrom(r.Context())
	grp, err := g.s.dir.GetGroup(ctx, c.Tenant, c.source, id)
	if err != nil {
		return g.notFoundOr(ctx, err, id)
	}
	if _, err := ifMatch(r, grp.Version); err != nil {
		return err
	}
	if err := g.s.dir.DeleteGroup(ctx, actorOf(c), c.Tenant, c.source, id); err != nil {
		return g.s.fail(ctx, err, "delete group")
	}
	return nil
}

func (g *groups) notFoundOr(ctx context.Context, err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("Group", id)
	}
	return g.s.fail(ctx, err, "read group")
}

func (g *groups) logIgnored(c connection, res directory.GroupResult) {
	if len(res.Ignored) > 0 {
		g.s.logger.Warn("scim group members ignored: not users of this connection", "tenant", c.Tenant, "connection", c.Name,
			"group", res.Group.ID, "ignored", len(res.Ignored))
	}
}

// resource builds a group's representation; members are read page by page.
func (g *groups) resource(ctx context.Context, c connection, grp store.Group, withMembers bool) (elimity.Resource, error) {
	attrs := map[string]any{}
	if len(grp.Raw) > 0 {
		if v, err := decode(grp.Raw); err == nil {
			if m, ok := v.(map[string]any); ok {
				attrs = m
			}
		}
	}
	delete(attrs, key(attrs, "externalId"))
	attrs["displayName"] = grp.DisplayName
	if withMembers {
		members := []any{}
		after := ""
		for {
			page, err := g.s.dir.GroupMemberDisplays(ctx, grp.ID, after, 1000)
			if err != nil {
				return elimity.Resource{}, g.s.fail(ctx, err, "read group members")
			}
			for _, m := range page {
				member := map[string]any{"value": m.CardID, "type": "User",
					"$ref": g.s.opt.PublicURL + "/scim/" + c.Tenant + "/v2/Users/" + m.CardID}
				if m.Display != "" {
					member["display"] = m.Display
				}
				members = append(members, member)
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].CardID
		}
		attrs["members"] = members
	}
	var ext optional.String
	if grp.ExternalID != "" {
		ext = optional.NewString(grp.ExternalID)
	}
	created, modified := grp.Created, grp.Updated
	return elimity.Resource{ID: grp.ID, ExternalID: ext, Attributes: attrs,
		Meta: elimity.Meta{Created: &created, LastModified: &modified, Version: etag(grp.Version)}}, nil
}

// excludesMembers: Entra ID reads groups with excludedAttributes=members;
// then the member list is not read at all.
func excludesMembers(r *http.Request) bool {
	for _, a := range splitList(r.URL.Query().Get("excludedAttributes")) {
		if strings.EqualFold(a, "members") {
			return true
		}
	}
	if attrs := splitList(r.URL.Query().Get("attributes")); len(attrs) > 0 {
		for _, a := range attrs {
			if strings.EqualFold(a, "members") || strings.HasPrefix(strings.ToLower(a), "members.") {
				return false
			}
		}
		return true
	}
	return false
}

// groupRecord is the group's record without id, meta, schemas and members,
// and its externalId.
func groupRecord(attrs map[string]any) ([]byte, string) {
	record := map[string]any{}
	ext := ""
	for k, v := range attrs {
		switch strings.ToLower(k) {
		case "id", "meta", "schemas", "members":
		case "externalid":
			ext = str(v)
			record["externalId"] = v
		default:
			record[k] = v
		}
	}
	raw, _ := json.Marshal(record)
	return raw, ext
}

// memberIDs reads [{"value": "id"}, …] (or a single object, or plain ids).
func memberIDs(v any) []string {
	ids, _ := memberRefs(v)
	return ids
}

// memberRefs is memberIDs, and the display labels sent with the members
// by id: a member's "display", or else its "displayName" (the
// sub-attribute Microsoft's validator sends, which the Group schema does
// not have); a member sent without either has no entry.
func memberRefs(v any) ([]string, map[string]string) {
	var ids []string
	var labels map[string]string
	for _, e := range asList(v) {
		switch x := e.(type) {
		case map[string]any:
			id := str(x[key(x, "value")])
			if id == "" {
				continue
			}
			ids = append(ids, id)
			label := str(x[key(x, "display")])
			if label == "" {
				label = str(x[key(x, "displayName")])
			}
			if label != "" {
				if labels == nil {
					labels = map[string]string{}
				}
				labels[id] = label
			}
		case string:
			if x != "" {
				ids = append(ids, x)
			}
		}
	}
	return ids, labels
}

// withLabels adds labels to into (a later label of an id wins).
func withLabels(into, labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return into
	}
	if into == nil {
		into = map[string]string{}
	}
	maps.Copy(into, labels)
	return into
}

// filterIDs collects the ids a members filter names: value eq "id",
// possibly or-ed.
func filterIDs(e filter.Expression) []string {
	var ids []string
	var walk func(filter.Expression)
	walk = func(e filter.Expression) {
		switch x := e.(type) {
		case *filter.LogicalExpression:
			walk(x.Left)
			walk(x.Right)
		case *filter.AttributeExpression:
			if strings.EqualFold(x.AttributePath.AttributeName, "value") && strings.EqualFold(string(x.Operator), "eq") {
				if s, ok := compareValue(x).(string); ok {
					ids = append(ids, s)
				}
			}
		}
	}
	walk(e)
	return ids
}
