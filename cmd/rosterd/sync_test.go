package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/testenv"
)

// rosterdCmd runs a one-shot rosterd command in this process.
func rosterdCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr testenv.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const hrFile = `Employee ID,First Name,Last Name,Work Email,Department,Status
001,Ann,Lee,ann@acme.example,Engineering,active
002,Bob,Stone,bob@acme.example,Engineering,active
003,Cy,Nak,cy@acme.example,Finance,active
004,Dee,Oka,dee@acme.example,Sales,terminated
005,Eve,Mar,eve@acme.example,Sales,active
006,Fay,Mul,not-an-email,People,active
`

// TestSyncCommands walks the README's file-feed example: a dry run, a run,
// a truncated file held, rejected, held again and approved.
func TestSyncCommands(t *testing.T) {
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
	os.WriteFile(filepath.Join(drop, "employees-1.csv"), []byte(hrFile), 0o600)

	code, out, errOut := rosterdCmd(t, "sync", "plan", "hr", "--config", cfg, "--output", filepath.Join(dir, "plan.csv"))
	if code != 0 || !regexp.MustCompile(`status\s+planned`).MatchString(out) || !regexp.MustCompile(`create\s+5`).MatchString(out) ||
		!regexp.MustCompile(`enable\s+4`).MatchString(out) || !strings.Contains(out, `employees-1.csv:7`) {
		t.Fatalf("sync plan: exit %d\n%s\n%s", code, out, errOut)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "plan.csv"))
	if !strings.HasPrefix(string(csv), "action,key,email,card_id,effect,changes,cleared,refused,line\ncreate,001,ann@acme.example,,enable,") {
		t.Fatalf("plan.csv:\n%s", csv)
	}

	code, out, errOut = rosterdCmd(t, "sync", "run", "hr", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`status\s+applied`).MatchString(out) || !regexp.MustCompile(`applied\s+5`).MatchString(out) {
		t.Fatalf("sync run: exit %d\n%s\n%s", code, out, errOut)
	}
	// The processed file went to processed/ (the default archive).
	if _, err := os.Stat(filepath.Join(drop, "employees-1.csv")); !os.IsNotExist(err) {
		t.Fatalf("processed file still in the drop folder: %v", err)
	}
	archived, _ := filepath.Glob(filepath.Join(drop, "processed", "employees-1.csv.*"))
	if len(archived) != 1 {
		t.Fatalf("archive: %v", archived)
	}

	// A truncated file is held, then rejected: nothing changes.
	os.WriteFile(filepath.Join(drop, "employees-2.csv"), []byte(strings.Join(strings.Split(hrFile, "\n")[:2], "\n")+"\n"), 0o600)
	code, out, _ = rosterdCmd(t, "sync", "run", "hr", "--config", cfg)
	held := regexp.MustCompile(`run\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || !regexp.MustCompile(`status\s+held`).MatchString(out) || held == nil {
		t.Fatalf("truncated: exit %d\n%s", code, out)
	}
	code, out, _ = rosterdCmd(t, "sync", "reject", held[1], "--config", cfg)
	if code != 0 || !regexp.MustCompile(`status\s+rejected`).MatchString(out) {
		t.Fatalf("reject: exit %d\n%s", code, out)
	}
	// The same truncated file again: held again; approved, applied.
	code, out, _ = rosterdCmd(t, "sync", "run", "hr", "--config", cfg)
	held = regexp.MustCompile(`run\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || !regexp.MustCompile(`status\s+held`).MatchString(out) {
		t.Fatalf("held again: exit %d\n%s", code, out)
	}
	code, out, _ = rosterdCmd(t, "sync", "approve", held[1], "--config", cfg)
	if code != 0 || !regexp.MustCompile(`status\s+applied`).MatchString(out) || !regexp.MustCompile(`withdraw\s+4`).MatchString(out) {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	// The approved file went to processed/ as a direct run's did.
	if _, err := os.Stat(filepath.Join(drop, "employees-2.csv")); !os.IsNotExist(err) {
		t.Fatalf("approved file still in the drop folder: %v", err)
	}
	if archived, _ := filepath.Glob(filepath.Join(drop, "processed", "employees-2.csv.*")); len(archived) != 1 {
		t.Fatalf("archive after the approval: %v", archived)
	}
	code, out, _ = rosterdCmd(t, "sync", "runs", "--config", cfg)
	if code != 0 || strings.Count(out, "\n") != 5 || !strings.Contains(out, "rejected") {
		t.Fatalf("runs: exit %d\n%s", code, out)
	}
	if code, _, errOut := rosterdCmd(t, "sync", "run", "nope", "--config", cfg); code != 2 || !strings.Contains(errOut, "no feed acme/nope") {
		t.Fatalf("unknown feed: %d %s", code, errOut)
	}
}

// TestImportCommand: the admin's import adds and updates, invites only new
// cards, disables nobody unless it is the full roster.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\ntenants:\n  - id: acme\n"), 0o600)
	file := filepath.Join(dir, "people.csv")
	os.WriteFile(file, []byte("Email,First Name\nann@acme.example,Ann\nbob@acme.example,Bob\n"), 0o600)
	code, out, errOut := rosterdCmd(t, "import", file, "--config", cfg, "--invite")
	if code != 0 || !regexp.MustCompile(`create\s+2`).MatchString(out) {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	// An update and one new person; Bob is not in this file.
	os.WriteFile(file, []byte("Email,First Name\nann@acme.example,Annie\ncy@acme.example,Cy\n"), 0o600)
	code, out, _ = rosterdCmd(t, "import", file, "--config", cfg, "--invite")
	if code != 0 || !regexp.MustCompile(`create\s+1`).MatchString(out) || !regexp.MustCompile(`update\s+1`).MatchString(out) || strings.Contains(out, "withdraw") {
		t.Fatalf("second import: %d\n%s", code, out)
	}
	a, err := openApp(context.Background(), globalFlags{config: cfg}, &testenv.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.st.Close()
	outbox, _ := a.st.ListOutbox(context.Background(), "acme", 0, 10)
	if len(outbox) != 3 {
		t.Fatalf("%d invites queued, want 3 (one per new card, none for the update)", len(outbox))
	}
	bob, err := a.dir.GetByEmail(context.Background(), "acme", "bob@acme.example")
	if err != nil || !bob.Enabled {
		t.Fatalf("bob, absent from a partial import, must stay: %+v, %v", bob, err)
	}
	// A full-roster dry run shows Bob withdrawn.
	code, out, _ = rosterdCmd(t, "import", file, "--config", cfg, "--full-roster", "--dry-run")
	if code != 0 || !regexp.MustCompile(`withdraw\s+1`).MatchString(out) || !strings.Contains(out, "planned") {
		t.Fatalf("full roster dry run: %d\n%s", code, out)
	}
}

// TestPartialFeedAndClearEmptyImport: a feed configured partial: true
// changes only the attributes its file has columns for; an import leaves
// an empty cell's attribute unless --clear-empty.
func TestPartialFeedAndClearEmptyImport(t *testing.T) {
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
        partial: true
`), 0o600)
	os.WriteFile(filepath.Join(drop, "employees-1.csv"), []byte("Email,First Name,Last Name,Department\nann@acme.example,Ann,Lee,Research\n"), 0o600)
	if code, out, errOut := rosterdCmd(t, "sync", "run", "hr", "--config", cfg); code != 0 || !regexp.MustCompile(`status\s+applied`).MatchString(out) {
		t.Fatalf("first run: %d\n%s\n%s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(drop, "employees-2.csv"), []byte("Email,Department\nann@acme.example,Sales\n"), 0o600)
	if code, out, errOut := rosterdCmd(t, "sync", "run", "hr", "--config", cfg); code != 0 || !regexp.MustCompile(`update\s+1`).MatchString(out) {
		t.Fatalf("second run: %d\n%s\n%s", code, out, errOut)
	}
	file := filepath.Join(dir, "titles.csv")
	importTitle := func(content string, flags ...string) {
		t.Helper()
		os.WriteFile(file, []byte(content), 0o600)
		if code, out, errOut := rosterdCmd(t, append([]string{"import", file, "--config", cfg}, flags...)...); code != 0 {
			t.Fatalf("import %q %v: %d\n%s\n%s", content, flags, code, out, errOut)
		}
	}
	importTitle("Email,Title\nann@acme.example,Chemist\n")
	importTitle("Email,Title\nann@acme.example,\n")
	card := func() map[string]string {
		a, err := openApp(context.Background(), globalFlags{config: cfg}, &testenv.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.st.Close()
		c, err := a.dir.GetByEmail(context.Background(), "acme", "ann@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"given_name": c.Attributes.GivenName, "family_name": c.Attributes.FamilyName,
			"department": c.Attributes.Department, "title": c.Attributes.Title}
	}
	want := map[string]string{"given_name": "Ann", "family_name": "Lee", "department": "Sales", "title": "Chemist"}
	if got := card(); !maps.Equal(got, want) {
		t.Fatalf("after a partial feed run and an import with an empty cell: %v, want %v", got, want)
	}
	importTitle("Email,Title\nann@acme.example,\n", "--clear-empty")
	want["title"] = ""
	if got := card(); !maps.Equal(got, want) {
		t.Fatalf("after --clear-empty: %v, want %v", got, want)
	}
}

// TestImportCommandRefusesAFileOverTheLimit: "rosterd import" holds a
// file to max_file_size before reading it (a sparse file: nothing of it
// is written or read).
func TestImportCommandRefusesAFileOverTheLimit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\ntenants:\n  - id: acme\n"), 0o600)
	file := filepath.Join(dir, "huge.csv")
	if err := os.WriteFile(file, []byte("Email\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 201<<20); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := rosterdCmd(t, "import", file, "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "huge.csv: over a size limit: the file has 210763776 bytes or more, over max_file_size 200MiB") {
		t.Fatalf("import of a file over the limit: %d\n%s\n%s", code, out, errOut)
	}
}

// TestImportCommandColumnsAndText: rosterd import maps a file's headers
// with --columns (the admin API's mapping, checked the same way: a bad one
// names its header and imports nothing), reads pasted rows from standard
// input for FILE -, and remembers the mapping as the tenant's import
// default, as the API does.
func TestImportCommandColumnsAndText(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\ntenants:\n  - id: acme\n    invite: none\n    relations: [parent]\n"), 0o600)
	file := filepath.Join(dir, "people.csv")
	os.WriteFile(file, []byte("Email,Office Location,Parent\nkid@acme.example,Berlin,mum@acme.example\nmum@acme.example,Paris,\n"), 0o600)
	card := func(email string) directory.Card {
		t.Helper()
		a, err := openApp(context.Background(), globalFlags{config: cfg}, &testenv.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.st.Close()
		c, err := a.dir.GetByEmail(context.Background(), "acme", email)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		return c
	}

	// Refusals name the problem and import nothing.
	for _, tc := range []struct {
		columns, want string
	}{
		{`{"Office Location": "locaton"}`, `columns["Office Location"]: unknown target "locaton"`},
		{`{"Parent": "relation.guardian"}`, `columns["Parent"]: unknown relation "guardian" (the tenant declares: parent)`},
		{`{"Office Location": "location", "office_location": "custom.office"}`, `columns["office_location"]: the header is the same as "Office Location"`},
		{`Office Location=location`, `--columns must be a JSON object of header → target`},
	} {
		code, out, errOut := rosterdCmd(t, "import", file, "--config", cfg, "--columns", tc.columns)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("--columns %s: exit %d, stderr %q, want 2 and %q", tc.columns, code, errOut, tc.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	code, out, errOut := rosterdCmd(t, "import", file, "--config", cfg, "--columns", `{"Office Location": "location", "Parent": "relation.parent"}`)
	if code != 0 || !regexp.MustCompile(`create\s+2`).MatchString(out) {
		t.Fatalf("import with --columns: %d\n%s\n%s", code, out, errOut)
	}
	kid := card("kid@acme.example")
	if kid.Attributes.Location != "Berlin" || kid.Attributes.Relations["parent"] != "mum@acme.example" {
		t.Fatalf("the mapped columns did not arrive: location %q, relations %v", kid.Attributes.Location, kid.Attributes.Relations)
	}

	// Pasted rows, tab-separated as a spreadsheet copies them, on standard
	// input; the mapping given before is the tenant's default now.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write([]byte("Email\tOffice Location\nkid@acme.example\tLisbon\nnew@acme.example\tRome\n"))
		w.Close()
	}()
	stdin := os.Stdin
	os.Stdin = r
	code, out, errOut = rosterdCmd(t, "import", "-", "--config", cfg)
	os.Stdin = stdin
	r.Close()
	if code != 0 || !regexp.MustCompile(`create\s+1`).MatchString(out) || !strings.Contains(out, "pasted.txt") {
		t.Fatalf("import - from standard input: %d\n%s\n%s", code, out, errOut)
	}
	if got := card("kid@acme.example").Attributes.Location; got != "Lisbon" {
		t.Fatalf("after the pasted rows the kid's location is %q, want Lisbon (the remembered mapping)", got)
	}
	if got := card("new@acme.example").Attributes.Location; got != "Rome" {
		t.Fatalf("the pasted new person's location is %q, want Rome", got)
	}

	// Empty standard input is refused in words.
	r, w, _ = os.Pipe()
	w.Close()
	os.Stdin = r
	code, _, errOut = rosterdCmd(t, "import", "-", "--config", cfg)
	os.Stdin = stdin
	r.Close()
	if code != 2 || !strings.Contains(errOut, "standard input is empty") {
		t.Fatalf("import - with nothing on standard input: %d %s", code, errOut)
	}
}
