package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records Skipf/Fatalf instead of ending the
// goroutine, so the decision Unavailable makes can be observed in-process.
type recorder struct {
	testing.TB      // nil: any method not overridden here panics, which would fail the test
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "TRUE": true, "1": true, "0": false, "false": false, "yes": false} {
		t.Setenv("CI", v)
		if got := CI(); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, got, want)
		}
	}
}

func TestUnavailableSeam(t *testing.T) {
	const reason = "slapd not installed: apt-get install slapd ldap-utils"
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"false", false}, {"true", true}, {"1", true}} {
		t.Setenv("CI", tc.ci)
		r := &recorder{}
		Unavailable(r, "slapd not installed: %s", "apt-get install slapd ldap-utils")
		switch {
		case tc.wantFail && (r.failed == "" || r.skipped != ""):
			t.Errorf("CI=%q: want Fatalf only, got failed=%q skipped=%q", tc.ci, r.failed, r.skipped)
		case !tc.wantFail && (r.skipped == "" || r.failed != ""):
			t.Errorf("CI=%q: want Skipf only, got failed=%q skipped=%q", tc.ci, r.failed, r.skipped)
		}
		if msg := r.failed + r.skipped; !strings.Contains(msg, reason) {
			t.Errorf("CI=%q: message %q does not carry the reason %q", tc.ci, msg, reason)
		}
		if !tc.wantFail && !strings.HasPrefix(r.skipped, "SKIP: ") {
			t.Errorf("CI=%q: skip message %q should start with %q", tc.ci, r.skipped, "SKIP: ")
		}
	}
}

const helperEnv = "TESTENV_UNAVAILABLE_HELPER"

// TestHelperUnavailable is run only as a subprocess by
// TestUnavailableSubprocess; it is a no-op in a normal run.
func TestHelperUnavailable(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper for TestUnavailableSubprocess")
	}
	Unavailable(t, "fakesrv not installed: %s", "apt-get install fakesrv")
	t.Log("REACHED-AFTER-UNAVAILABLE")
}

// TestUnavailableSubprocess runs a real test that calls Unavailable in a
// child test binary, with CI unset and set, and checks the child's verdict.
func TestUnavailableSubprocess(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		t.Skip("inside helper subprocess")
	}
	for _, tc := range []struct {
		ci       string // "" = unset
		wantFail bool
	}{{"", false}, {"true", true}, {"1", true}} {
		t.Run("CI="+strconv.Quote(tc.ci), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUnavailable$", "-test.v", "-test.count=1")
			env := []string{helperEnv + "=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "CI=") {
					env = append(env, kv)
				}
			}
			if tc.ci != "" {
				env = append(env, "CI="+tc.ci)
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				t.Fatalf("running helper: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "fakesrv not installed: apt-get install fakesrv") {
				t.Errorf("reason missing from output:\n%s", s)
			}
			if strings.Contains(s, "REACHED-AFTER-UNAVAILABLE") {
				t.Errorf("Unavailable returned to its caller:\n%s", s)
			}
			if tc.wantFail {
				if err == nil || !strings.Contains(s, "--- FAIL: TestHelperUnavailable") {
					t.Errorf("want the helper to FAIL (err=%v):\n%s", err, s)
				}
			} else {
				if err != nil || !strings.Contains(s, "--- SKIP: TestHelperUnavailable") {
					t.Errorf("want the helper to SKIP (err=%v):\n%s", err, s)
				}
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	if p := LookPath(t, "sh", "apt-get install dash"); p == "" {
		t.Fatal("sh not found")
	}

	dir := t.TempDir()
	name := "testenv-fake-binary-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p := LookPath(t, name, "n/a", "/nonexistent", dir); p != filepath.Join(dir, name) {
		t.Errorf("LookPath in extra dir = %q, want %q", p, filepath.Join(dir, name))
	}

	t.Setenv("CI", "")
	r := &recorder{}
	if p := LookPath(r, name+"-missing", "apt-get install fakesrv", dir); p != "" {
		t.Errorf("LookPath of a missing binary = %q, want \"\"", p)
	}
	if !strings.Contains(r.skipped, "apt-get install fakesrv") || !strings.Contains(r.skipped, name+"-missing") {
		t.Errorf("missing binary: skip message %q lacks the name or install hint", r.skipped)
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d from FreePort is not bindable: %v", p, err)
	}
	l.Close()
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Minute)) {
		t.Fatalf("after Advance: %v", got)
	}
}

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	for range 8 {
		go func() {
			for range 100 {
				b.Write([]byte("ab"))
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
	if got := b.String(); len(got) != 1600 || strings.Count(got, "ab") != 800 {
		t.Fatalf("%d bytes written, %d pairs intact; want 1600, 800", len(got), strings.Count(got, "ab"))
	}
}
