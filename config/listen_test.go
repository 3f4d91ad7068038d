package config

import (
	"strings"
	"testing"
)

// TestBadListenIsOneProblem: a public_url left to be derived from a bad
// listen address is not reported as a second problem, without a line;
// one written in the file still is.
func TestBadListenIsOneProblem(t *testing.T) {
	err := parseError(t, "listen: not a host\n")
	if msg := err.Error(); strings.Contains(msg, "public_url") || !strings.Contains(msg, "listen") {
		t.Errorf("a bad listen address: %v", err)
	}
	err = parseError(t, "listen: not a host\npublic_url: ftp://x\n")
	if msg := err.Error(); !strings.Contains(msg, "public_url") || !strings.Contains(msg, "listen") {
		t.Errorf("a bad listen address and public_url: %v", err)
	}
}
