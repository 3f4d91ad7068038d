package scim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	scimerrors "github.com/elimity-com/scim/errors"
)

// recorder holds a response until the server has completed it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (r *recorder) flush(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	// The library names it "Etag"; RFC 7232 and every client spell it ETag.
	if v := w.Header().Get("Etag"); v != "" {
		w.Header().Del("Etag")
		w.Header()["ETag"] = []string{v}
	}
	w.WriteHeader(r.code())
	w.Write(r.body.Bytes())
}

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// decode parses JSON keeping numbers as json.Number, as the library does.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// normalizeBody accepts what real identity providers send and the library
// would refuse:
//   - a PatchOp without "schemas" (Entra ID);
//   - an extension object in a path-less PATCH value;
//   - the enterprise manager as a plain string, in a resource or in a
//     PATCH value (Entra ID), instead of {"value": "…"}; or as a list of
//     one {"$ref", "value"}, at the path "manager" (Entra's tutorial);
//   - a group member as a plain string, alone or in a list, instead of
//     {"value": "…"}, in a resource or a PATCH value of /Groups
//     (Microsoft's SCIM validator): the string is the member's value.
//
// A member's sub-attributes that the Group schema lacks the library
// ignores, as it does any unknown attribute; a string "displayName"
// (Microsoft's validator) becomes the member's "display" label, unless it
// has one.
//
// It refuses, with a ScimError: a string holding a NUL character (400
// invalidValue, naming its JSON path), and a PATCH path longer or deeper
// than a filter may be (400 invalidPath).
//
// Operation names in any case ("Replace") and string booleans ("False")
// the library accepts itself (schema.SetAllowStringValues).
//
// resource is what resourceOf names: "Users", "Groups", ….
func normalizeBody(body []byte, method, resource string) ([]byte, error) {
	v, err := decode(body)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return body, nil // let the library refuse it
	}
	if at, found := findNUL(doc, ""); found {
		// Neither store keeps one (PostgreSQL's jsonb cannot): the client's
		// mistake, not a 500.
		return nil, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: http.StatusBadRequest,
			Detail: at + ` holds a NUL character (\u0000), which rosterd does not store`}
	}
	if method == http.MethodPatch {
		if key(doc, "schemas") == "" {
			doc["schemas"] = []any{patchOpSchema}
		}
		opsKey := key(doc, "Operations")
		ops, _ := doc[opsKey].([]any)
		for _, o := range ops {
			op, ok := o.(map[string]any)
			if !ok {
				continue
			}
			pathKey, valueKey := key(op, "path"), key(op, "value")
			path, _ := op[pathKey].(string)
			// A path may hold a value filter: bounded before the library
			// or applyPatch parses it.
			if err := checkFilterBounds("path", path); err != nil {
				return nil, invalidPath("%s", err.Error())
			}
			if resource == "Groups" && strings.EqualFold(path, "members") {
				op[valueKey] = fixMembers(op[valueKey])
			}
			if isManagerPath(path) {
				// Entra ID sends the manager as "id", as {"value": "id"},
				// or as [{"$ref": …, "value": "id"}], with the path
				// "manager" or the extension's URN.
				if !strings.Contains(path, ":") {
					op[pathKey] = enterpriseSchema + ":manager"
				}
				v := op[valueKey]
				if l, ok := v.([]any); ok && len(l) == 1 {
					v = l[0]
				}
				switch x := v.(type) {
				case string:
					op[valueKey] = map[string]any{"value": x}
				case map[string]any:
					op[valueKey] = map[string]any{"value": x[key(x, "value")]}
				}
			}
			if m, ok := op[valueKey].(map[string]any); ok && path == "" {
				if mk := key(m, "members"); mk != "" && resource == "Groups" {
					m[mk] = fixMembers(m[mk])
				}
				fixManager(m)
				// {"urn:…:enterprise:2.0:User": {"department": "x"}} in a
				// path-less value: the library wants "urn:…:User:department".
				if ek := key(m, enterpriseSchema); ek != "" {
					if ext, ok := m[ek].(map[string]any); ok {
						delete(m, ek)
						for k, val := range ext {
							m[enterpriseSchema+":"+k] = val
						}
					}
				}
				for k, val := range m {
					if isManagerPath(k) {
						if s, ok := val.(string); ok {
							m[k] = map[string]any{"value": s}
						}
					}
					// Each key is a path, as the library and applyPatch
					// read it: the extension's keys now carry its URN.
					if err := checkFilterBounds("path", k); err != nil {
						return nil, invalidPath("%s", err.Error())
					}
				}
			}
		}
	} else {
		if mk := key(doc, "members"); mk != "" && resource == "Groups" {
			doc[mk] = fixMembers(doc[mk])
		}
		fixManager(doc)
	}
	return json.Marshal(doc)
}

