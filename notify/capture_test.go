package notify_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
)

// smtpCapture is a real SMTP server, aiosmtpd, that writes the messages it
// accepts to a directory (testdata/capture.py). Its port is fixed when it
// is made, so that it can be started after a Mailer already knows where
// to send — the server "comes back" — and stopped again.
type smtpCapture struct {
	t      *testing.T
	python string
	port   int
	dir    string
	cmd    *exec.Cmd
}

// findAiosmtpd returns a python3 that can import aiosmtpd: Debian's
// (python3-aiosmtpd installs into /usr/bin/python3's path), or the first
// python3 on PATH.
func findAiosmtpd(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import aiosmtpd").Run() == nil {
			return py
		}
	}
	testenv.Unavailable(t, "no python3 with aiosmtpd (tried %s): apt-get install python3-aiosmtpd", strings.Join(candidates, ", "))
	return ""
}

func newCapture(t *testing.T) *smtpCapture {
	t.Helper()
	c := &smtpCapture{t: t, python: findAiosmtpd(t), port: testenv.FreePort(t), dir: t.TempDir()}
	t.Cleanup(c.stop)
	return c
}

func (c *smtpCapture) url() string { return "smtp://127.0.0.1:" + strconv.Itoa(c.port) }

func (c *smtpCapture) start() {
	c.t.Helper()
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.python, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:"+strconv.Itoa(c.port), "-c", "capture.Capture", c.dir)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+testdata, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(c.t, "starting aiosmtpd: %v", err)
	}
	c.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.port), time.Second)
		if err == nil {
			// Wait for the greeting: the server is serving, not just bound.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 3)
			_, rerr := io.ReadFull(conn, buf)
			conn.Close()
			if rerr == nil && string(buf) == "220" {
				return
			}
		}
		select {
		case <-exited:
			c.cmd = nil
			c.t.Fatalf("aiosmtpd exited at start: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("aiosmtpd did not answer on port %d within 15s: %s", c.port, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *smtpCapture) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	// Wait until the port no longer answers.
	for i := 0; i < 100; i++ {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.port), 100*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	c.cmd = nil
}

// captured is one message the server accepted, parsed.
type captured struct {
	EnvelopeTo string
	Header     mail.Header
	Subject    string
	Text, HTML string
	// ContentType is the top part's media type.
	ContentType string
}

func (c *smtpCapture) messages() []captured {
	c.t.Helper()
	names, err := filepath.Glob(filepath.Join(c.dir, "*.eml"))
	if err != nil {
		c.t.Fatal(err)
	}
	sort.Strings(names)
	var out []captured
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, parseMail(c.t, raw))
	}
	return out
}

func parseMail(t *testing.T, raw []byte) captured {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing a captured message: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	out := captured{EnvelopeTo: m.Header.Get("X-Envelope-To"), Header: m.Header, Subject: subject}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	out.ContentType = mt
	if !strings.HasPrefix(mt, "multipart/") {
		return out
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			out.Text = string(body)
		case "text/html":
			out.HTML = string(body)
		}
	}
	return out
}
