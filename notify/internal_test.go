package notify

import (
	"testing"
	"time"

	mail "github.com/wneessen/go-mail"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		jitter float64
		n      int
		want   time.Duration
	}{
		{0, 1, time.Minute},
		{0, 2, 2 * time.Minute},
		{0, 3, 4 * time.Minute},
		{0, 6, 32 * time.Minute},
		{0, 7, time.Hour},
		{0, 9, time.Hour},
		{0, 200, time.Hour},
		{0.5, 1, 54 * time.Second},
		{0.999999, 7, 48*time.Minute + 720*time.Microsecond},
	} {
		m := &Mailer{opt: Options{Jitter: func() float64 { return tc.jitter }}}
		if got := m.backoff(tc.n).Round(time.Microsecond); got != tc.want {
			t.Errorf("backoff(%d) with jitter %v = %s, want %s", tc.n, tc.jitter, got, tc.want)
		}
	}
}

func TestParseSMTP(t *testing.T) {
	for _, tc := range []struct {
		url     string
		host    string
		display string
		err     bool
	}{
		{url: "smtp://user:secret@mail.example.com:587", host: "mail.example.com", display: "smtp://user@mail.example.com:587"},
		{url: "smtps://mail.example.com", host: "mail.example.com", display: "smtps://mail.example.com"},
		{url: "smtp://127.0.0.1:2525", host: "127.0.0.1", display: "smtp://127.0.0.1:2525"},
		{url: "http://mail.example.com", err: true},
		{url: "smtp://mail.example.com:99999", err: true},
		{url: "smtp://", err: true},
	} {
		s, err := parseSMTP(tc.url, time.Second)
		if tc.err {
			if err == nil {
				t.Errorf("parseSMTP(%q) = nil error", tc.url)
			}
			continue
		}
		if err != nil || s.host != tc.host || s.display != tc.display {
			t.Errorf("parseSMTP(%q) = %q %q %v", tc.url, s.host, s.display, err)
			continue
		}
		if _, err := mail.NewClient(s.host, s.opts...); err != nil {
			t.Errorf("options of %q: %v", tc.url, err)
		}
	}
	if !isLoopback("localhost") || !isLoopback("::1") || !isLoopback("127.0.0.2") || isLoopback("mail.example.com") || isLoopback("10.0.0.1") {
		t.Error("isLoopback")
	}
}

func TestRedact(t *testing.T) {
	got := redact("550 5.1.1 <ann.lee@example.com>: Recipient address rejected; from bo@x.org")
	if got != "550 5.1.1 <<address>>: Recipient address rejected; from <address>" {
		t.Errorf("redact = %q", got)
	}
}
