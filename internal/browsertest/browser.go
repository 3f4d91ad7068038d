package browsertest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rosterd/rosterd/internal/testenv"
)

var screenshotFlag = flag.String("screenshots", "", "save a screenshot of every browser test step under this `dir` (or set ROSTERD_SCREENSHOTS)")

// screenshotDir is where every step's screenshot goes, "" when only
// failures are saved.
func screenshotDir() string {
	if *screenshotFlag != "" {
		return *screenshotFlag
	}
	return os.Getenv("ROSTERD_SCREENSHOTS")
}

// StepTimeout bounds one step of a journey.
const StepTimeout = 30 * time.Second

// BrowserOptions say how to start Chromium.
type BrowserOptions struct {
	// Width and Height of the window, CSS pixels (default 1280 × 900).
	Width, Height int
	// Axe is the path of axe.min.js (axe-core from npm) for CheckA11y.
	Axe string
	// Foreign are origins (http://127.0.0.1:PORT) of pages that are not
	// rosterd's, an IdP's: what they log (a missing favicon) fails no step.
	Foreign []string
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	t    *testing.T
	ctx  context.Context
	opt  BrowserOptions
	step int

	mu       sync.Mutex
	problems []string // CSP violations and uncaught errors the page logged
}

// chromiumPath finds the Chromium binary: ROSTERD_CHROMIUM, else Debian's
// chromium on PATH or in /usr/bin.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("ROSTERD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := testenv.Find(name, "/usr/bin"); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "chromium not installed (not chromium or chromium-browser on PATH or in /usr/bin; or set ROSTERD_CHROMIUM): apt-get install chromium")
	return ""
}

// NewBrowser starts headless Chromium for the test; it stops with the test.
func NewBrowser(t *testing.T, opt BrowserOptions) *Browser {
	t.Helper()
	if opt.Width == 0 {
		opt.Width, opt.Height = 1280, 900
	}
	exec := chromiumPath(t)
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(opt.Width, opt.Height),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{t: t, ctx: ctx, opt: opt}
	// The first call starts the browser and binds it to ctx: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		testenv.Unavailable(t, "chromium (%s) did not start: %v", exec, err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("browsertest: Log.enable: %v", err)
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("browsertest: listening to the page: %v", err)
	}
	return b
}

// onEvent collects what the page logs as errors: a blocked resource (CSP)
// or an uncaught exception is a failure of the step that caused it.
func (b *Browser) onEvent(ev any) {
	e, ok := ev.(*cdplog.EventEntryAdded)
	if !ok || e.Entry == nil || e.Entry.Level != cdplog.EntryLevelError {
		return
	}
	for _, o := range b.opt.Foreign {
		if e.Entry.URL == o || strings.HasPrefix(e.Entry.URL, strings.TrimSuffix(o, "/")+"/") {
			return
		}
	}
	b.mu.Lock()
	b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
	b.mu.Unlock()
}

func (b *Browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// Context is the tab's context, for chromedp.Run of an action whose value
// the test needs; derive a timeout from it, never cancel it.
func (b *Browser) Context() context.Context { return b.ctx }

// Step runs a named step of a journey with StepTimeout. When it fails, or
// the page logged an error (a resource the CSP blocked, an uncaught
// exception), it saves a screenshot and fails the test (t.Fatalf).
func (b *Browser) Step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.run(name, true, actions...)
}

// run is Step; shoot says whether the step's screenshot is saved on
// demand (reads and checks change nothing worth a picture).
func (b *Browser) run(name string, shoot bool, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	problems := b.takeProblems()
	if err == nil && len(problems) == 0 {
		if dir := screenshotDir(); dir != "" && shoot {
			if p := b.screenshot(dir, name); strings.HasPrefix(p, "(") {
				b.t.Logf("step %d %q: %s", b.step, name, p)
			}
		}
		return
	}
	shot := b.screenshot(failureDir(), name)
	url, _ := b.Location()
	if err != nil {
		b.t.Fatalf("step %d %q failed at %s: %v\nscreenshot: %s", b.step, name, url, err, shot)
	}
	b.t.Fatalf("step %d %q: the page at %s logged errors:\n  %s\nscreenshot: %s", b.step, name, url, strings.Join(problems, "\n  "), shot)
}

// Value runs one action that returns a value, as a step of its own (with
// a screenshot only when it fails).
func Value[T any](b *Browser, name string, a chromedp.Action[T]) T {
	b.t.Helper()
	var v T
	b.run(name, false, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var err error
		v, err = chromedp.Run(ctx, a)
		return err
	}))
	return v
}

// Load runs trigger (a click on a link or a submit button, the Enter key in
// a form) and waits until the page it opens has loaded, so that the next
// action never sees the page before.
func Load[T any](trigger chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger))
		return err
	})
}

// Location is the tab's URL.
func (b *Browser) Location() (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

// Fatalf fails the test with a screenshot of the page as it is.
func (b *Browser) Fatalf(format string, args ...any) {
	b.t.Helper()
	shot := b.screenshot(failureDir(), "failure")
	b.t.Fatalf(format+"\nscreenshot: %s", append(args, shot)...)
}

func failureDir() string {
	if dir := screenshotDir(); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "rosterd-screenshots")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot saves the whole page as dir/<test>/<NN>-<name>.png and returns
// the path (or why there is none).
func (b *Browser) screenshot(dir, name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	d := filepath.Join(dir, unsafeName.ReplaceAllString(b.t.Name(), "_"))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	p := filepath.Join(d, fmt.Sprintf("%02d-%s.png", b.step, unsafeName.ReplaceAllString(name, "-")))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	return p
}

// Violation is one axe-core rule the page breaks.
type Violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// CheckA11y injects axe-core into the page and fails the test (with a
// screenshot) on every serious or critical violation; moderate and minor
// ones are logged.
func (b *Browser) CheckA11y(name string) {
	b.t.Helper()
	if b.opt.Axe == "" {
		b.t.Fatalf("browsertest: CheckA11y needs BrowserOptions.Axe (the path of axe.min.js)")
	}
	src, err := os.ReadFile(b.opt.Axe)
	if err != nil {
		testenv.Unavailable(b.t, "axe-core not installed (%v): cd console/consoletest && npm ci", err)
	}
	// Runtime.evaluate is not subject to the page's CSP, which stays on.
	const run = `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}))))`
	b.run("axe inject "+name, false, chromedp.Evaluate[chromedp.Void](string(src)))
	raw := Value(b, "axe run "+name, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	var vs []Violation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		b.t.Fatalf("browsertest: axe-core's answer: %v", err)
	}
	var bad []string
	for _, v := range vs {
		line := fmt.Sprintf("%s (%s): %s\n    %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    "))
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, line)
		} else {
			b.t.Logf("axe-core on %s, not failing (%s): %s", name, v.Impact, line)
		}
	}
	if len(bad) > 0 {
		b.Fatalf("axe-core: %d serious or critical violations on %s:\n  %s", len(bad), name, strings.Join(bad, "\n  "))
	}
}
