package filefeed

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/sshtest"
)

// The fetch cases run on both backends: a temp dir (dir://) and a real
// OpenSSH sshd serving the same kind of temp dir over SFTP (sftp://).

// feedEnv is one backend with an empty drop folder.
type feedEnv struct {
	drop string                      // local path of the drop folder (the SFTP server sees the same path)
	url  func(pattern string) string // the source URL for drop/<pattern>
	opt  SourceOptions               // credentials for the backend
	srv  *sshtest.Server             // sftp only
}

func dirEnv(t *testing.T) feedEnv {
	drop := filepath.Join(t.TempDir(), "drop")
	mkdir(t, drop)
	return feedEnv{drop: drop, url: func(p string) string { return "dir://" + filepath.ToSlash(drop) + "/" + p }}
}

func sftpEnv(t *testing.T) feedEnv {
	s := sshtest.Start(t)
	drop := filepath.Join(s.Root, "drop")
	mkdir(t, drop)
	return feedEnv{
		drop: drop,
		url:  func(p string) string { return s.URL("drop/" + p) },
		opt:  SourceOptions{PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile},
		srv:  s,
	}
}

// bothBackends runs f as subtests "dir" and "sftp".
func bothBackends(t *testing.T, f func(t *testing.T, e feedEnv)) {
	t.Run("dir", func(t *testing.T) { f(t, dirEnv(t)) })
	t.Run("sftp", func(t *testing.T) { f(t, sftpEnv(t)) })
}

// open opens the source for pattern with e's credentials and opt's other
// settings; Close runs in t.Cleanup.
func (e feedEnv) open(t *testing.T, pattern string, opt SourceOptions) Source {
	t.Helper()
	opt.URL = e.url(pattern)
	opt.PrivateKeyFile, opt.Password, opt.KnownHostsFile = e.opt.PrivateKeyFile, e.opt.Password, e.opt.KnownHostsFile
	src, err := OpenSource(context.Background(), opt)
	if err != nil {
		t.Fatalf("OpenSource(%s): %v", opt.URL, err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

// fakeSleep records the waits and runs during, if set, in their place.
type fakeSleep struct {
	calls  []time.Duration
	during func()
}

func (f *fakeSleep) sleep(d time.Duration) {
	f.calls = append(f.calls, d)
	if f.during != nil {
		f.during()
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// put writes a file and sets its mtime (whole seconds: SFTP reports no less).
func put(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime = mtime.Truncate(time.Second)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tree lists the files under dir, relative, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestFetchNewest(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		base := time.Now().Add(-2 * time.Hour)
		older := []byte("email\nold@example.com\n")
		newer := []byte("email\nnew@example.com\nnewer@example.com\n")
		// The newer file has the smaller name: newest is by mtime.
		put(t, filepath.Join(e.drop, "employees-b.csv"), older, base)
		put(t, filepath.Join(e.drop, "employees-a.csv"), newer, base.Add(time.Hour))
		put(t, filepath.Join(e.drop, "other.csv"), []byte("x"), base.Add(90*time.Minute)) // newest, but not matching
		mkdir(t, filepath.Join(e.drop, "employees-dir.csv"))                              // matches, not a file

		sl := &fakeSleep{}
		src := e.open(t, "employees-*.csv", SourceOptions{Sleep: sl.sleep})
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatalf("Newest: %v", err)
		}
		want := filepath.ToSlash(filepath.Join(e.drop, "employees-a.csv"))
		if f.Path != want || f.Name != "employees-a.csv" || f.Size != int64(len(newer)) || !f.ModTime.Equal(base.Add(time.Hour).Truncate(time.Second)) {
			t.Errorf("Newest = %+v, want %s, %d bytes, mtime %v", f, want, len(newer), base.Add(time.Hour).Truncate(time.Second))
		}
		if !slices.Equal(sl.calls, []time.Duration{30 * time.Second}) {
			t.Errorf("slept %v, want one look StableFor (default 30s) after the first", sl.calls)
		}
		got, err := src.Read(context.Background(), f)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if !bytes.Equal(got, newer) {
			t.Errorf("Read = %q, want %q", got, newer)
		}

		// Same mtime: the greater name wins.
		put(t, filepath.Join(e.drop, "employees-c.csv"), older, base.Add(time.Hour))
		if f, err := src.Newest(context.Background()); err != nil || f.Name != "employees-c.csv" {
			t.Errorf("Newest with an mtime tie = %+v, %v; want employees-c.csv", f, err)
		}
	})
}

func TestFetchNoFile(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		put(t, filepath.Join(e.drop, "other.csv"), []byte("x"), time.Now())
		src := e.open(t, "employees-*.csv", SourceOptions{Sleep: (&fakeSleep{}).sleep})
		_, err := src.Newest(context.Background())
		if !errors.Is(err, ErrNoFile) {
			t.Fatalf("Newest = %v, want ErrNoFile", err)
		}
		if !strings.Contains(err.Error(), "employees-*.csv") {
			t.Errorf("error %q does not name the glob", err)
		}
		t.Logf("%v", err)
	})
}

func TestFetchMissingFolderIsNotNoFile(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		src := e.open(t, "nope/employees-*.csv", SourceOptions{Sleep: (&fakeSleep{}).sleep})
		_, err := src.Newest(context.Background())
		if err == nil || errors.Is(err, ErrNoFile) {
			t.Fatalf("Newest in a missing folder = %v, want an error that is not ErrNoFile", err)
		}
		t.Logf("%v", err)
	})
}

