package browsertest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const helperEnv = "BROWSERTEST_HELPER"

// TestHelperNoChromium is run by TestMissingChromium in a child process,
// with ROSTERD_CHROMIUM naming a binary that does not exist.
func TestHelperNoChromium(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("run by TestMissingChromium")
	}
	NewBrowser(t, BrowserOptions{})
	t.Log("REACHED-AFTER-NEWBROWSER")
}

// TestMissingChromium: without Chromium a browser test skips with a loud
// reason on a laptop and fails under CI=true.
func TestMissingChromium(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		t.Skip("inside the helper")
	}
	missing := filepath.Join(t.TempDir(), "no-chromium")
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"true", true}} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNoChromium$", "-test.v", "-test.count=1")
			env := []string{helperEnv + "=1", "ROSTERD_CHROMIUM=" + missing}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "ROSTERD_CHROMIUM=") {
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
				t.Fatalf("running the helper: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "did not start") || !strings.Contains(s, missing) {
				t.Errorf("the reason does not name the missing browser:\n%s", s)
			}
			if strings.Contains(s, "REACHED-AFTER-NEWBROWSER") {
				t.Errorf("NewBrowser returned without a browser:\n%s", s)
			}
			switch {
			case tc.wantFail && (err == nil || !strings.Contains(s, "--- FAIL: TestHelperNoChromium")):
				t.Errorf("under CI=true the test must FAIL (err=%v):\n%s", err, s)
			case !tc.wantFail && (err != nil || !strings.Contains(s, "--- SKIP: TestHelperNoChromium")):
				t.Errorf("without CI the test must SKIP (err=%v):\n%s", err, s)
			}
		})
	}
}
