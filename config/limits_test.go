package config

import "testing"

// TestFileFeedLimits: a file feed's size limits take sizes with units,
// default to the documented values, and are validated.
func TestFileFeedLimits(t *testing.T) {
	const dirSource = "dir:///srv/drop/*.csv"
	c := mustParse(t, feedDoc("file", dirSource, ""))
	f := c.Tenants[0].Feeds[0].File
	if f.MaxFileSize != 200<<20 || f.MaxLineLength != 1<<20 || f.MaxCellLength != 64<<10 || f.XLSXMaxExpandedSize != 128<<20 || f.XLSXMaxCompressionRatio != 100 {
		t.Errorf("defaults: %+v", f)
	}
	c = mustParse(t, feedDoc("file", dirSource, "        max_file_size: 10MiB\n        max_line_length: 4096\n        max_cell_length: 1 KiB\n"+
		"        xlsx_max_expanded_size: 1GB\n        xlsx_max_compression_ratio: 250\n"))
	f = c.Tenants[0].Feeds[0].File
	if f.MaxFileSize != 10<<20 || f.MaxLineLength != 4096 || f.MaxCellLength != 1024 || f.XLSXMaxExpandedSize != 1e9 || f.XLSXMaxCompressionRatio != 250 {
		t.Errorf("written: %+v", f)
	}
	for _, tc := range []struct{ extra, want string }{
		{"        max_file_size: lots\n", `rosterd.yaml:7: tenants[0].feeds[0].max_file_size`},
		{"        max_file_size: 0\n", `rosterd.yaml:7: tenants[0].feeds[0].max_file_size: must be a positive size such as 64KiB, got 0B`},
		{"        max_line_length: 1KiB\n        max_cell_length: 2KiB\n", `rosterd.yaml:8: tenants[0].feeds[0].max_cell_length: 2KiB is more than max_line_length 1KiB`},
		{"        xlsx_max_compression_ratio: 0\n", `rosterd.yaml:7: tenants[0].feeds[0].xlsx_max_compression_ratio: must be at least 1, got 0`},
	} {
		wantContains(t, parseError(t, feedDoc("file", dirSource, tc.extra)), tc.want)
	}
	// They are file-feed keys: an LDAP feed refuses them.
	parseError(t, ldapDoc("        max_file_size: 1MiB\n"))
}

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "4096": 4096, "64KiB": 64 << 10, "200 MiB": 200 << 20, "2GiB": 2 << 30, "1MB": 1e6, "12B": 12} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "1 TiB", "9999999999GiB"} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("Size(%q) = %d, want an error", in, s)
		}
	}
	if got := Size(200 << 20).String(); got != "200MiB" {
		t.Errorf("String = %q", got)
	}
}
