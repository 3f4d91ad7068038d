package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rosterd/rosterd/internal/testenv"
)

const (
	installHint   = "apt-get install postgresql"
	readyTimeout  = 30 * time.Second
	stopTimeout   = 15 * time.Second
	superuser     = "postgres"
	adminDatabase = "postgres"
	// Template for per-test databases. template0 is never connected to
	// (datallowconn=false), so CREATE DATABASE cannot fail with "source
	// database is being accessed by other users" when some test connects to
	// template1. Measured on tmpfs, fsync=off: template0 and template1 are
	// equally fast (~8-15 ms); STRATEGY file_copy (PostgreSQL 15+) takes
	// ~8 ms against ~14-23 ms for the default wal_log, and ~4 ms per database
	// when several are created at once.
	templateDB = "template0"
	// adminConns bounds the concurrent CREATE/DROP DATABASE statements
	// (two or more run faster than one at a time; more than 4 gained nothing).
	adminConns = 4
)

// The one cluster of this test binary.
var (
	mainCalled atomic.Bool
	startOnce  sync.Once
	theCl      *cluster
	startErr   error

	dbCounter atomic.Int64
)

type cluster struct {
	base    string // temp dir: holds the socket, data/ and postgres.log
	dataDir string
	port    int
	logPath string
	cmd     *exec.Cmd
	proc    *testenv.Process
	exited  <-chan struct{} // closed when the postgres process has exited

	serverVersion int // server_version_num, e.g. 150014

	adminSem  chan struct{} // one token per admin connection in use
	adminMu   sync.Mutex
	adminIdle []*pgx.Conn // idle connections to the "postgres" database
}

// Main wraps testing.M:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// It runs the tests, then stops the cluster (if one was started) and
// removes its files.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	if theCl != nil {
		if err := theCl.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the cluster: %v\n", err)
		}
	}
	return code
}

// DSN returns a connection string for a new, empty database created for
// this test in the cluster shared by the test binary, starting the cluster
// on first use. The database is dropped (WITH (FORCE), so connections left
// open do not block it) in t.Cleanup.
//
// The string is a URL, postgres://postgres@/NAME?host=%2Fdev%2Fshm%2FpgNNN&port=NNN&sslmode=disable
// (the socket directory is under /dev/shm, or /tmp when /dev/shm is small),
// that pgx (pgx.Connect, pgxpool.New, stdlib's sql.Open("pgx", …)) and libpq
// (psql) accept. The role is the superuser "postgres", with trust auth.
//
// If the PostgreSQL binaries are missing or the cluster cannot start, DSN
// calls testenv.Unavailable: a skip on a developer's machine, a failure
// under CI.
func DSN(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		// Without Main nobody stops the cluster or removes its files.
		t.Fatalf("pgtest.DSN: this package's tests need func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }")
	}
	startOnce.Do(func() {
		t0 := time.Now()
		theCl, startErr = start()
		if startErr == nil {
			t.Logf("pgtest: started PostgreSQL in %v (socket dir %s)", time.Since(t0).Round(time.Millisecond), theCl.base)
		}
	})
	if startErr != nil {
		testenv.Unavailable(t, "pgtest: %v", startErr)
		return ""
	}
	c := theCl
	name := dbName(t.Name(), dbCounter.Add(1))
	ident := pgx.Identifier{name}.Sanitize()

	create := "CREATE DATABASE " + ident + " TEMPLATE " + templateDB
	if c.serverVersion >= 150000 {
		create += " STRATEGY file_copy"
	}
	if err := c.exec(context.Background(), create); err != nil {
		t.Fatalf("pgtest: CREATE DATABASE %s: %v%s", name, err, c.exitNote())
	}
	t.Cleanup(func() {
		select {
		case <-c.exited:
			return // cluster gone; nothing to drop
		default:
		}
		drop := "DROP DATABASE IF EXISTS " + ident
		if c.serverVersion >= 130000 {
			drop += " WITH (FORCE)" // also ends connections the test left open
		}
		if err := c.exec(context.Background(), drop); err != nil {
			t.Errorf("pgtest: DROP DATABASE %s: %v%s", name, err, c.exitNote())
		}
	})
	return c.dsn(name)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Durable reports whether PGTEST_DURABLE=1 asks for a cluster that keeps
