// Package browsertest drives a real headless Chromium (chromedp) against a
// real rosterd, for the console's browser tests.
//
// StartRosterd builds cmd/rosterd once per test binary and starts it as its
// own process, wired exactly as `rosterd serve` wires it, on a loopback port
// with its data (SQLite, or a PostgreSQL database of internal/pgtest) in a
// temporary directory. NewBrowser starts Chromium; Browser.Step runs one
// named step of a journey with a timeout and, when it fails, saves a
// screenshot of the page and fails the test; Browser.CheckA11y injects
// axe-core and fails on serious or critical violations.
//
// Screenshots: with ROSTERD_SCREENSHOTS=dir (or -screenshots=dir) every step
// saves dir/<test>/<NN>-<step>.png; without it, only a failing step does,
// under the system's temporary directory, and the test log names the file.
//
// A package that uses it needs
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
//
// Chromium is Debian's `chromium` (ROSTERD_CHROMIUM names another binary);
// where it is missing the tests skip loudly, and fail under CI=true
// (testenv.Unavailable). It runs with --no-sandbox: the tests run as root
// in CI, where Chromium's sandbox cannot start.
//
// It must never be imported outside tests.
package browsertest
