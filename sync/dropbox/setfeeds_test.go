package dropbox

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// TestSetFeedsWhileServing: the feeds change under a running drop box, as
// the registry's do: a feed added takes uploads at once (and runs on upload
// when it asks to), a feed removed refuses them as an unknown feed does,
// and an upload in progress when its feed goes still lands whole.
func TestSetFeedsWhileServing(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, envOptions{})
		srv, _ := e.https()
		c := srv.Client()
		feeds, err := FeedsOf(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		byUser := map[string]Feed{}
		for _, f := range feeds {
			byUser[f.User()] = f
		}
		// acme/payroll goes, acme/extra comes, acme/hr now runs on upload.
		hr := byUser["acme.hr"]
		hr.RunOnUpload = true
		extra := Feed{Tenant: "acme", Name: "extra", Dir: FeedDir(e.cfg, "acme", "extra"), MaxSize: 1 << 20, Token: "extra-upload-token-0123456789abcdef01"}
		if err := e.box.SetFeeds([]Feed{hr, byUser["globex.hr"], extra}); err != nil {
			t.Fatal(err)
		}
		if status, body := put(t, c, srv.URL, "/drop/acme/payroll", payrollToken, roster); status != http.StatusUnauthorized || errCode(body) != "invalid_token" {
			t.Fatalf("a removed feed's upload: %d %v, want 401 invalid_token", status, body)
		}
		if status, body := put(t, c, srv.URL, "/drop/acme/extra", "extra-upload-token-0123456789abcdef01", roster); status != http.StatusCreated || body["run"] != "next_schedule" {
			t.Fatalf("an added feed's upload: %d %v", status, body)
		}
		if got := e.files("acme", "extra", "inbox"); len(got) != 1 {
			t.Fatalf("the added feed's inbox: %v", got)
		}
		if status, body := put(t, c, srv.URL, "/drop/acme/extra", hrToken, roster); status != http.StatusUnauthorized {
			t.Fatalf("another feed's token at the added feed: %d %v", status, body)
		}
		// run_on_upload switched on by SetFeeds: the upload runs the feed.
		if status, body := put(t, c, srv.URL, "/drop/acme/hr?name=employees.csv", hrToken, roster); status != http.StatusCreated || body["run"] != "queued" {
			t.Fatalf("run_on_upload upload: %d %v", status, body)
		}
		waitFor(t, "the run on upload", func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return len(e.runs) == 1
		})
		if e.runs[0].Status != store.RunApplied || e.cardCount("acme") != 2 {
			t.Fatalf("run on upload: %s %v %s; %d cards", e.runs[0].Status, e.runs[0].Counts, e.runs[0].Error, e.cardCount("acme"))
		}

		// An upload in progress when its feed is removed finishes; the
		// next one is refused.
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/drop/acme/extra?name=late.csv", pr)
		req.Header.Set("Authorization", "Bearer extra-upload-token-0123456789abcdef01")
		req.ContentLength = int64(len(roster))
		answered := make(chan *http.Response, 1)
		go func() {
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				close(answered)
				return
			}
			answered <- resp
		}()
		if _, err := io.WriteString(pw, roster[:10]); err != nil {
			t.Fatal(err)
		}
		// The upload has begun once its file is in incoming.
		waitFor(t, "the upload to begin", func() bool { return len(e.files("acme", "extra", "incoming")) == 1 })
		if err := e.box.SetFeeds([]Feed{byUser["globex.hr"]}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, roster[10:])
		pw.Close()
		resp, ok := <-answered
		if !ok {
			t.FailNow()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("the upload in progress: %d", resp.StatusCode)
		}
		if got := e.files("acme", "extra", "inbox"); len(got) != 2 || !strings.HasSuffix(got[1], "-late.csv") && !strings.HasSuffix(got[0], "-late.csv") {
			t.Fatalf("inbox after the upload in progress: %v", got)
		}
		for _, p := range []struct{ path, token string }{{"/drop/acme/extra", "extra-upload-token-0123456789abcdef01"}, {"/drop/acme/hr", hrToken}} {
			if status, body := put(t, c, srv.URL, p.path, p.token, roster); status != http.StatusUnauthorized || errCode(body) != "invalid_token" {
				t.Fatalf("%s after its removal: %d %v", p.path, status, body)
			}
		}
		if status, _ := put(t, c, srv.URL, "/drop/globex/hr", otherToken, roster); status != http.StatusCreated {
			t.Fatalf("the feed that stayed: %d", status)
		}
		e.box.mu.RLock()
		runners := len(e.box.runners)
		e.box.mu.RUnlock()
		if runners != 0 {
			t.Fatalf("%d run_on_upload loops left after their feed went", runners)
		}
	})
}

