package peertest

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestJudge checks, without newman, how the harness reads a newman report:
// folder and #N naming, and every failure, assertion or script error,
// counted.
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
	failures := judge(&rep)
	wantFailures := []string{
		"Group tests / Get group by id #1: Body contians user: expected '{}' to include 'new User'",
		"Group tests / Get group by id #2: Body contians user: expected 'new User'",
		"Group tests / Post User: Status code is 201: got 404",
		"Group tests / Post User: test-script: JSONError: Unexpected token",
	}
	if !slices.Equal(failures, wantFailures) {
		t.Errorf("failures:\n%q\nwant\n%q", failures, wantFailures)
	}
}
