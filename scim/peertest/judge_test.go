package peertest

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestJudge checks, without newman, how the harness reads a newman report:
// folder and #N naming, the deviation keys with and without #N, and the
// used set that catches stale entries.
func TestJudge(t *testing.T) {
	const raw = `{
	  "collection": {"item": [
	    {"name": "Group tests", "item": [
	      {"id": "a", "name": "Get group by id"},
	      {"id": "b", "name": "Get group by id"},
	      {"id": "c", "name": "Post User"}
	    ]}
	  ]},
	  "run": {
	    "stats": {"requests": {"total": 3}, "assertions": {"total": 5}},
	    "executions": [
	      {"item": {"id": "a", "name": "Get group by id"}, "cursor": {"ref": "r1"}},
	      {"item": {"id": "b", "name": "Get group by id"}, "cursor": {"ref": "r2"}},
	      {"item": {"id": "c", "name": "Post User"}, "cursor": {"ref": "r3"}}
	    ],
	    "failures": [
	      {"at": "assertion:2 in test-script", "source": {"id": "a", "name": "Get group by id"}, "cursor": {"ref": "r1"},
	       "error": {"name": "AssertionError", "test": "Body contians user", "message": "expected '{}' to include 'new User'"}},
	      {"at": "assertion:2 in test-script", "source": {"id": "b", "name": "Get group by id"}, "cursor": {"ref": "r2"},
	       "error": {"name": "AssertionError", "test": "Body contians user", "message": "expected\n  'new User'"}},
	      {"at": "assertion:0 in test-script", "source": {"id": "c", "name": "Post User"}, "cursor": {"ref": "r3"},
	       "error": {"name": "AssertionError", "test": "Status code is 201", "message": "got 404"}},
	      {"at": "test-script", "source": {"id": "c", "name": "Post User"}, "cursor": {"ref": "r3"},
	       "error": {"name": "JSONError", "message": "Unexpected token"}}
	    ],
	    "error": null
	  }
	}`
	var rep report
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatal(err)
	}
	if n := rep.countRequests([]string{"Group tests", "No such folder"}); n != 3 {
		t.Errorf("countRequests = %d, want 3", n)
	}
	deviations := map[string]deviation{
		"Get group by id #1 / Body contians user": {RFC: "RFC 7643 §4.2", Why: "test"},
		"Post User / Status code is 201":          {RFC: "RFC 7644 §3.3", Why: "test"},
		"Never / Fails":                           {RFC: "-", Why: "stale"},
	}
	failures, excused, used := judge(&rep, deviations)
	wantFailures := []string{
		"Group tests / Get group by id #2: Body contians user: expected 'new User'",
		"Group tests / Post User: test-script: JSONError: Unexpected token",
	}
	if !slices.Equal(failures, wantFailures) {
		t.Errorf("failures:\n%q\nwant\n%q", failures, wantFailures)
	}
	if len(excused) != 2 {
		t.Errorf("excused = %q, want the #1 group assertion and the Post User status", excused)
	}
	for key, want := range map[string]bool{
		"Get group by id #1 / Body contians user": true,
		"Post User / Status code is 201":          true,
		"Never / Fails":                           false,
	} {
		if used[key] != want {
			t.Errorf("used[%q] = %v, want %v", key, used[key], want)
		}
	}
}
