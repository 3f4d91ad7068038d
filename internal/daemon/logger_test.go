package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantJSON      bool
		wantDebug     bool
	}{
		{"info", "json", true, false},
		{"debug", "json", true, true},
		{"", "", true, false},           // defaults: info, auto → JSON off a terminal
		{"WARN", "auto", true, false},   // case does not matter
		{"error", "text", false, false}, // tint, without colour off a terminal
		{"debug", "text", false, true},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		logger, err := NewLogger(&buf, tt.level, tt.format)
		if err != nil {
			t.Fatalf("NewLogger(%q, %q): %v", tt.level, tt.format, err)
		}
		logger.Debug("debug line", "k", "v")
		logger.Error("error line", "k", "v")
		out := buf.String()

		if strings.Contains(out, "\x1b[") {
			t.Errorf("%q/%q: ANSI escape codes in non-terminal output: %q", tt.level, tt.format, out)
		}
		if got := strings.Contains(out, "debug line"); got != tt.wantDebug {
			t.Errorf("%q/%q: debug line logged = %v, want %v", tt.level, tt.format, got, tt.wantDebug)
		}
		if !strings.Contains(out, "error line") {
			t.Errorf("%q/%q: error line missing: %q", tt.level, tt.format, out)
		}
		for line := range strings.Lines(out) {
			isJSON := json.Valid([]byte(line))
			if isJSON != tt.wantJSON {
				t.Errorf("%q/%q: line %q JSON = %v, want %v", tt.level, tt.format, line, isJSON, tt.wantJSON)
			}
		}
	}
}

func TestNewLoggerRejectsUnknownValues(t *testing.T) {
	if _, err := NewLogger(&bytes.Buffer{}, "verbose", "json"); err == nil || !strings.Contains(err.Error(), `"verbose"`) {
		t.Errorf("bad level: err = %v, want one naming \"verbose\"", err)
	}
	if _, err := NewLogger(&bytes.Buffer{}, "info", "logfmt"); err == nil || !strings.Contains(err.Error(), `"logfmt"`) {
		t.Errorf("bad format: err = %v, want one naming \"logfmt\"", err)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	var nilFile *os.File

	for name, w := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "regular file": f, "/dev/null": devNull, "nil *os.File": nilFile} {
		if IsTerminal(w) {
			t.Errorf("IsTerminal(%s) = true", name)
		}
	}
}
