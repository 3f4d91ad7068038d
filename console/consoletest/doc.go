// Package consoletest holds the console's browser tests: each journey of
// issue 17 end to end in a real headless Chromium against a real rosterd
// (internal/browsertest), with axe-core (package.json pins it; `npm ci`
// here installs it) checking every page the journey opens.
package consoletest
