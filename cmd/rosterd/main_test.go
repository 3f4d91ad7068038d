package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// daemon is a rosterd serve running in this process.
type daemonRun struct {
	base   string
	stderr *testenv.Buffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `rosterd serve ARGS…` with a configuration file holding
// yaml plus a free listen address, and waits until /healthz answers. With
// yaml "-" there is no file: the free address goes as --listen.
func startServe(t *testing.T, dir, yaml string, args ...string) *daemonRun {
	t.Helper()
	port := testenv.FreePort(t)
	if yaml == "-" {
		args = append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)
	} else {
		cfgPath := filepath.Join(dir, "rosterd.yaml")
		full := fmt.Sprintf("listen: 127.0.0.1:%d\n%s", port, yaml)
		if err := os.WriteFile(cfgPath, []byte(full), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", cfgPath}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonRun{base: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &testenv.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		d.done <- run(ctx, append([]string{"serve", "--log-format", "json"}, args...), io.Discard, d.stderr)
	}()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(d.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("rosterd serve exited with %d before it answered:\n%s", code, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rosterd serve did not answer /healthz:\n%s", d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the daemon (as SIGTERM does) and returns its exit code.
func (d *daemonRun) stop(t *testing.T) int {
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("rosterd serve did not stop")
		return -1
	}
}

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// readBootstrapFile returns the bootstrap secrets file of the data directory,
// which only its owner may read.
func readBootstrapFile(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(data, "bootstrap-secrets.txt")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("bootstrap secrets file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var adminKeyLine = regexp.MustCompile(`Admin API key \(name "bootstrap"\):\s+(rsk_\S+)`)
var scimTokenLine = regexp.MustCompile(`SCIM bearer token for tenant "default" \(connection "bootstrap"\):\s+(rst_\S+)`)

// TestServeDefaults: the daemon on its defaults (no file; only a listen
// address and a data directory on the command line) creates its SQLite file, prints a bootstrap admin
// key and SCIM token once, answers health checks, and the key works.
func TestServeDefaults(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, t.TempDir(), "-", "--data-dir", data)
	if code, body := get(t, d.base+"/readyz", ""); code != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(data, "rosterd.db")); err != nil {
		t.Fatalf("SQLite file: %v", err)
	}
	// stderr is no terminal here (and carries JSON logs): the secrets go
	// to a file only the daemon's user can read, and the log names it.
	secrets := readBootstrapFile(t, data)
	m := adminKeyLine.FindStringSubmatch(secrets)
	s := scimTokenLine.FindStringSubmatch(secrets)
	if m == nil || s == nil || !strings.Contains(secrets, d.base+"/scim/default/v2/") {
		t.Fatalf("no bootstrap secrets in the file:\n%s", secrets)
	}
	key := m[1]
	if strings.Contains(d.stderr.String(), key) || strings.Contains(d.stderr.String(), s[1]) {
		t.Fatalf("a bootstrap secret is in the log:\n%s", d.stderr)
	}
	if !strings.Contains(d.stderr.String(), filepath.Join(data, "bootstrap-secrets.txt")) {
		t.Fatalf("the log does not name the secrets file:\n%s", d.stderr)
	}
	if code, body := get(t, d.base+"/api/v1/tenants", key); code != 200 || body != `{"tenants":[{"id":"default","name":"Default","managed_by":"config","retired":false}]}`+"\n" {
		t.Fatalf("tenants with the bootstrap key = %d %s", code, body)
	}
	if code, _ := get(t, d.base+"/api/v1/tenants", key+"x"); code != 401 {
		t.Fatalf("a wrong key got %d", code)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, d.stderr)
	}
	// The database holds no secret in the clear.
	db, _ := os.ReadFile(filepath.Join(data, "rosterd.db"))
	wal, _ := os.ReadFile(filepath.Join(data, "rosterd.db-wal"))
	if bytes.Contains(db, []byte(key)) || bytes.Contains(wal, []byte(key)) {
		t.Fatal("the admin key is stored in the clear")
	}

	// A second start makes nothing new, and the first key still works.
	d2 := startServe(t, t.TempDir(), "-", "--data-dir", data)
	if strings.Contains(d2.stderr.String(), "rsk_") || strings.Contains(d2.stderr.String(), "rst_") || readBootstrapFile(t, data) != secrets {
		t.Fatalf("secrets made again on the second start:\n%s", d2.stderr)
	}
	if code, _ := get(t, d2.base+"/api/v1/tenants", key); code != 200 {
		t.Fatalf("bootstrap key after restart: %d", code)
	}
}

// TestConfiguredKeysNoBootstrap: with admin keys and SCIM tokens in the
// file (one from the environment, one from a file), nothing is generated.
func TestConfiguredKeysNoBootstrap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scim.token"), []byte("scim-secret-from-file-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROSTERD_TEST_ADMIN_KEY", "admin-secret-from-env-0123456789abcdef")
	d := startServe(t, dir, fmt.Sprintf(`data_dir: %s
admin_keys:
  - name: ops
    key: ${ROSTERD_TEST_ADMIN_KEY}
  - name: auditor
    key: read-only-secret-0123456789abcdef
    read_only: true
tenants:
  - id: default
    scim:
      - name: okta
        token_file: scim.token
`, t.TempDir()))
	if strings.Contains(d.stderr.String(), "first start") {
		t.Fatalf("bootstrap secrets printed although the file has keys:\n%s", d.stderr)
	}
	if code, _ := get(t, d.base+"/api/v1/tenants", "admin-secret-from-env-0123456789abcdef"); code != 200 {
		t.Fatalf("key from the environment: %d", code)
	}
	if code, _ := get(t, d.base+"/api/v1/tenants", "read-only-secret-0123456789abcdef"); code != 200 {
		t.Fatalf("read-only key reading: %d", code)
	}
	if code, _ := get(t, d.base+"/api/v1/tenants", "scim-secret-from-file-0123456789abcdef"); code != 401 {
		t.Fatalf("a SCIM token on the admin API: %d", code)
	}
}

func TestAutoMigrateOffRefusesOldSchema(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:1\nauto_migrate: false\ndata_dir: "+data+"\n"), 0o600)
	var stderr, stdout testenv.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "run `rosterd migrate`") || !strings.Contains(stderr.String(), "schema version 0") {
		t.Fatalf("serve on an unmigrated database: exit %d, %s", code, stderr.String())
	}
	code = run(context.Background(), []string{"migrate", "--config", cfg}, &stdout, &stderr)
	m := regexp.MustCompile(`applied migrations \[1( \d+)*\]; schema version (\d+)`).FindStringSubmatch(stdout.String())
	if code != 0 || m == nil {
		t.Fatalf("migrate: exit %d, %s %s", code, stdout.String(), stderr.String())
	}
	code = run(context.Background(), []string{"migrate", "--config", cfg}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "schema is current (version "+m[2]+")") {
		t.Fatalf("second migrate: exit %d, %s", code, stdout.String())
	}
	d := startServe(t, dir, "auto_migrate: false\ndata_dir: "+data+"\n")
	if code, _ := get(t, d.base+"/readyz", ""); code != 200 {
		t.Fatalf("readyz after migrate: %d", code)
	}
}

func TestServePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	data := t.TempDir()
	d := startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nstore:\n  driver: postgres\n  dsn: %q\n", data, dsn))
	if code, body := get(t, d.base+"/readyz", ""); code != 200 {
		t.Fatalf("/readyz on postgres = %d %s", code, body)
	}
	m := adminKeyLine.FindStringSubmatch(readBootstrapFile(t, data))
	if m == nil {
		t.Fatalf("no bootstrap key:\n%s", d.stderr)
	}
	if code, _ := get(t, d.base+"/api/v1/tenants", m[1]); code != 200 {
		t.Fatalf("bootstrap key on postgres: %d", code)
	}
}

func TestBadConfigNamesKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:8080\ntenants:\n  - id: acme\n    invte: none\n    feeds:\n      - name: hr\n        kind: file\n        schedule: \"61 * * * *\"\n        source: dir:///srv/drop/*.csv\n"), 0o600)
	var stdout, stderr testenv.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, &stdout, &stderr)
	// Both problems at once: the unknown key and the cron spec.
	for _, want := range []string{cfg + `:4: tenants[0]: unknown key "invte"`, cfg + `:8: tenants[0].feeds[0].schedule: invalid cron spec "61 * * * *"`} {
		if code != 1 || !strings.Contains(stderr.String(), want) {
			t.Fatalf("exit %d, stderr:\n%s\nwant it to contain %q", code, stderr.String(), want)
		}
	}
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:8080\ntenants:\n  - id: acme\n    feeds:\n      - name: hr\n        kind: file\n        schedule: \"61 * * * *\"\n        source: dir:///srv/drop/*.csv\n"), 0o600)
	stderr = testenv.Buffer{}
	code = run(context.Background(), []string{"serve", "--config", cfg}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), cfg+":7: tenants[0].feeds[0].schedule:") {
		t.Fatalf("bad cron spec: exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "rosterd dev\n", ""},
		{[]string{"--help"}, 0, "Commands:\n  serve", ""},
		{[]string{"serve", "--help"}, 0, "", "Usage: rosterd serve [flags]"},
		{[]string{"migrate", "--help"}, 0, "", "Usage: rosterd migrate [flags]"},
		{[]string{"version", "--help"}, 0, "", "Usage: rosterd version [flags]"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, 2, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"serve", "--log-level", "loud", "--data-dir", t.TempDir()}, 1, "", `unknown log level "loud"`},
		{[]string{"serve", "--config", "/nonexistent/rosterd.yaml"}, 1, "", "reading config"},
	} {
		var stdout, stderr testenv.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("rosterd %v: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout containing %q, stderr containing %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
