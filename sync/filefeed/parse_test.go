package filefeed

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/sync/reconcile"
)

func mustParse(t *testing.T, name, data string, opt ParseOptions) reconcile.Snapshot {
	t.Helper()
	snap, err := Parse(name, []byte(data), opt)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return snap
}

func TestParseNormalizeHeader(t *testing.T) {
	for _, h := range []string{"E-mail Address", "email address", "EMAIL_ADDRESS", " E-Mail  Address ", "\uFEFFEmail-Address"} {
		if got := normalizeHeader(h); got != "emailaddress" {
			t.Errorf("normalizeHeader(%q) = %q, want emailaddress", h, got)
		}
	}
	for _, tc := range []struct{ header, attr string }{
		{"employee_id", "employee_id"}, {"Employee ID", "employee_id"}, {"EMPLOYEE-NUMBER", "employee_id"},
		{"given_name", "given_name"}, {"First Name", "given_name"}, {"surname", "family_name"},
		{"Full Name", "display_name"}, {"Name", ""}, {"Mail", "email"}, {"Manager", "manager_email"},
		{"Job Title", "title"}, {"office", "location"}, {"STATUS", "status"}, {"Groups", "groups"},
	} {
		if got := rosterDefaultIndex[normalizeHeader(tc.header)]; got != tc.attr {
			t.Errorf("default for %q = %q, want %q", tc.header, got, tc.attr)
		}
	}
}

