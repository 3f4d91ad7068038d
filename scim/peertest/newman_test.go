package peertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
)

const (
	// newmanBin is where `npm ci` in this folder puts newman (package.json
	// pins the version).
	newmanBin = "node_modules/.bin/newman"
	// collectionRel is the collection's path under the folder that holds
	// both the repository and shared/ (CI clones <parent>/main with
	// <parent>/shared beside it).
	collectionRel = "shared/peers/scim-entra-reference/PostmanCollection.json"
	// tenant is the tenant the collection provisions into.
	tenant = "acme"
	// newmanTimeout bounds the whole newman run; --timeout-request bounds
	// each request.
	newmanTimeout = 5 * time.Minute
)

// folders are the collection's folders the test runs, in the collection's
// order, as the collection's README lists them: every folder but "Get
// Token", which calls a non-standard /Token endpoint (the bearer token goes
// in the environment variable "token" instead). The two requests at the
// collection's top level, "Get all users" and "Get all groups", are in no
// folder and so are not run.
var folders = []string{
	"Endpoint tests",
	"User tests",
	"Group tests",
	"ComplexAttribute tests",
	"User tests with garbage",
	"Group tests with garbage",
	"Teardown garbage",
}

// TestMicrosoftSCIMCollection builds rosterd, starts it as a real process
// with one tenant and one SCIM connection, runs Microsoft's SCIM collection
// against it with newman, and fails on every failed assertion. There is no
// list of excused assertions: where the collection asks for something
// unambiguous and harmless beyond the RFC, rosterd accepts it (unquoted
// filter values, bare-string members, unknown member sub-attributes, a
// member's displayName kept as its display label: README, "SCIM").
func TestMicrosoftSCIMCollection(t *testing.T) {
	newman, err := filepath.Abs(newmanBin)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(newman); err != nil || fi.IsDir() {
		testenv.Unavailable(t, "newman not installed: cd scim/peertest && npm ci")
	}
	// .bin/newman is a node script; run it with node explicitly.
	node := testenv.LookPath(t, "node", "apt-get install nodejs npm")
	collection := findCollection(t)

	dir := t.TempDir()
	bin := buildRosterd(t, dir)
	token := randomToken(t)
	port := startRosterd(t, bin, dir, token)

	reportPath := filepath.Join(dir, "newman.json")
	args := []string{newman, "run", collection,
		"--env-var", "Protocol=http",
		"--env-var", "Server=127.0.0.1",
		"--env-var", fmt.Sprintf("Port=:%d", port),
		"--env-var", "Api=scim/" + tenant + "/v2",
		"--env-var", "token=" + token,
	}
	for _, f := range folders {
		args = append(args, "--folder", f)
	}
	args = append(args,
		"--reporters", "cli,json",
		"--reporter-json-export", reportPath,
		"--timeout-request", "10000",
		"--color", "off",
	)
	ctx, cancel := context.WithTimeout(context.Background(), newmanTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	out, runErr := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("newman did not finish within %v (%v); its output:\n%s", newmanTimeout, runErr, ansiEscape.ReplaceAll(out, nil))
	}
	// newman exits 1 when any assertion fails, so its exit status says
	// nothing the report does not; a run without a readable report failed.
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("newman wrote no report (%v; exit: %v); its output:\n%s", err, runErr, ansiEscape.ReplaceAll(out, nil))
	}
	var rep report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("newman's report %s: %v; its output:\n%s", reportPath, err, ansiEscape.ReplaceAll(out, nil))
	}

	failures := judge(&rep)
	var problems []string
	if e := strings.TrimSpace(string(rep.Run.Error)); e != "" && e != "null" {
		problems = append(problems, "newman aborted the run: "+e)
	}
	requests, assertions := rep.Run.Stats["requests"].Total, rep.Run.Stats["assertions"].Total
	if want := rep.countRequests(folders); requests == 0 || assertions == 0 || requests < want {
		// A run that asserts nothing cannot fail: that is a broken harness.
		problems = append(problems, fmt.Sprintf("newman ran %d requests (the folders hold %d) and %d assertions", requests, want, assertions))
	}
	summary := fmt.Sprintf("newman ran %d requests and %d assertions: %d failures", requests, assertions, len(failures))
	if len(failures) == 0 && len(problems) == 0 {
		t.Log(summary)
		return
	}
	t.Logf("newman's output:\n%s", ansiEscape.ReplaceAll(out, nil))
	var b strings.Builder
	b.WriteString(summary)
	for _, p := range problems {
		b.WriteString("\n" + p)
	}
	for _, f := range failures {
		b.WriteString("\n" + f)
	}
	t.Error(b.String())
}

// report is the part of newman's JSON report the test reads.
type report struct {
	Collection struct {
		Item []reportItem `json:"item"`
	} `json:"collection"`
	Run struct {
		Stats      map[string]struct{ Total, Failed int } `json:"stats"`
		Executions []struct {
			Item   struct{ ID, Name string } `json:"item"`
			Cursor struct{ Ref string }      `json:"cursor"`
		} `json:"executions"`
		Failures []struct {
			Error  newmanError               `json:"error"`
			At     string                    `json:"at"`
			Source struct{ ID, Name string } `json:"source"`
			Cursor struct{ Ref string }      `json:"cursor"`
		} `json:"failures"`
		Error json.RawMessage `json:"error"`
	} `json:"run"`
}

