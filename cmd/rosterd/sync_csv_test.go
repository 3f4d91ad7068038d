package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncPlanOutputNeutralisesFormulas: `sync plan --output plan.csv`
// writes an HR file's hostile employee ids as text, not formulas.
func TestSyncPlanOutputNeutralisesFormulas(t *testing.T) {
	dir, drop := t.TempDir(), t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+dir+`
tenants:
  - id: acme
    invite: none
    feeds:
      - name: hr
        kind: file
        source: dir://`+drop+`/employees-*.csv
        stable_for: 0s
        key: employee_id
`), 0o600)
	os.WriteFile(filepath.Join(drop, "employees-1.csv"), []byte(`Employee ID,First Name,Last Name,Work Email
=1+1,Ann,Lee,ann@acme.example
"a;=2+2",Bob,Stone,bob@acme.example
@SUM(A1),Cy,Nak,cy@acme.example
`), 0o600)
	out := filepath.Join(dir, "plan.csv")
	if code, stdout, stderr := rosterdCmd(t, "sync", "plan", "hr", "--config", cfg, "--output", out); code != 0 {
		t.Fatalf("sync plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	raw, _ := os.ReadFile(out)
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][1] != "key" {
		t.Fatalf("plan.csv: %v\n%s", err, raw)
	}
	var keys []string
	for _, r := range rows[1:] {
		keys = append(keys, r[1])
	}
	if got, want := strings.Join(keys, " | "), "'=1+1 | 'a;=2+2 | '@SUM(A1)"; got != want {
		t.Errorf("keys in plan.csv: %s, want %s\n%s", got, want, raw)
	}
	if !strings.Contains(string(raw), `"'a;=2+2"`) {
		t.Errorf("the key with a \";=\" is not quoted:\n%s", raw)
	}
}