func TestParseHeaderMapping(t *testing.T) {
	type col struct{ header, attr string }
	tests := []struct {
		name    string
		opt     ParseOptions
		header  []string
		want    []col
		width   int
		notes   []string
		wantErr string
	}{
		{
			name:   "defaults, unknown headers ignored, width to the last named column",
			header: []string{"Work Email", "Name", "Given Name", "Phone", "Surname", "", ""},
			want:   []col{{"Work Email", "email"}, {"Given Name", "given_name"}, {"Surname", "family_name"}},
			width:  5,
		},
		{
			name:   "a configured header wins over the default for its attribute",
			opt:    ParseOptions{Columns: map[string]string{"Work Email": "email"}},
			header: []string{"Email", "work_email", "First Name"},
			want:   []col{{"work_email", "email"}, {"First Name", "given_name"}},
			width:  3,
		},
		{
			name:   "a configured header wins over the default meaning of that header",
			opt:    ParseOptions{Columns: map[string]string{"Manager": "custom.manager_name", "Boss Mail": "manager_email"}},
			header: []string{"Email", "Manager", "Boss Mail"},
			want:   []col{{"Email", "email"}, {"Manager", "custom.manager_name"}, {"Boss Mail", "manager_email"}},
			width:  3,
		},
		{
			name:   "status column option replaces the default Status header",
			opt:    ParseOptions{StatusColumn: "Employment Status"},
			header: []string{"Email", "Status", "employment status"},
			want:   []col{{"Email", "email"}, {"employment status", "status"}},
			width:  3,
		},
		{
			name:   "two defaults for one attribute: the first is read, the other noted",
			header: []string{"Email", "Office", "Location", "Title", "Job Title"},
			want:   []col{{"Email", "email"}, {"Office", "location"}, {"Title", "title"}},
			width:  5,
			notes: []string{
				`column "Location" ignored: location is read from column "Office"`,
				`column "Job Title" ignored: title is read from column "Title"`,
			},
		},
		{
			name:   "a custom.<name> header fills that custom attribute, the name as spelled",
			header: []string{"Email", "custom.cost_center", "Custom.Region", "custom.", "custom. ", "customer"},
			want:   []col{{"Email", "email"}, {"custom.cost_center", "custom.cost_center"}, {"Custom.Region", "custom.Region"}},
			width:  6,
		},
		{
			name:   "a custom attribute the columns map is read from its mapped header only",
			opt:    ParseOptions{Columns: map[string]string{"Cost Center": "custom.cost_center"}},
			header: []string{"Email", "custom.cost_center", "Cost Center", "custom.region"},
			want:   []col{{"Email", "email"}, {"Cost Center", "custom.cost_center"}, {"custom.region", "custom.region"}},
			width:  4,
		},
		{
			name:   "a custom.<name> header mapped in columns maps as the columns say",
			opt:    ParseOptions{Columns: map[string]string{"custom.cost_center": "department"}},
			header: []string{"Email", "custom.cost_center"},
			want:   []col{{"Email", "email"}, {"custom.cost_center", "department"}},
			width:  2,
		},
		{
			name:   "two custom.<name> headers for one name: the first is read",
			header: []string{"Email", "custom.region", "custom.region"},
			want:   []col{{"Email", "email"}, {"custom.region", "custom.region"}},
			width:  3,
			notes:  []string{`column "custom.region" ignored: custom.region is read from column "custom.region"`},
		},
		{
			name:    "two email columns are an error",
			header:  []string{"E-mail", "Name", "Mail"},
			wantErr: `columns "E-mail" and "Mail" both look like the email column; name the one to use in the feed's columns`,
		},
		{
			name:    "two key columns are an error",
			opt:     ParseOptions{Key: "employee_id"},
			header:  []string{"Email", "Employee ID", "Employee Number"},
			wantErr: `columns "Employee ID" and "Employee Number" both look like the employee id column; name the one to use in the feed's columns`,
		},
		{
			name:    "no email column",
			header:  []string{"First Name", "Last Name"},
			wantErr: `no email column (looked for: "Email", "Work Email", "E-mail Address", "Email Address", "Mail")`,
		},
		{
			name:    "a configured email column is the only one looked for",
			opt:     ParseOptions{Columns: map[string]string{"Work Email": "email"}},
			header:  []string{"Email"},
			wantErr: `no email column (looked for: "Work Email")`,
		},
		{
			name:    "no employee id column with the employee_id key",
			opt:     ParseOptions{Key: "employee_id"},
			header:  []string{"Email"},
			wantErr: `no employee id column (looked for: "Employee ID", "Employee Number")`,
		},
		{
			name:    "the email column is required with the employee_id key",
			opt:     ParseOptions{Key: "employee_id"},
			header:  []string{"Employee ID"},
			wantErr: `no email column (looked for: "Email", "Work Email", "E-mail Address", "Email Address", "Mail")`,
		},
		{
			name:    "a configured status column is required",
			opt:     ParseOptions{StatusColumn: "Employment Status"},
			header:  []string{"Email", "Status"},
			wantErr: `no status column (looked for: "Employment Status")`,
		},
		{
			name:    "a configured custom column is required",
			opt:     ParseOptions{Columns: map[string]string{"Cost Center": "custom.cost_center"}},
			header:  []string{"Email"},
			wantErr: `no custom.cost_center column (looked for: "Cost Center")`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := newRosterColumnPlan(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			cols, width, notes, err := cp.mapHeader(tc.header)
			if tc.wantErr != "" {
				var ce *ColumnError
				if !errors.As(err, &ce) || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want *ColumnError %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []col
			for _, c := range cols {
				got = append(got, col{c.header, c.attr})
			}
			if !slices.Equal(got, tc.want) || width != tc.width || !slices.Equal(notes, tc.notes) {
				t.Errorf("got %v width %d notes %q, want %v width %d notes %q", got, width, notes, tc.want, tc.width, tc.notes)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  ParseOptions
		want string
	}{
		{ParseOptions{Feed: "hr", Key: "login"}, `feed "hr": a.csv: invalid feed options: key "login": want email or employee_id`},
		{ParseOptions{Columns: map[string]string{"Shoe": "shoe_size"}}, `a.csv: invalid feed options: columns["Shoe"]: unknown attribute "shoe_size"`},
		{ParseOptions{Columns: map[string]string{"X": "custom."}}, `unknown attribute "custom."`},
		{ParseOptions{Columns: map[string]string{"Work Email": "email", "work-email": "custom.w"}}, `is already mapped to`},
		{ParseOptions{Columns: map[string]string{"A": "email", "B": "email"}}, `columns["B"]: attribute "email" is already mapped from column "A"`},
		{ParseOptions{Columns: map[string]string{"State": "status"}, StatusColumn: "Status"}, `set one, not both`},
	} {
		_, err := Parse("a.csv", []byte("Email\nann@example.com\n"), tc.opt)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want ErrOptions containing %q", tc.opt, err, tc.want)
		}
	}
}

func TestParseTemplate(t *testing.T) {
	tpl := Template()
	if !bytes.HasPrefix(tpl, []byte("\uFEFFEmail,First Name,Last Name,")) || !bytes.HasSuffix(tpl, []byte("Status\r\n")) {
		t.Errorf("Template() = %q", tpl)
	}
	snap, err := Parse("template.csv", tpl, ParseOptions{})
	if err != nil || len(snap.Records) != 0 || len(snap.Flagged) != 0 {
		t.Fatalf("Parse(Template()) = %+v, %v; want an empty snapshot", snap, err)
	}
	// Every header of the template maps, each to its own attribute, and
	// together they cover every attribute.
	cp, _ := newRosterColumnPlan(ParseOptions{})
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(tpl, []byte("\uFEFF"))))
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	cols, _, notes, err := cp.mapHeader(header)
	if err != nil || len(notes) > 0 || len(cols) != len(header) || len(cols) != len(rosterAttributes) {
		t.Fatalf("template header %q maps to %d columns (notes %q, err %v), want %d", header, len(cols), notes, err, len(rosterAttributes))
	}
	// A filled-in template reads back.
	filled := string(tpl) + "ann@example.com,Ann,Lee,Ann Lee,Rep,Sales,Berlin,0042,bob@example.com,admin,\"a; b\",terminated\r\n"
	rec := mustParse(t, "template.csv", filled, ParseOptions{}).Records[0]
	a := rec.Attributes
	if a.GivenName != "Ann" || a.FamilyName != "Lee" || a.DisplayName != "Ann Lee" || a.Title != "Rep" ||
		a.Department != "Sales" || a.Location != "Berlin" || a.EmployeeID != "0042" || a.ManagerEmail != "bob@example.com" ||
		a.Role != "admin" || !slices.Equal(a.Groups, []string{"a", "b"}) || !rec.Deactivated {
		t.Errorf("filled template read as %+v", rec)
	}
}

func TestParseLineNumbers(t *testing.T) {
	// Record index and line differ once a value spans lines; the line is
	// where the record starts, counted in the file.
	data := "\n" + // 1: blank, before the header
		"Email,Title\r\n" + // 2
		"ann@example.com,\"one\r\ntwo\r\nthree\"\r\n" + // 3-5
		"\r\n" + // 6
		"bad,x\r\n" + // 7
		"bob@example.com,\"\"\"quoted\"\"\n\"\n" + // 8-9
		"carol@example.com,c\n" // 10
	snap := mustParse(t, "f.csv", data, ParseOptions{})
	var lines []string
	for _, r := range snap.Records {
		lines = append(lines, r.Line)
	}
	if want := []string{"f.csv:3", "f.csv:8", "f.csv:10"}; !slices.Equal(lines, want) {
		t.Errorf("record lines = %q, want %q", lines, want)
	}
	if len(snap.Flagged) != 1 || snap.Flagged[0].Line != "f.csv:7" {
		t.Errorf("flagged = %v, want one on f.csv:7", snap.Flagged)
	}
	if got := snap.Records[1].Attributes.Title; got != `"quoted"` { // trimmed
		t.Errorf("title = %q", got)
	}
}

func TestParseInactiveValues(t *testing.T) {
	data := "Email,Status\na@example.com,terminated\nb@example.com,Gone\nc@example.com,active\n"
	for _, tc := range []struct {
		name     string
		inactive []string
		want     []bool
	}{
		{"nil means the defaults", nil, []bool{true, false, false}},
		{"empty means none", []string{}, []bool{false, false, false}},
		{"configured, trimmed and case-insensitive", []string{" gone "}, []bool{false, true, false}},
	} {
		snap := mustParse(t, "s.csv", data, ParseOptions{InactiveValues: tc.inactive})
		var got []bool
		for _, r := range snap.Records {
			got = append(got, r.Deactivated)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: deactivated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseGroupsAndCustom(t *testing.T) {
	data := "Email,Groups,Cost Center,Region\n" +
		"a@example.com,\"Sales; EMEA,, Sales ;emea\",CC1,\n" +
		"b@example.com,,,\n"
	snap := mustParse(t, "g.csv", data, ParseOptions{Columns: map[string]string{"Cost Center": "custom.cost_center", "Region": "custom.region"}})
	a, b := snap.Records[0].Attributes, snap.Records[1].Attributes
	if !slices.Equal(a.Groups, []string{"Sales", "EMEA", "emea"}) {
		t.Errorf("groups = %q", a.Groups)
	}
	if len(a.Custom) != 1 || a.Custom["cost_center"] != "CC1" {
		t.Errorf("custom = %v, want only cost_center (empty values are left out)", a.Custom)
	}
	if b.Groups != nil || b.Custom != nil {
		t.Errorf("empty cells gave groups %q custom %v, want nil", b.Groups, b.Custom)
	}
}

// TestParseCustomHeaderByDefault: a header custom.<name>, as the card
// export writes it, fills the custom attribute without a mapping, and the
// snapshot names the column as asserted (an import's partial statement).
func TestParseCustomHeaderByDefault(t *testing.T) {
	data := "email,given_name,custom.cost_center,custom.Region\n" +
		"a@example.com,Ann,CC1,EMEA\n" +
		"b@example.com,Bob,,\n"
	snap := mustParse(t, "export.csv", data, ParseOptions{Feed: "import"})
	a, b := snap.Records[0].Attributes, snap.Records[1].Attributes
	if want := map[string]string{"cost_center": "CC1", "Region": "EMEA"}; !maps.Equal(a.Custom, want) {
		t.Errorf("custom = %v, want %v", a.Custom, want)
	}
	if b.Custom != nil {
		t.Errorf("empty cells gave custom %v, want nil", b.Custom)
	}
	if want := []string{"given_name", "custom.cost_center", "custom.Region"}; !slices.Equal(snap.Columns, want) {
		t.Errorf("columns %v, want %v", snap.Columns, want)
	}
}

func TestParseDelimiterDetection(t *testing.T) {
	for _, tc := range []struct {
		head, ext string
		want      byte
		sep       bool
	}{
		{"Email,First Name;x\n", ".csv", ',', false},
		{"Email;First Name;Last Name\n", ".csv", ';', false},
		{"Email\tFirst Name\n", ".txt", '\t', false},
		{"Email|First Name|Title\n", "", '|', false},
		{"\"Last, First\";Email;Title\n", "", ';', false},            // delimiters inside quotes do not count
		{"\"Multi\nline, header\";Email\na,b,c,d\n", "", ';', false}, // nor do those past a quoted newline
		{"\n  \r\nEmail;Name\n", "", ';', false},                     // blank lines before the header
		{"Email,Name;Title\n", "", ',', false},                       // tie: comma
		{"Email,Name\tTitle\n", ".tsv", '\t', false},                 // tie: the extension's delimiter
		{"Email,Name\tTitle\n", ".csv", ',', false},
		{"Email\n", ".tsv", '\t', false}, // nothing to count
		{"Email\n", "", ',', false},
		{"sep=;\nEmail,Name,Title\n", "", ';', true},
		{"sep=|\r\nEmail|Name\n", "", '|', true},
		{"sep=#\nEmail,Name\n", "", ',', false}, // not a candidate: an ordinary line
	} {
		d, sep := detectDelimiter([]byte(tc.head), tc.ext)
		if d != tc.want || sep != tc.sep {
			t.Errorf("detectDelimiter(%q, %q) = %q %v, want %q %v", tc.head, tc.ext, d, sep, tc.want, tc.sep)
		}
	}
}

func TestParseFormatByContent(t *testing.T) {
	xlsx, err := os.ReadFile(filepath.Join("testdata", "parse", "leading-zeros.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	opt := ParseOptions{Key: "employee_id", Columns: map[string]string{"Start Date": "custom.start_date"}}
	if snap, err := Parse("export.csv", xlsx, opt); err != nil || len(snap.Records) != 2 { // ann, erin; 123 is on two rows
		t.Errorf("an XLSX named .csv: %d records, %v; want it read as XLSX", len(snap.Records), err)
	}
	if snap, err := Parse("export.xlsx", []byte("Email\tName\nann@example.com\tAnn\n"), ParseOptions{}); err != nil || len(snap.Records) != 1 {
		t.Errorf("a TSV named .xlsx: %+v, %v; want it read as text", snap, err)
	}
	for _, bad := range [][]byte{
		[]byte("PK\x03\x04 not really a zip"),
		[]byte("Email\x00\x00\x00\x01binary"),
	} {
		if _, err := Parse("x.xlsx", bad, ParseOptions{}); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseErrorShape(t *testing.T) {
	_, err := Parse("/srv/drop/acme/employees.csv", []byte("Name\nAnn\n"), ParseOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != "employees.csv" || pe.Feed != "" {
		t.Fatalf("err = %#v", err)
	}
	if want := `employees.csv: no email column (looked for: "Email", "Work Email", "E-mail Address", "Email Address", "Mail")`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	var ce *ColumnError
	if !errors.As(err, &ce) || ce.Attribute != "email" {
		t.Errorf("err does not unwrap to the *ColumnError")
	}
	// The snapshot keeps the name as given; lines use the base name.
	snap := mustParse(t, "/srv/drop/acme/employees.csv", "Email\nann@example.com\n", ParseOptions{})
	if snap.Name != "/srv/drop/acme/employees.csv" || snap.Records[0].Line != "employees.csv:2" {
		t.Errorf("name %q line %q", snap.Name, snap.Records[0].Line)
	}
}

func TestParseTruncatedVersusBadLastRow(t *testing.T) {
	for _, tc := range []struct {
		data      string
		truncated int // line of ErrTruncated, 0 for none
		flagged   int
	}{
		{"Email,T\na@example.com,\"open", 2, 0},
		{"Email,T\na@example.com,\"open\n", 2, 0},
		{"Email,T\na@example.com,\"open\"\"", 2, 0}, // "" is an escaped quote: still open
		{"Email,T\na@example.com,x\nb@example.com,\"one\ntwo,three\n", 3, 0},
		{"Email,T\na@example.com,\"closed\"x", 0, 1},
		{"Email,T\na@example.com,\"closed\"x\n", 0, 1},
		{"Email,T\na@example.com,bare\"quote", 0, 1},
		{"Email,T\na@example.com,\"closed\"", 0, 0},
		{"Email,T\na@example.com, \"spaced\"\n", 0, 0},
		{"\"Email,T\n", 1, 0}, // the header itself
	} {
		snap, err := Parse("t.csv", []byte(tc.data), ParseOptions{})
		var pe *ParseError
		switch {
		case tc.truncated > 0:
			if !errors.Is(err, ErrTruncated) || !errors.As(err, &pe) || pe.Line != tc.truncated {
				t.Errorf("%q: err = %v, want ErrTruncated on line %d", tc.data, err, tc.truncated)
			}
		case err != nil:
			t.Errorf("%q: err = %v", tc.data, err)
		case len(snap.Flagged) != tc.flagged:
			t.Errorf("%q: flagged = %v, want %d", tc.data, snap.Flagged, tc.flagged)
		}
	}
}

// refQuoteOpen is encoding/csv's quoting grammar with LazyQuotes off, one
// byte at a time: the reference the chunked tracker is checked against.
func refQuoteOpen(s string, delim byte, trim bool) bool {
	const (
		fieldStart = iota
		unquoted
		quoted
		quoteSeen
		quoteSeenCR
		skip
	)
	state := fieldStart
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case fieldStart:
			switch {
			case c == '"':
				state = quoted
			case c == delim || c == '\n':
			case trim && (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'):
			default:
				state = unquoted
			}
		case unquoted:
			switch c {
			case delim, '\n':
				state = fieldStart
			case '"':
				state = skip
			}
		case quoted:
			if c == '"' {
				state = quoteSeen
			}
		case quoteSeen:
			switch {
			case c == '"':
				state = quoted
			case c == delim || c == '\n':
				state = fieldStart
			case c == '\r':
				state = quoteSeenCR
			default:
				state = skip
			}
		case quoteSeenCR:
			switch c {
			case '\n':
				state = fieldStart
			default:
				state = skip
			}
		case skip:
			if c == '\n' {
				state = fieldStart
			}
		}
	}
	return state == quoted
}

// csvSwallows asks encoding/csv itself whether s ends inside a quoted
// value: then a line appended to it disappears into that value.
func csvSwallows(s string, delim byte, trim bool) bool {
	r := csv.NewReader(strings.NewReader(s + "\nZZZ\n"))
	r.Comma, r.FieldsPerRecord, r.TrimLeadingSpace = rune(delim), -1, trim
	var last []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err == nil {
			last = rec
		} else {
			last = nil
		}
	}
	return !slices.Equal(last, []string{"ZZZ"})
}

func TestParseQuoteTracker(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', 'a', ',', '\t', '"', '"', '\n', ' ', '\r'}
	for n := 0; n < 20000; n++ {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		for _, cfg := range []struct {
			delim byte
			trim  bool
		}{{',', true}, {',', false}, {'\t', false}} {
			want := refQuoteOpen(s, cfg.delim, cfg.trim)
			if csvOpen := csvSwallows(s, cfg.delim, cfg.trim); csvOpen != want {
				t.Fatalf("%q (delim %q trim %v): reference says open=%v, encoding/csv says %v", s, cfg.delim, cfg.trim, want, csvOpen)
			}
			tr := &csvQuoteTracker{delim: cfg.delim, trim: cfg.trim, fieldStart: true, eof: true}
			for rest := b; len(rest) > 0; {
				k := 1 + rng.IntN(len(rest))
				tr.scan(rest[:k])
				rest = rest[k:]
			}
			if got := tr.openAtEOF(); got != want {
				t.Fatalf("%q (delim %q trim %v): tracker says open=%v, want %v", s, cfg.delim, cfg.trim, got, want)
			}
		}
	}
}

func TestParseFormatShowsDate(t *testing.T) {
	for code, want := range map[string]bool{
		"yyyy-mm-dd": true, "dd.mm.yyyy": true, "[$-409]mmmm d, yyyy;@": true, "m/d/yy h:mm": true, "d-mmm": true,
		"General": false, "0.00E+00": false, "#,##0": false, "hh:mm:ss": false, "[h]:mm": false,
		`0 "days"`: false, `\d0`: false, "[Red]0.00": false, "@": false, "mm:ss": false, `_d0`: false,
	} {
		if got := formatShowsDate(code); got != want {
			t.Errorf("formatShowsDate(%q) = %v, want %v", code, got, want)
		}
	}
}

// failingReader yields data, then an error instead of EOF.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(b, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestParseReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	var rows strings.Builder
	rows.WriteString("Email,Name\n")
	for i := range 20000 {
		fmt.Fprintf(&rows, "p%d@example.com,P\n", i)
	}
	for _, data := range []string{"", "Email,Name\n", rows.String()} {
		snap, err := ParseReader("x.csv", &failingReader{data: []byte(data), err: boom}, ParseOptions{})
		if !errors.Is(err, boom) || snap.Records != nil {
			t.Errorf("after %d bytes: %v, %d records; want the read error and no snapshot", len(data), err, len(snap.Records))
		}
	}
}

// rosterStream generates a roster on the fly: rows of a few read columns
// and one wide column nobody reads.
type rosterStream struct {
	rows, next int
	filler     string
	buf        []byte
	sample     func()
	sampled    int
}

func (s *rosterStream) Read(b []byte) (int, error) {
	for len(s.buf) < len(b) && s.next <= s.rows {
		if s.next == 0 {
			s.buf = append(s.buf, "Email,First Name,Last Name,Notes,Title\n"...)
		} else {
			s.buf = fmt.Appendf(s.buf, "person%d@example.com,First%d,Last%d,%s,Title\n", s.next, s.next, s.next, s.filler)
		}
		s.next++
		if s.next-s.sampled >= 5000 {
			s.sample()
			s.sampled = s.next
		}
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, s.buf)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	return n, nil
}

func TestParseReaderStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	const rows = 100_000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	src := &rosterStream{rows: rows, filler: strings.Repeat("x", 2000), sample: func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}}
	snap, err := ParseReader("big.csv", src, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	retained := ms.HeapAlloc - min(base, ms.HeapAlloc)
	runtime.KeepAlive(snap)
	if len(snap.Records) != rows || snap.Size < rows*2000 {
		t.Fatalf("%d records of %d bytes", len(snap.Records), snap.Size)
	}
	t.Logf("streamed %d MB: peak heap %d MB, retained %d MB for %d records", snap.Size>>20, (peak-min(base, peak))>>20, retained>>20, rows)
	// The file is 200 MB; the records' own text is some 6 MB. Keeping the
	// rows as read (not just the values used) would retain over 200 MB.
	if retained > 64<<20 {
		t.Errorf("retained %d MB after parsing, want under 64 MB: records keep more than their values", retained>>20)
	}
	if peak-min(base, peak) > 160<<20 {
		t.Errorf("peak heap %d MB while streaming a 200 MB file, want under 160 MB", (peak-base)>>20)
	}
}

// FuzzParse: no input panics, and the streaming path agrees with Parse.
// The seeds are the golden inputs.
func FuzzParse(f *testing.F) {
	for _, tc := range parseGoldenCases {
		if data, err := os.ReadFile(filepath.Join("testdata", "parse", tc.file)); err == nil && !strings.HasSuffix(tc.file, ".xlsx") {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := Parse("f.csv", data, ParseOptions{})
		snap2, err2 := ParseReader("f.csv", bytes.NewReader(data), ParseOptions{})
		if g1, g2 := goldenOf(snap, err), goldenOf(snap2, err2); !bytes.Equal(g1, g2) {
			t.Fatalf("Parse and ParseReader differ:\n%s\n%s", g1, g2)
		}
	})
}

// TestParseDuplicateKeysFlagEveryRow: rows sharing a key (an email in
// another case, an employee id) are all flagged, each naming the others'
// lines and keyed by its person; none of them becomes a record.
func TestParseDuplicateKeysFlagEveryRow(t *testing.T) {
	type flag struct {
		line int
		key  string
		has  string
	}
	for _, tc := range []struct {
		name    string
		opt     ParseOptions
		data    string
		records []string // keys
		flags   []flag
	}{
		{name: "email in another case", data: "Email,First Name\n" +
			"Ann@Example.com,Ann\nbob@example.com,Bob\nann@example.COM,Annie\nANN@example.com,A\n",
			records: []string{"bob@example.com"},
			flags: []flag{
				{2, "ann@example.com", "duplicate email ann@example.com, also on lines 4 and 5"},
				{4, "ann@example.com", "also on lines 2 and 5"},
				{5, "ann@example.com", "also on lines 2 and 4"},
			}},
		{name: "employee id", opt: ParseOptions{Key: "employee_id"}, data: "Employee ID,Email\n" +
			"7,ann@example.com\n8,bob@example.com\n7,ann.lee@example.com\n",
			records: []string{"8"},
			flags: []flag{
				{2, "7", "duplicate employee id 7, also on line 4"},
				{4, "7", "duplicate employee id 7, also on line 2"},
			}},
		{name: "employee id, one row with a bad email", opt: ParseOptions{Key: "employee_id"}, data: "Employee ID,Email\n" +
			"7,ann@example.com\n7,not an email\n",
			records: []string{},
			flags: []flag{
				{2, "7", "duplicate employee id 7, also on line 3"},
				{3, "7", "not an email"},
				{3, "7", "duplicate employee id 7, also on line 2"},
			}},
		{name: "one email, two employee ids", opt: ParseOptions{Key: "employee_id"}, data: "Employee ID,Email\n" +
			"7,ann@example.com\n9,ANN@example.com\n10,carol@example.com\n",
			records: []string{"10"},
			flags: []flag{
				{2, "7", "duplicate email ann@example.com, also on line 3"},
				{3, "9", "duplicate email ann@example.com, also on line 2"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := Parse("hr.csv", []byte(tc.data), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{}
			for _, r := range snap.Records {
				keys = append(keys, r.Key)
			}
			if !slices.Equal(keys, tc.records) {
				t.Errorf("records %q, want %q", keys, tc.records)
			}
			if len(snap.Flagged) != len(tc.flags) {
				t.Fatalf("flagged %v, want %d flags", snap.Flagged, len(tc.flags))
			}
			for i, want := range tc.flags {
				got := snap.Flagged[i]
				if got.Line != fmt.Sprintf("hr.csv:%d", want.line) || got.Key != want.key || !strings.Contains(got.Reason, want.has) {
					t.Errorf("flag %d = %+v, want line %d key %q reason with %q", i, got, want.line, want.key, want.has)
				}
			}
		})
	}
}