func TestFetchStillGrowing(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		p := filepath.Join(e.drop, "employees-1.csv")
		first := []byte("email\na@example.com\n")
		rest := []byte("b@example.com\n")
		put(t, p, first, time.Now().Add(-time.Minute))

		// The HR system is still writing while we wait.
		sl := &fakeSleep{during: func() { appendTo(t, p, rest) }}
		src := e.open(t, "employees-*.csv", SourceOptions{StableFor: 10 * time.Second, Sleep: sl.sleep})
		_, err := src.Newest(context.Background())
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "still growing") || !strings.Contains(err.Error(), "employees-1.csv") {
			t.Fatalf("Newest while growing = %v, want ErrNotReady naming the file, \"still growing\"", err)
		}
		if !slices.Equal(sl.calls, []time.Duration{10 * time.Second}) {
			t.Errorf("slept %v, want [10s]", sl.calls)
		}
		t.Logf("%v", err)

		// Now it stays put.
		sl.during = nil
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatalf("Newest once stable: %v", err)
		}
		got, err := src.Read(context.Background(), f)
		if want := append(slices.Clone(first), rest...); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Read = %q, %v; want %q", got, err, want)
		}
	})
}

func TestFetchChangedAfterNewest(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		p := filepath.Join(e.drop, "employees-1.csv")
		put(t, p, []byte("email\na@example.com\n"), time.Now().Add(-time.Minute))
		src := e.open(t, "employees-*.csv", SourceOptions{Sleep: (&fakeSleep{}).sleep})
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		appendTo(t, p, []byte("late@example.com\n"))
		if _, err := src.Read(context.Background(), f); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("Read of a file changed since Newest = %v, want ErrNotReady (changed)", err)
		}
	})
}

func TestFetchDoneMarker(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		p := filepath.Join(e.drop, "employees-1.csv")
		data := []byte("email\na@example.com\n")
		put(t, p, data, time.Now().Add(-time.Minute))

		sl := &fakeSleep{}
		// employees-* also matches the marker employees-1.csv.done: it must
		// never be taken for an export.
		src := e.open(t, "employees-*", SourceOptions{DoneMarker: ".done", Sleep: sl.sleep})
		_, err := src.Newest(context.Background())
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "no .done marker") {
			t.Fatalf("Newest without marker = %v, want ErrNotReady, \"no .done marker\"", err)
		}
		if len(sl.calls) != 0 {
			t.Errorf("slept %v before finding the marker missing; want no wait", sl.calls)
		}
		t.Logf("%v", err)

		put(t, p+".done", nil, time.Now())
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatalf("Newest with marker: %v", err)
		}
		if f.Name != "employees-1.csv" {
			t.Fatalf("Newest = %s, want employees-1.csv (not its marker)", f.Name)
		}
		if got, err := src.Read(context.Background(), f); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Read = %q, %v; want %q", got, err, data)
		}
	})
}

