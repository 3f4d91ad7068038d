package scim_test

import (
	"strings"
	"testing"

	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// A body rosterd or the library refuses is answered 4xx, and nothing of it
// reaches the log — nor does a refused client mistake log as an error.
func TestRefusedBodiesStayOutOfLogs(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		var logs testenv.Buffer
		e := newEnvLogging(t, st, &logs)
		const secret = "Zebediah Quartermaine-4471"
		id := e.entra("POST", "/Users", user("zq@example.com", "Zebediah", "Q")).must(t, 201).str("id")
		core := `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
		for _, tc := range []struct {
			name, method, path, body string
			status                   int
			scimType, detail         string
		}{
			{"wrong type", "POST", "/Users", `{` + core + `,"userName":"a@example.com","name":"` + secret + `"}`, 400, "invalidValue", ""},
			{"not JSON", "POST", "/Users", `{` + core + `,"userName":"` + secret, 400, "invalidSyntax", ""},
			{"NUL in a value", "POST", "/Users", `{` + core + `,"userName":"b@example.com","displayName":"` + secret + `\u0000"}`, 400, "invalidValue",
				"displayName holds a NUL character (\\u0000), which rosterd does not store"},
			{"NUL in an element", "PUT", "/Users/" + id, `{` + core + `,"userName":"zq@example.com","emails":[{"value":"` + secret + `\u0000"}]}`, 400, "invalidValue",
				"emails[0].value holds a NUL character (\\u0000), which rosterd does not store"},
			{"NUL in a patch", "PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"displayName","value":"` + secret + `\u0000"}]}`, 400, "invalidValue",
				"Operations[0].value holds a NUL character (\\u0000), which rosterd does not store"},
			{"userName taken", "POST", "/Users", `{` + core + `,"userName":"zq@example.com","displayName":"` + secret + `"}`, 409, "uniqueness", ""},
		} {
			r := e.entra(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.str("scimType") != tc.scimType || tc.detail != "" && r.str("detail") != tc.detail {
				t.Errorf("%s: %d %s, want %d %s %q", tc.name, r.Status, truncate(r.Raw), tc.status, tc.scimType, tc.detail)
			}
		}
		got := logs.String()
		for _, leak := range []string{secret, "Quartermaine"} {
			if strings.Contains(got, leak) {
				t.Errorf("the log holds %q:\n%s", leak, got)
			}
		}
		if strings.Contains(got, "level=ERROR") {
			t.Errorf("a client's mistake logged as an error:\n%s", got)
		}
	})
}