// PostgreSQL's default durability (fsync, synchronous commit, full page
// writes) on a disk under /tmp: slower, and what benchmarks that claim
// production numbers should run on. By default the cluster trades
// durability for speed, which throwaway test data does not need.
func Durable() bool { return os.Getenv("PGTEST_DURABLE") == "1" }

// dbName makes a unique, readable database name: t<N>_<test name>.
func dbName(testName string, n int64) string {
	s := unsafeChars.ReplaceAllString(strings.ToLower(testName), "_")
	name := "t" + strconv.FormatInt(n, 10) + "_" + strings.Trim(s, "_")
	if len(name) > 63 { // NAMEDATALEN-1
		name = name[:63]
	}
	return strings.TrimRight(name, "_")
}

func (c *cluster) dsn(dbname string) string {
	q := url.Values{}
	q.Set("host", c.base)
	q.Set("port", strconv.Itoa(c.port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Host: "", Path: "/" + dbname, RawQuery: q.Encode()}
	return u.String()
}

// exec runs an administrative statement on one of the admin connections,
// retrying once on a fresh connection if the one it got had broken.
func (c *cluster) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c.adminSem <- struct{}{}
	defer func() { <-c.adminSem }()
	for attempt := 0; ; attempt++ {
		conn, err := c.adminConn(ctx)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, sql)
		if conn.IsClosed() {
			if attempt == 0 {
				continue // the connection broke (not a SQL error): retry on a new one
			}
		} else {
			c.adminMu.Lock()
			c.adminIdle = append(c.adminIdle, conn)
			c.adminMu.Unlock()
		}
		return err
	}
}

// adminConn takes an idle admin connection or opens a new one.
func (c *cluster) adminConn(ctx context.Context) (*pgx.Conn, error) {
	c.adminMu.Lock()
	if n := len(c.adminIdle); n > 0 {
		conn := c.adminIdle[n-1]
		c.adminIdle = c.adminIdle[:n-1]
		c.adminMu.Unlock()
		return conn, nil
	}
	c.adminMu.Unlock()
	return pgx.Connect(ctx, c.dsn(adminDatabase))
}

// exitNote adds the server's log tail to an error if postgres has died.
func (c *cluster) exitNote() string {
	select {
	case <-c.exited:
		return fmt.Sprintf(" (postgres exited: %v)\n%s", c.proc.Err(), logTail(c.logPath))
	default:
		return ""
	}
}