// fixMembers turns "id" into [{"value": "id"}] and each "id" of a list
// into {"value": "id"}, and labels member objects (labelFromDisplayName).
// Anything else, an empty string included, is left for the library to
// judge.
func fixMembers(v any) any {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []any{map[string]any{"value": x}}
		}
	case []any:
		for i, e := range x {
			switch m := e.(type) {
			case string:
				if m != "" {
					x[i] = map[string]any{"value": m}
				}
			case map[string]any:
				labelFromDisplayName(m)
			}
		}
	case map[string]any:
		labelFromDisplayName(x)
	}
	return v
}

// labelFromDisplayName makes a member's string "displayName" (which
// Microsoft's validator sends, and the Group schema lacks) its "display",
// unless it has one: the library drops the sub-attributes it does not
// know before rosterd sees them.
func labelFromDisplayName(m map[string]any) {
	if key(m, "display") != "" {
		return
	}
	if s, ok := m[key(m, "displayName")].(string); ok && s != "" {
		m["display"] = s
	}
}

// findNUL returns the JSON path (emails[0].value) of a string or key in v
// that holds a NUL character (of one of them, if several do).
func findNUL(v any, at string) (string, bool) {
	switch x := v.(type) {
	case string:
		return at, strings.IndexByte(x, 0) >= 0
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			if strings.IndexByte(k, 0) >= 0 {
				return "a key in " + cmp.Or(at, "the body"), true
			}
			if p, ok := findNUL(e, p); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findNUL(e, at+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	}
	return "", false
}

func isManagerPath(path string) bool {
	p := strings.ToLower(path)
	return p == "manager" || strings.HasSuffix(p, ":manager")
}

// fixManager turns {"urn:…:enterprise:2.0:User": {"manager": "id"}} into
// {"manager": {"value": "id"}}.
func fixManager(doc map[string]any) {
	ext, ok := doc[key(doc, enterpriseSchema)].(map[string]any)
	if !ok {
		return
	}
	mk := key(ext, "manager")
	if s, ok := ext[mk].(string); ok {
		if s == "" {
			delete(ext, mk)
		} else {
			ext[mk] = map[string]any{"value": s}
		}
	}
}

// key returns the key of m that equals name ignoring case, or "".
func key(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

// project applies RFC 7644 §3.4.2.5: with attributes, only those (and id,
// schemas, meta) are returned; with excludedAttributes, those are left
// out. Names are case-insensitive and may name a sub-attribute
// ("name.givenName") or carry a schema URN.
func project(res map[string]any, attributes, excluded []string) map[string]any {
	if len(attributes) > 0 {
		out := map[string]any{}
		for _, k := range []string{"id", "schemas", "meta"} {
			if v, ok := res[k]; ok {
				out[k] = v
			}
		}
		for _, a := range attributes {
			copyPath(res, out, splitAttr(a))
		}
		return out
	}
	for _, a := range excluded {
		p := splitAttr(a)
		if len(p) == 1 && (strings.EqualFold(p[0], "id") || strings.EqualFold(p[0], "schemas")) {
			continue
		}
		removePath(res, p)
	}
	return res
}

// splitAttr splits "urn:…:User:manager.value" into [urn…:User, manager, value]
// and "name.givenName" into [name, givenName].
func splitAttr(a string) []string {
	// A value filter has no place in attributes (RFC 7644 §3.10), but
	// clients send emails[type eq "work"]: it names emails.
	if i := strings.IndexByte(a, '['); i >= 0 {
		if j := strings.LastIndexByte(a, ']'); j > i {
			a = a[:i] + a[j+1:]
		}
	}
	if strings.HasPrefix(strings.ToLower(a), "urn:") {
		i := strings.LastIndex(a, ":")
		urn, rest := a[:i], a[i+1:]
		return append([]string{urn}, strings.Split(rest, ".")...)
	}
	return strings.Split(a, ".")
}

func copyPath(src, dst map[string]any, path []string) {
	k := key(src, path[0])
	if k == "" {
		return
	}
	if len(path) == 1 {
		dst[k] = src[k]
		return
	}
	switch v := src[k].(type) {
	case map[string]any:
		sub, _ := dst[k].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			dst[k] = sub
		}
		copyPath(v, sub, path[1:])
	case []any:
		// A sub-attribute of a multi-valued attribute: that sub-attribute
		// of every element.
		var out []any
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				sub := map[string]any{}
				copyPath(m, sub, path[1:])
				out = append(out, sub)
			}
		}
		dst[k] = out
	}
}

func removePath(m map[string]any, path []string) {
	k := key(m, path[0])
	if k == "" {
		return
	}
	if len(path) == 1 {
		delete(m, k)
		return
	}
	switch v := m[k].(type) {
	case map[string]any:
		removePath(v, path[1:])
	case []any:
		for _, e := range v {
			if sub, ok := e.(map[string]any); ok {
				removePath(sub, path[1:])
			}
		}
	}
}
