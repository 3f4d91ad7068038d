package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	hupToken1 = "scim-token-one-0123456789abcdefghijklmnopqrstuvwxyz"
	hupToken2 = "scim-token-two-0123456789abcdefghijklmnopqrstuvwxyz"
)

// TestSIGHUPAppliesTheEditedFile: SIGHUP reads the edited file (a new
// name, a second token) and applies its tenants without a restart, while a
// SCIM request that was in flight (its body half sent) completes. (A token
// the file drops stops working: TestApplyConfig in package tenant.)
func TestSIGHUPAppliesTheEditedFile(t *testing.T) {
	dir := t.TempDir()
	tenants := func(name, tokens string) string {
		return fmt.Sprintf(`data_dir: %s
admin_keys:
  - name: ops
    key: %s
    scopes: [operator]
tenants:
  - id: acme
    name: %s
    invite: none
    scim:
      - name: okta
        tokens: [%s]
`, dir, operatorKey, name, tokens)
	}
	d := startServe(t, dir, tenants("Acme", hupToken1))
	scim := func(token string) int {
		req, _ := http.NewRequest("GET", d.base+"/scim/acme/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if scim(hupToken1) != 200 || scim(hupToken2) != 401 {
		t.Fatal("tokens before the edit")
	}

	// A request in flight: its headers sent, half its body.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", d.base+"/scim/acme/v2/Users", pr)
	req.Header.Set("Authorization", "Bearer "+hupToken1)
	req.Header.Set("Content-Type", "application/scim+json")
	inFlight := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- -1
			return
		}
		resp.Body.Close()
		inFlight <- resp.StatusCode
	}()
	body := `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@acme.test", "emails": [{"value": "ann@acme.test"}]}`
	if _, err := io.WriteString(pw, body[:20]); err != nil {
		t.Fatal(err)
	}

	// The file's full content is rewritten (startServe put listen first).
	path := filepath.Join(dir, "rosterd.yaml")
	old, _ := os.ReadFile(path)
	listen := strings.SplitN(string(old), "\n", 2)[0]
	if err := os.WriteFile(path, []byte(listen+"\n"+tenants("Acme Corp", hupToken1+", "+hupToken2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "the edited file applied", func() bool {
		code, body := get(t, d.base+"/api/v1/tenants", operatorKey)
		return code == 200 && strings.Contains(body, `"name":"Acme Corp"`)
	})
	if scim(hupToken2) != 200 {
		t.Fatal("the file's new token does not work after SIGHUP")
	}

	// The request that was in flight through the reload completes.
	if _, err := io.WriteString(pw, body[20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case code := <-inFlight:
		if code != 201 {
			t.Fatalf("the request in flight through the reload: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight never completed")
	}
	if !strings.Contains(d.stderr.String(), "SIGHUP: the configuration's tenants applied") {
		t.Fatalf("no log line of the reload:\n%s", d.stderr)
	}
}

// TestSIGHUPRearmsTheFilesFeeds: a feed whose schedule the edited file
// changes runs on its new schedule after SIGHUP, and one the file drops
// runs no more, without a restart.
func TestSIGHUPRearmsTheFilesFeeds(t *testing.T) {
	dir, drop := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(drop, "people.csv"), []byte("email\nann@acme.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := func(feeds string) string {
		return fmt.Sprintf(`data_dir: %s
admin_keys:
  - name: ops
    key: %s
    scopes: [operator]
tenants:
  - id: acme
    invite: none
    feeds: %s
`, dir, operatorKey, feeds)
	}
	hr := func(schedule string) string {
		return fmt.Sprintf(`[{name: hr, kind: file, source: "dir://%s/*.csv", stable_for: 0s, archive: "", schedule: %q}]`, drop, schedule)
	}
	d := startServe(t, dir, file(hr("0 0 1 1 *")))
	path := filepath.Join(dir, "rosterd.yaml")
	rewrite := func(content string) {
		old, _ := os.ReadFile(path)
		listen := strings.SplitN(string(old), "\n", 2)[0]
		if err := os.WriteFile(path, []byte(listen+"\n"+content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	scheduled := func() int {
		_, body := get(t, d.base+"/api/v1/tenants/acme/runs?limit=500", operatorKey)
		return strings.Count(body, `"trigger":"schedule"`)
	}
	if n := scheduled(); n != 0 {
		t.Fatalf("%d scheduled runs before the edit", n)
	}
	rewrite(file(hr("@every 1s")))
	within(t, 5*time.Second, "a run on the edited schedule", func() bool { return scheduled() >= 2 })

	rewrite(file("[]"))
	within(t, 5*time.Second, "the file without the feed applied", func() bool {
		_, body := get(t, d.base+"/api/v1/tenants/acme/feeds", operatorKey)
		return !strings.Contains(body, `"name":"hr"`)
	})
	time.Sleep(1100 * time.Millisecond) // a run that had begun ends
	before := scheduled()
	time.Sleep(2500 * time.Millisecond)
	if after := scheduled(); after != before {
		t.Fatalf("%d scheduled runs of the feed the file dropped", after-before)
	}
}