func TestFetchArchive(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		old := []byte("email\nold@example.com\n")
		data := []byte("email\na@example.com\n")
		put(t, filepath.Join(e.drop, "employees-0.csv"), old, time.Now().Add(-2*time.Hour))
		put(t, filepath.Join(e.drop, "employees-1.csv"), data, time.Now().Add(-time.Hour))
		put(t, filepath.Join(e.drop, "employees-1.csv.done"), nil, time.Now().Add(-time.Hour))

		src := e.open(t, "employees-*.csv", SourceOptions{DoneMarker: ".done", ArchiveDir: "processed", Sleep: (&fakeSleep{}).sleep})
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// A local time: the name carries it in UTC.
		now := time.Date(2026, 3, 1, 13, 34, 56, 0, time.FixedZone("CET", 3600))
		if err := src.Archive(context.Background(), f, now); err != nil {
			t.Fatalf("Archive: %v", err)
		}
		want := []string{
			"employees-0.csv",
			"processed/employees-1.csv.20260301T123456Z",
			"processed/employees-1.csv.done.20260301T123456Z",
		}
		if got := tree(t, e.drop); !slices.Equal(got, want) {
			t.Fatalf("after Archive the drop folder holds %q, want %q", got, want)
		}
		if b, _ := os.ReadFile(filepath.Join(e.drop, "processed/employees-1.csv.20260301T123456Z")); !bytes.Equal(b, data) {
			t.Errorf("archived content = %q, want %q", b, data)
		}

		// The same name dropped again and archived in the same second: a
		// new name, the first archive untouched.
		data2 := []byte("email\nb@example.com\n")
		put(t, filepath.Join(e.drop, "employees-1.csv"), data2, time.Now())
		put(t, filepath.Join(e.drop, "employees-1.csv.done"), nil, time.Now())
		f, err = src.Newest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Archive(context.Background(), f, now); err != nil {
			t.Fatalf("second Archive: %v", err)
		}
		want = []string{
			"employees-0.csv",
			"processed/employees-1.csv.20260301T123456Z",
			"processed/employees-1.csv.20260301T123456Z.1",
			"processed/employees-1.csv.done.20260301T123456Z",
			"processed/employees-1.csv.done.20260301T123456Z.1",
		}
		if got := tree(t, e.drop); !slices.Equal(got, want) {
			t.Fatalf("after the second Archive the drop folder holds %q, want %q", got, want)
		}
		if b, _ := os.ReadFile(filepath.Join(e.drop, "processed/employees-1.csv.20260301T123456Z")); !bytes.Equal(b, data) {
			t.Errorf("first archive overwritten: %q", b)
		}

		// The older file is next, and archives without a marker (none was
		// ever dropped for it) to an absolute folder.
		abs := filepath.Join(filepath.Dir(e.drop), "elsewhere", "archive")
		src2 := e.open(t, "employees-*.csv", SourceOptions{ArchiveDir: abs, Sleep: (&fakeSleep{}).sleep})
		f, err = src2.Newest(context.Background())
		if err != nil || f.Name != "employees-0.csv" {
			t.Fatalf("Newest = %+v, %v; want employees-0.csv", f, err)
		}
		if err := src2.Archive(context.Background(), f, now); err != nil {
			t.Fatalf("Archive to an absolute folder: %v", err)
		}
		if got := tree(t, abs); !slices.Equal(got, []string{"employees-0.csv.20260301T123456Z"}) {
			t.Errorf("absolute archive folder holds %q", got)
		}
		if _, err := src2.Newest(context.Background()); !errors.Is(err, ErrNoFile) {
			t.Errorf("Newest after archiving everything = %v, want ErrNoFile", err)
		}
	})
}

func TestFetchArchiveOff(t *testing.T) {
	e := dirEnv(t)
	put(t, filepath.Join(e.drop, "employees-1.csv"), []byte("x"), time.Now().Add(-time.Hour))
	src := e.open(t, "employees-*.csv", SourceOptions{Sleep: (&fakeSleep{}).sleep})
	f, err := src.Newest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Archive(context.Background(), f, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, e.drop); !slices.Equal(got, []string{"employees-1.csv"}) {
		t.Errorf("Archive with no archive folder moved files: %q", got)
	}
}

func TestFetchSleepHonoursContext(t *testing.T) {
	e := dirEnv(t)
	put(t, filepath.Join(e.drop, "employees-1.csv"), []byte("x"), time.Now().Add(-time.Hour))
	src := e.open(t, "employees-*.csv", SourceOptions{StableFor: time.Hour}) // the real sleep
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := src.Newest(ctx)
	// Ignoring ctx would sleep StableFor (an hour): go test's timeout, not a clock check, catches that.
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Newest with a 50ms context and StableFor 1h = %v after %v", err, time.Since(t0))
	}
}