// TestSetFeedsRefusesABadFeedOnly: a feed without a size limit is left out
// with an error that names it; the others are served.
func TestSetFeedsRefusesABadFeedOnly(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t), envOptions{})
	feeds, _ := FeedsOf(e.cfg)
	bad := Feed{Tenant: "acme", Name: "nolimit", Dir: FeedDir(e.cfg, "acme", "nolimit"), Token: "x-upload-token-0123456789abcdef0123456"}
	err := e.box.SetFeeds(append(feeds, bad))
	if err == nil || !strings.Contains(err.Error(), "acme/nolimit") {
		t.Fatalf("error: %v", err)
	}
	if _, ok := e.box.feed("acme", "nolimit"); ok {
		t.Fatal("the bad feed is served")
	}
	if _, ok := e.box.feed("acme", "hr"); !ok {
		t.Fatal("the good feeds are not served")
	}
}

// TestSetFeedsSFTP: a feed SetFeeds adds logs in with its key and
// password at once; removed, a session open since before may not store
// another file, and a new login is refused.
func TestSetFeedsSFTP(t *testing.T) {
	key := newClientKey(t, "extra")
	e := newEnv(t, storetest.OpenSQLite(t), envOptions{})
	s := e.serveSFTP()
	if _, _, err := s.goClient(t, "acme.extra", ssh.PublicKeys(key.signer)); err == nil {
		t.Fatal("a login for a feed not yet served")
	}
	feeds, _ := FeedsOf(e.cfg)
	extra := Feed{Tenant: "acme", Name: "extra", Dir: FeedDir(e.cfg, "acme", "extra"), MaxSize: 1 << 20,
		AuthorizedKeys: []ssh.PublicKey{key.pub}, Password: "extra-sftp-password-0123"}
	if err := e.box.SetFeeds(append(feeds, extra)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.goClient(t, "acme.extra", ssh.Password("wrong-password-0123456789")); err == nil {
		t.Fatal("a wrong password logged in")
	}
	pwConn, _, err := s.goClient(t, "acme.extra", ssh.Password("extra-sftp-password-0123"))
	if err != nil {
		t.Fatalf("the added feed's password: %v", err)
	}
	pwConn.Close()
	conn, client, err := s.goClient(t, "acme.extra", ssh.PublicKeys(key.signer))
	if err != nil {
		t.Fatalf("the added feed's key: %v", err)
	}
	defer conn.Close()
	defer client.Close()
	put := func(name string) error {
		f, err := client.Create(name)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte(roster)); err != nil {
			return err
		}
		return f.Close()
	}
	if err := put("first.csv"); err != nil {
		t.Fatalf("an upload to the added feed: %v", err)
	}
	if err := e.box.SetFeeds(feeds); err != nil {
		t.Fatal(err)
	}
	if err := put("second.csv"); err == nil {
		t.Fatal("the open session stored a file for the removed feed")
	}
	if got := e.files("acme", "extra", "inbox"); len(got) != 1 || !strings.HasSuffix(got[0], "-first.csv") {
		t.Fatalf("the inbox: %v", got)
	}
	if _, _, err := s.goClient(t, "acme.extra", ssh.PublicKeys(key.signer)); err == nil {
		t.Fatal("a login for the removed feed")
	}
}
