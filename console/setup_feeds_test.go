package console

import "testing"

// TestSFTPAddress: HR connects to the drop box's listen address, or to
// public_url's host when it listens on every address.
func TestSFTPAddress(t *testing.T) {
	for _, tc := range []struct{ public, listen, host, port string }{
		{"https://rosterd.example.com", "127.0.0.1:2222", "127.0.0.1", "2222"},
		{"https://rosterd.example.com", "sftp.example.com:22", "sftp.example.com", "22"},
		{"https://rosterd.example.com", ":2222", "rosterd.example.com", "2222"},
		{"https://rosterd.example.com:8443", "0.0.0.0:2222", "rosterd.example.com", "2222"},
		{"https://rosterd.example.com", "[::]:2222", "rosterd.example.com", "2222"},
		{"", ":2222", "localhost", "2222"},
		{"https://rosterd.example.com", "[::1]:2222", "::1", "2222"},
	} {
		host, port := sftpAddress(tc.public, tc.listen)
		if host != tc.host || port != tc.port {
			t.Errorf("sftpAddress(%q, %q) = %s %s, want %s %s", tc.public, tc.listen, host, port, tc.host, tc.port)
		}
	}
}

// TestWordCounts: a run's counts in words, in the order a run makes them,
// one and many told apart, unknown counts by name at the end.
func TestWordCounts(t *testing.T) {
	for _, tc := range []struct {
		counts map[string]int
		want   string
	}{
		{nil, ""},
		{map[string]int{"records": 1, "create": 1, "applied": 1}, "1 row read, 1 person added, 1 change applied"},
		{map[string]int{"disable": 3, "records": 10, "flagged": 2, "zeta": 4}, "10 rows read, 2 rows skipped, 3 cards disabled, zeta: 4"},
	} {
		if got := wordCounts(tc.counts); got != tc.want {
			t.Errorf("wordCounts(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}
