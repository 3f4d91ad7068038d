package scim

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"

	"github.com/rosterd/rosterd/internal/testenv"
)

// The library hands its logger whatever it failed to encode: a whole
// resource, a page of them. Only the message and the kind of error may
// reach rosterd's log. The calls are the library's own (handlers.go).
func TestLibraryLoggerWithholdsResources(t *testing.T) {
	const secret = "Zebediah Quartermaine-4471"
	res := elimity.Resource{ID: "id-1", Attributes: elimity.ResourceAttributes{
		"displayName": secret, "emails": []any{map[string]any{"value": "zq4471@example.com"}}, "x": math.NaN()}}
	_, encodeErr := json.Marshal(res.Attributes)
	if encodeErr == nil {
		t.Fatal("the resource was meant not to encode")
	}
	for _, tc := range []struct {
		name string
		args []any
		want []string
	}{
		{"resource", []any{"failed marshaling resource", "resource", res, "error", encodeErr},
			[]string{`msg="scim library: failed marshaling resource"`, "*json.UnsupportedValueError", "withheld=resource"}},
		{"list response", []any{"failed marshaling list response", "listResponse", map[string]any{"Resources": []any{res}}, "error", encodeErr},
			[]string{`msg="scim library: failed marshaling list response"`, "withheld=listResponse"}},
		{"scim error", []any{"failed marshaling scim error", "scimError", &scimerrors.ScimError{Detail: secret, Status: 400}, "error", encodeErr},
			[]string{"withheld=scimError"}},
		{"write", []any{"failed writing response", "error", errors.New("write tcp 127.0.0.1:8080: broken pipe")},
			[]string{`err="write tcp 127.0.0.1:8080: broken pipe"`}},
		{"odd arguments", []any{secret, res}, []string{`msg="scim library"`}},
	} {
		var logs testenv.Buffer
		libLogger{slog.New(slog.NewTextHandler(&logs, nil))}.Error(tc.args...)
		got := logs.String()
		for _, leak := range []string{secret, "Zebediah", "zq4471", "id-1"} {
			if strings.Contains(got, leak) {
				t.Errorf("%s: the log holds %q: %s", tc.name, leak, got)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the log lacks %s: %s", tc.name, w, got)
			}
		}
	}
}