// findBinDir finds a directory holding both initdb and postgres: the one
// initdb on PATH resolves to, else the newest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { // newest major first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(versioned[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(versioned[j])))
		return vi > vj
	})
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries not installed (no initdb+postgres on PATH or in /usr/lib/postgresql/*/bin): %s", installHint)
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// runAs returns the credential to run the server with: the "postgres" OS
// user when we are root (initdb and postgres refuse to run as root), none
// (ourselves) otherwise.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses root, but there is no \"postgres\" OS user to run it as (%v): %s, or useradd --system postgres", err, installHint)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %v", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// childEnv is our environment without PG* variables (PGDATA, PGHOST, …),
// which would otherwise steer initdb/postgres.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true, // own process group: we can kill postgres and its children together
	}
}

func start() (_ *cluster, err error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	parent := baseParent()
	if Durable() {
		parent = "/tmp" // a disk, not memory
	}
	sweepStale(parent)
	// Short path: the socket BASE/.s.PGSQL.PORT must fit in ~107 bytes.
	base, err := os.MkdirTemp(parent, "pg")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	if err := os.WriteFile(filepath.Join(base, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	c := &cluster{
		base:     base,
		dataDir:  filepath.Join(base, "data"),
		logPath:  filepath.Join(base, "postgres.log"),
		adminSem: make(chan struct{}, adminConns),
	}

	// initdb
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", c.dataDir, "-A", "trust", "-E", "UTF8", "--no-locale", "-U", superuser,
		"--no-sync", // throwaway cluster: skip fsyncing the new files
	)
	initdb.Dir = base
	initdb.Env = childEnv()
	initdb.SysProcAttr = sysProcAttr(cred)
	var initOut bytes.Buffer
	initdb.Stdout, initdb.Stderr = &initOut, &initOut
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("initdb failed (%v); output tail:\n%s", err, tail(initOut.Bytes()))
	}

	// postgres, listening only on a Unix socket in base.
	c.port, err = freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	durability := []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
	if Durable() {
		durability = []string{"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"}
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), append(append([]string{
		"-D", c.dataDir,
		"-k", base,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses="}, durability...),
		"-c", "max_connections=200",
		// Dynamic shared memory in files under data/ rather than in
		// /dev/shm/PostgreSQL.*, so a killed cluster leaves nothing
		// outside base (which sweepStale removes).
		"-c", "dynamic_shared_memory_type=mmap",
	)...)
	// PGTEST_SETTINGS="name=value …" adds settings, for profiling a
	// benchmark (shared_preload_libraries=pg_stat_statements).
	for _, kv := range strings.Fields(os.Getenv("PGTEST_SETTINGS")) {
		cmd.Args = append(cmd.Args, "-c", kv)
	}
	cmd.Dir = base
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr(cred)
	cmd.Stdout, cmd.Stderr = logf, logf
	c.cmd = cmd

	proc, err := testenv.StartProcess(cmd) // dies with the test binary
	if err != nil {
		return nil, fmt.Errorf("starting postgres: %v", err)
	}
	c.proc, c.exited = proc, proc.Exited()
	if err := c.waitReady(); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// baseParent is where the cluster's directory goes: /dev/shm when it is a
// tmpfs with room to spare, else /tmp. Both give short socket paths. On a
// disk, CREATE DATABASE spends its time creating ~300 files (measured
// ~200 ms per database on this project's machines, ext4) even with
// fsync=off; on tmpfs it takes ~20 ms, and initdb is faster too.
func baseParent() string {
	const shm, minFree = "/dev/shm", 1 << 30
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil &&
		st.Type == 0x01021994 && // TMPFS_MAGIC
		uint64(st.Bavail)*uint64(st.Bsize) >= minFree &&
		syscall.Access(shm, 0x2|0x1) == nil { // W_OK|X_OK
		return shm
	}
	return "/tmp"
}

// ownerFile, in a cluster's directory, holds the pid of the test binary
// that made it.
const ownerFile = "pgtest.owner"

// sweepStale removes cluster directories left in parent by test binaries
// that died without running Main's cleanup (a panic, a -timeout, SIGKILL).
// Their postgres was already killed by Pdeathsig; only the files remain,
// and under /dev/shm they hold memory.
func sweepStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "pg*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or not readable by us
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if !alive(pid) {
			os.RemoveAll(d)
		}
	}
}

// alive reports whether process pid exists and is not a zombie (a killed
// test binary can stay a zombie for a while, forever in a container whose
// PID 1 does not reap).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return false
		}
	}
	return true
}

// freePort returns a TCP port number free on 127.0.0.1. With
// listen_addresses empty, postgres uses the port only to name its socket
// (.s.PGSQL.PORT) and to derive its SysV shared-memory key, so a port free
// in the kernel's ephemeral range keeps concurrently running test binaries
// (go test ./... runs packages in parallel) from picking the same key.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady connects in a loop until the server answers, it exits, or the
// deadline passes.
func (c *cluster) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during startup (%v); log tail:\n%s", c.proc.Err(), logTail(c.logPath))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.dsn(adminDatabase))
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&c.serverVersion)
			if err == nil {
				cancel()
				c.adminIdle = append(c.adminIdle, conn)
				return nil
			}
			conn.Close(ctx)
		}
		cancel()
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("postgres not ready after %v (last error: %v); log tail:\n%s", readyTimeout, lastErr, logTail(c.logPath))
}

// stop shuts the server down with SIGINT (postgres's "fast" shutdown),
// waits for it, escalating to SIGKILL of its process group, and removes
// its files.
func (c *cluster) stop() error {
	c.adminMu.Lock()
	for _, conn := range c.adminIdle {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(ctx)
		cancel()
	}
	c.adminIdle = nil
	c.adminMu.Unlock()

	var err error
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("postgres did not stop within %v of SIGINT; killed", stopTimeout)
		c.kill()
	}
	if rmErr := os.RemoveAll(c.base); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return err
}

// kill SIGKILLs postgres's process group and waits for the postmaster.
func (c *cluster) kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(b)
}

// tail returns the last 30 lines of b, indented.
func tail(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