func TestSplitSourceURL(t *testing.T) {
	cases := []struct {
		url                   string
		scheme, dir, pattern  string
		user, host, port, err string
	}{
		{url: "dir:///srv/drop/*.csv", scheme: "dir", dir: "/srv/drop", pattern: "*.csv"},
		{url: "dir:///srv/drop/employees-??.csv", scheme: "dir", dir: "/srv/drop", pattern: "employees-??.csv"},
		{url: "dir:///srv/my%20drop/a.csv", scheme: "dir", dir: "/srv/my drop", pattern: "a.csv"},
		{url: "sftp://hr@sftp.example.com/outbox/*.csv", scheme: "sftp", user: "hr", host: "sftp.example.com", port: "22", dir: "/outbox", pattern: "*.csv"},
		{url: "sftp://hr@[::1]:2222/outbox/x?.csv", scheme: "sftp", user: "hr", host: "::1", port: "2222", dir: "/outbox", pattern: "x?.csv"},
		{url: "dir://srv/drop/*.csv", err: "absolute path"},
		{url: "dir:///srv/*/x.csv", err: "wildcards are allowed in the file name only"},
		{url: "dir:///srv/drop/", err: "must end in a file name"},
		{url: "dir:///srv/drop/[a", err: "invalid file pattern"},
		{url: "sftp://sftp.example.com/outbox/*.csv", err: "needs a user"},
		{url: "sftp://hr@sftp.example.com:99999/outbox/*.csv", err: "invalid port"},
		{url: "sftp://hr@sftp.example.com:22", err: "absolute path"},
		{url: "ftp://hr@example.com/x/*.csv", err: "unknown scheme"},
		{url: "/srv/drop/*.csv", err: "want dir:///path/glob"},
	}
	for _, c := range cases {
		loc, err := splitSourceURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if loc.scheme != c.scheme || loc.dir != c.dir || loc.pattern != c.pattern || loc.user != c.user || loc.host != c.host || loc.port != c.port {
			t.Errorf("%s: got %+v", c.url, loc)
		}
	}
}

func TestSourceErrorsHidePasswords(t *testing.T) {
	for _, u := range []string{
		"sftp://hr:hunter2@sftp.example.com/outbox/*.csv",
		"sftp://hr:hunter2@sftp.example.com:bad/outbox/*.csv",
		"ftp://hr:hunter2@sftp.example.com/outbox/*.csv",
	} {
		_, err := OpenSource(context.Background(), SourceOptions{URL: u, KnownHostsFile: "/dev/null", Password: "x"})
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", u, err)
		}
	}
	// A password given as an option never shows either.
	_, err := OpenSource(context.Background(), SourceOptions{URL: "sftp://hr@127.0.0.1:1/x/*.csv", Password: "hunter2", KnownHostsFile: "/dev/null", Timeout: time.Second})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "sftp://hr@127.0.0.1:1/x/*.csv") {
		t.Errorf("error = %v; want one naming the source without its password", err)
	}
}

func TestOpenSourceChecks(t *testing.T) {
	cases := []struct {
		name string
		opt  SourceOptions
		err  string
	}{
		{"sftp without known_hosts", SourceOptions{URL: "sftp://hr@127.0.0.1:1/x/*.csv", Password: "p"}, "known_hosts file is required"},
		{"sftp without credentials", SourceOptions{URL: "sftp://hr@127.0.0.1:1/x/*.csv", KnownHostsFile: "/dev/null"}, "private key file or a password is required"},
		{"sftp with a missing key file", SourceOptions{URL: "sftp://hr@127.0.0.1:1/x/*.csv", KnownHostsFile: "/dev/null", PrivateKeyFile: "/nonexistent/key"}, "reading the private key"},
		{"archive in the drop folder", SourceOptions{URL: "dir:///srv/drop/*.csv", ArchiveDir: "."}, "drop folder itself"},
		{"absolute archive = drop folder", SourceOptions{URL: "dir:///srv/drop/*.csv", ArchiveDir: "/srv/drop/"}, "drop folder itself"},
		{"marker with a slash", SourceOptions{URL: "dir:///srv/drop/*.csv", DoneMarker: "done/x"}, "file name suffix"},
	}
	for _, c := range cases {
		_, err := OpenSource(context.Background(), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

// TestFetchMaxFileSize: a file over max_file_size is refused by its
// listed size, naming the file and the limit, before it is read.
func TestFetchMaxFileSize(t *testing.T) {
	bothBackends(t, func(t *testing.T, e feedEnv) {
		put(t, filepath.Join(e.drop, "hr.csv"), bytes.Repeat([]byte("x"), 2000), time.Now().Add(-time.Hour))
		src := e.open(t, "*.csv", SourceOptions{StableFor: -1, MaxFileSize: 1000})
		f, err := src.Newest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Read(context.Background(), f)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "hr.csv: ") || !strings.Contains(err.Error(), "2000 bytes, over max_file_size 1000B") {
			t.Fatalf("Read of a file over the limit: %v", err)
		}
		src = e.open(t, "*.csv", SourceOptions{StableFor: -1, MaxFileSize: 2000})
		if b, err := src.Read(context.Background(), f); err != nil || len(b) != 2000 {
			t.Fatalf("Read of a file at the limit: %d bytes, %v", len(b), err)
		}
	})
}