// reportItem is a request or a folder of the collection.
type reportItem struct {
	ID   string       `json:"id"`
	Name string       `json:"name"`
	Item []reportItem `json:"item"`
}

// newmanError is a failed assertion (Test is the pm.test name), a script
// error or a request error (Code, e.g. ECONNREFUSED, when there is no
// message).
type newmanError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Test    string `json:"test"`
	Code    string `json:"code"`
}

// judge lists the run's failures, one line each ("folder / request:
// assertion: message", the request's name followed by " #N" where several
// requests of the run share it).
func judge(rep *report) (failures []string) {
	folderOf := map[string]string{}
	var walk func(path string, items []reportItem)
	walk = func(path string, items []reportItem) {
		for _, it := range items {
			if it.Item != nil {
				walk(strings.TrimPrefix(path+" / "+it.Name, " / "), it.Item)
			} else {
				folderOf[it.ID] = path
			}
		}
	}
	walk("", rep.Collection.Item)

	// occurrence numbers the requests of one name in run order, from 1.
	occurrence, seen := map[string]int{}, map[string]int{}
	for _, e := range rep.Run.Executions {
		seen[e.Item.Name]++
		occurrence[e.Cursor.Ref] = seen[e.Item.Name]
	}

	for _, f := range rep.Run.Failures {
		where := f.Source.Name
		if seen[where] > 1 {
			where = fmt.Sprintf("%s #%d", where, occurrence[f.Cursor.Ref])
		}
		if folder := folderOf[f.Source.ID]; folder != "" {
			where = folder + " / " + where
		}
		msg := oneLine(f.Error.Message)
		if msg == "" {
			msg = f.Error.Code
		}
		if !strings.HasPrefix(f.At, "assertion") {
			// A script error (the collection's top-level pm.response.json()
			// on a body that is not JSON), a request error, or anything else
			// newman counts as a failure.
			failures = append(failures, fmt.Sprintf("%s: %s: %s: %s", where, f.At, f.Error.Name, msg))
			continue
		}
		failures = append(failures, fmt.Sprintf("%s: %s: %s", where, f.Error.Test, msg))
	}
	return failures
}

// countRequests counts the requests in the named top-level folders.
func (r *report) countRequests(names []string) int {
	var count func(items []reportItem) int
	count = func(items []reportItem) int {
		n := 0
		for _, it := range items {
			if it.Item != nil {
				n += count(it.Item)
			} else {
				n++
			}
		}
		return n
	}
	n := 0
	for _, it := range r.Collection.Item {
		for _, name := range names {
			if it.Name == name {
				n += count(it.Item)
			}
		}
	}
	return n
}

// ansiEscape matches the color codes newman's cli reporter writes even with
// --color off (its table borders).
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// oneLine folds a message (newman's JSONError quotes the body over several
// lines) onto one line of at most 300 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// findCollection looks for shared/peers/scim-entra-reference/ in the
// working directory and each folder above it: the first hit is the shared/
// beside the repository's root (/work/shared for /work/main, and CI's clone
// likewise).
func findCollection(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, collectionRel)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	testenv.Unavailable(t, "Microsoft's SCIM collection not found: no %s in %s or a folder above it (shared/ belongs beside the repository)", collectionRel, wd)
	return ""
}

// buildRosterd builds the rosterd command into dir.
func buildRosterd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "rosterd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rosterd/rosterd/cmd/rosterd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rosterd: %v\n%s", err, out)
	}
	return bin
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "scim-" + hex.EncodeToString(b)
}

// startRosterd runs `rosterd serve` with a fresh SQLite store in dir, tenant
// acme and its SCIM connection "entra" taking token, waits until /healthz
// answers 200, and stops it (SIGTERM, then wait) when the test ends. It
// returns the port.
func startRosterd(t *testing.T, bin, dir, token string) int {
	t.Helper()
	port := testenv.FreePort(t)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
admin_keys: [{name: test, key: test-admin-key-0123456789abcdef0123}]
tenants:
  - id: %s
    invite: none
    scim:
      - name: entra
        token: %s
`, port, quoteYAML(dir), tenant, token)
	cfgPath := filepath.Join(dir, "rosterd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "rosterd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--log-format", "json")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	readLog := func() string {
		b, _ := os.ReadFile(logPath)
		return string(tail(b, 100))
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("rosterd did not stop within 15s of SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rosterd's log (the last 100 lines):\n%s", readLog())
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("rosterd exited before it answered /healthz: %v\nits output:\n%s", waitErr, readLog())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return port
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("rosterd did not answer GET /healthz with 200 within 30s (last: %v)\nits output:\n%s", err, readLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// quoteYAML quotes s as a YAML double-quoted scalar (JSON's escapes are
// YAML's).
func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}
