package browsertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/testenv"
)

var (
	mainCalled bool
	buildOnce  sync.Once
	buildDir   string
	buildBin   string
	buildErr   error
)

// Main runs the tests of a package that uses StartRosterd, then removes
// the rosterd binary it built and stops the PostgreSQL cluster of
// internal/pgtest, if one was started.
func Main(m *testing.M) int {
	mainCalled = true
	code := pgtest.Main(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// binary builds cmd/rosterd, once per test binary.
func binary(t testing.TB) string {
	t.Helper()
	if !mainCalled {
		t.Fatalf("browsertest: this package's tests need func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "rosterd-browsertest-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "rosterd")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/rosterd/rosterd/cmd/rosterd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build rosterd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Options say how to start rosterd.
type Options struct {
	// Config is the YAML of the configuration file after listen, data_dir
	// and store, which the harness writes: admin_keys, tenants, …
	Config string
	// Postgres puts the store in a new PostgreSQL database (internal/pgtest)
	// instead of SQLite.
	Postgres bool
}

// Rosterd is a running rosterd process.
type Rosterd struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL        string
	Dir        string
	ConfigPath string
	LogPath    string
	bin        string
	cmd        *exec.Cmd
	proc       *testenv.Process
}

// StartRosterd starts rosterd with the options' configuration and waits
// until it answers /healthz. It stops with the test (SIGTERM); when the
// test failed its log's tail goes into the test log.
func StartRosterd(t *testing.T, opt Options) *Rosterd {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	port := testenv.FreePort(t)
	storeYAML := fmt.Sprintf("store: {driver: sqlite, dsn: %s}\n", quoteYAML(filepath.Join(dir, "rosterd.db")))
	if opt.Postgres {
		storeYAML = fmt.Sprintf("store: {driver: postgres, dsn: %s}\n", quoteYAML(pgtest.DSN(t)))
	}
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\n%s%s", port, quoteYAML(dir), storeYAML, opt.Config)
	r := &Rosterd{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, ConfigPath: filepath.Join(dir, "rosterd.yaml"),
		LogPath: filepath.Join(dir, "rosterd.log"), bin: bin}
	if err := os.WriteFile(r.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("rosterd's log (the last 60 lines):\n%s", r.logTail(60))
		}
	})
	r.start(t)
	return r
}

// Restart stops rosterd (SIGTERM) and starts it again on the same port,
// configuration and data: what a deploy does.
func (r *Rosterd) Restart(t *testing.T) {
	t.Helper()
	r.stop(t)
	r.start(t)
}

// start runs the daemon, appending to its log, and waits until it
// answers /healthz.
func (r *Rosterd) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(r.bin, "serve", "--config", r.ConfigPath, "--log-format", "json")
	cmd.Dir = r.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	r.cmd, r.proc = cmd, proc

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-proc.Exited():
			t.Fatalf("rosterd exited before it answered /healthz: %v\nits log:\n%s", proc.Err(), r.logTail(60))
		default:
		}
		resp, err := client.Get(r.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("rosterd did not answer GET /healthz with 200 within 30s (last: %v)\nits log:\n%s", err, r.logTail(60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the daemon with SIGTERM, killing it after 15 s.
func (r *Rosterd) stop(t *testing.T) {
	if r.proc == nil {
		return
	}
	select {
	case <-r.proc.Exited():
	default:
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.proc.Exited():
		case <-time.After(15 * time.Second):
			t.Errorf("rosterd did not stop within 15s of SIGTERM; killing it")
			_ = r.cmd.Process.Kill()
			<-r.proc.Exited()
		}
	}
	r.proc = nil
}

// CreateAPIKey runs `rosterd apikey create NAME [flags]` (--tenant T,
// --read-only) on the running daemon's store and returns the new key.
func (r *Rosterd) CreateAPIKey(t *testing.T, name string, flags ...string) string {
	t.Helper()
	args := append([]string{"apikey", "create", name, "--config", r.ConfigPath}, flags...)
	out, err := exec.Command(r.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rosterd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "rsk_") {
			return f
		}
	}
	t.Fatalf("rosterd %s printed no key:\n%s", strings.Join(args, " "), out)
	return ""
}

func (r *Rosterd) logTail(n int) string {
	b, err := os.ReadFile(r.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// quoteYAML quotes s as a YAML double-quoted scalar (JSON's escapes are
// YAML's).
func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
