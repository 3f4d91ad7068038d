package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: whatever the bytes, Parse does not panic, and every problem
// it reports names a line or a key path, so that a user can find it.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, seed := range []string{
		"",
		"listen: 127.0.0.1:8080\n",
		"tenants:\n  - id: acme\n    feeds:\n      - {name: hr, kind: file, schedule: \"61 * * * *\", source: \"dir:///x/*.csv\"}\n",
		"a: &a [*a]\n",
		"x: &x {<<: *x}\n",
		"tenants: [{id: acme, safety: {max_disable_percent: ten}}]\n",
		"webhooks: [{url: \"http://x\", secret: short}]\n",
		"listen: \"${NOPE\"\n",
		"- a\n- b\n",
		"\x00\x01\xff",
		"listen: a\n---\nlisten: b\n",
		"tenants:\n  - id: acme\n    scim:\n      - name: okta\n        token: \"TZ=\"\n    feeds:\n      - {name: f, kind: file, schedule: \"TZ=\", source: \"sftp://h/\"}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", env(map[string]string{"SET": "value"}))
		if err == nil {
			if c == nil {
				t.Fatal("Parse returned neither a Config nor an error")
			}
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a Config that Validate refuses: %v", verr)
			}
			return
		}
		var cerr *Error
		if !errors.As(err, &cerr) {
			t.Fatalf("error is %T, want *Error: %v", err, err)
		}
		if len(cerr.Problems) == 0 {
			t.Fatal("an *Error without problems")
		}
		for _, p := range cerr.Problems {
			if p.Line <= 0 && p.Path == "" {
				t.Errorf("problem names neither a line nor a key path: %q", p.Message)
			}
		}
		if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}

func TestParseRefusesAnOversizedFile(t *testing.T) {
	data := []byte("listen: 127.0.0.1:8080\n" + strings.Repeat("# padding\n", MaxFileSize/10))
	_, err := Parse(data, "rosterd.yaml", env(nil))
	line := bytes.Count(data[:MaxFileSize], []byte("\n")) + 1
	wantContains(t, err, fmt.Sprintf("rosterd.yaml:%d: configuration file is larger than 1 MiB", line))

	// Load reads no more than the limit and a byte.
	path := filepath.Join(t.TempDir(), "rosterd.yaml")
	writeFile(t, path, string(data)+strings.Repeat("x", 4<<20))
	_, err = Load(path)
	wantContains(t, err, "configuration file is larger than 1 MiB")
}
