package dropbox

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// put uploads body to /drop/{tenant}/{feed}{query} with token.
func put(t *testing.T, c *http.Client, base, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("PUT %s: %d, body %q is no JSON", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestHTTPSUploadGoodAndBadToken: the feed's token stores the upload, which
// the next run reads; a wrong token, another feed's and another tenant's
// are refused and store nothing.
func TestHTTPSUploadGoodAndBadToken(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, envOptions{})
		srv, _ := e.https()
		c := srv.Client()

		for _, tc := range []struct{ name, path, token, code string }{
			{"no token", "/drop/acme/hr", "", "unauthenticated"},
			{"wrong token", "/drop/acme/hr", "rsu_wrong-0123456789abcdef0123456789", "invalid_token"},
			{"another feed's token", "/drop/acme/hr", payrollToken, "invalid_token"},
			{"another tenant's token", "/drop/acme/hr", otherToken, "invalid_token"},
			{"acme's token at globex", "/drop/globex/hr", hrToken, "invalid_token"},
			{"unknown feed", "/drop/acme/nope", hrToken, "invalid_token"},
		} {
			status, body := put(t, c, srv.URL, tc.path, tc.token, roster)
			if status != http.StatusUnauthorized || errCode(body) != tc.code {
				t.Errorf("%s: %d %v, want 401 %s", tc.name, status, body, tc.code)
			}
		}
		if got := e.files("acme", "hr", "inbox"); len(got) != 0 {
			t.Fatalf("refused uploads left %v in the inbox", got)
		}
		if run := e.runHR(); run.Status != store.RunSkipped {
			t.Fatalf("run with an empty inbox: %s %s", run.Status, run.Error)
		}

		status, body := put(t, c, srv.URL, "/drop/acme/hr?name=employees.csv", hrToken, roster)
		if status != http.StatusCreated {
			t.Fatalf("good token: %d %v", status, body)
		}
		file, _ := body["file"].(string)
		if !strings.HasSuffix(file, "-employees.csv") || body["size"] != float64(len(roster)) || body["run"] != "next_schedule" || len(body["sha256"].(string)) != 64 {
			t.Fatalf("good token answered %v", body)
		}
		if got := e.files("acme", "hr", "inbox"); len(got) != 1 || got[0] != file {
			t.Fatalf("inbox after the upload: %v, want [%s]", got, file)
		}
		if got := e.files("acme", "hr", "incoming"); len(got) != 0 {
			t.Fatalf("incoming after the upload: %v", got)
		}
		if e.cardCount("acme") != 0 {
			t.Fatal("cards before the run: run_on_upload is off")
		}
		run := e.runHR()
		if run.Status != store.RunApplied || run.Counts["create"] != 2 || run.FileName != file {
			t.Fatalf("scheduled run after the upload: %s %v %q %s", run.Status, run.Counts, run.FileName, run.Error)
		}
		if e.cardCount("acme") != 2 || e.cardCount("globex") != 0 {
			t.Fatalf("cards: acme %d globex %d", e.cardCount("acme"), e.cardCount("globex"))
		}
		if got := testutil.ToFloat64(e.box.uploads.WithLabelValues("https", resultRefused)); got != 6 {
			t.Errorf("refused uploads counted: %v, want 6", got)
		}
		if got := testutil.ToFloat64(e.box.uploads.WithLabelValues("https", resultStored)); got != 1 {
			t.Errorf("stored uploads counted: %v, want 1", got)
		}
	})
}

// TestHTTPSUploadRefusals: bad parameters, an empty body and one over the
// size limit get clear errors and store nothing.
func TestHTTPSUploadRefusals(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, envOptions{maxSize: 64})
		srv, _ := e.https()
		c := srv.Client()
		for _, tc := range []struct {
			name, path, body string
			status           int
			code             string
		}{
			{"unknown parameter", "/drop/acme/hr?nmae=x.csv", roster[:40], 400, "unknown_parameter"},
			{"name with a folder", "/drop/acme/hr?name=../x.csv", roster[:40], 400, "invalid_parameter"},
			{"hidden name", "/drop/acme/hr?name=.x.csv", roster[:40], 400, "invalid_parameter"},
			{"empty body", "/drop/acme/hr", "", 400, "empty_upload"},
			{"over max_file_size", "/drop/acme/hr", roster + roster, 413, "too_large"},
		} {
			status, body := put(t, c, srv.URL, tc.path, hrToken, tc.body)
			if status != tc.status || errCode(body) != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.code)
			}
		}
		// Chunked, so that the limit is found while reading.
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/drop/acme/hr", io.MultiReader(strings.NewReader(roster), strings.NewReader(roster)))
		req.Header.Set("Authorization", "Bearer "+hrToken)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
			t.Errorf("chunked body over the limit: %d", resp.StatusCode)
		}
		if got := e.files("acme", "hr", "inbox"); len(got) != 0 {
			t.Fatalf("refused uploads left %v in the inbox", got)
		}
		if got := e.files("acme", "hr", "incoming"); len(got) != 0 {
			t.Fatalf("refused uploads left %v in incoming", got)
		}
	})
}

// TestHTTPSPartialUploadNeverPickedUp: a body cut off before its
// Content-Length is never stored, and the feed's run finds nothing.
func TestHTTPSPartialUploadNeverPickedUp(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, envOptions{runOnUpload: true})
		srv, handlerDone := e.https()
		conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), srv.Client().Transport.(*http.Transport).TLSClientConfig)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PUT /drop/acme/hr?name=employees.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			hrToken, len(roster)*10, roster) // a tenth of what it announced
		<-readyToCut(t, e)
		conn.Close()
		<-handlerDone
		if got := e.files("acme", "hr", "inbox"); len(got) != 0 {
			t.Fatalf("a broken-off upload reached the inbox: %v", got)
		}
		if got := e.files("acme", "hr", "incoming"); len(got) != 0 {
			t.Fatalf("a broken-off upload left %v in incoming", got)
		}
		if got := testutil.ToFloat64(e.box.uploads.WithLabelValues("https", resultIncomplete)); got != 1 {
			t.Errorf("incomplete uploads counted: %v, want 1", got)
		}
		if !strings.Contains(e.log.String(), "upload broken off: nothing stored") {
			t.Fatalf("no log line of the broken upload:\n%s", e.log.String())
		}
		if run := e.runHR(); run.Status != store.RunSkipped || e.cardCount("acme") != 0 {
			t.Fatalf("run after a broken-off upload: %s %v, %d cards", run.Status, run.Counts, e.cardCount("acme"))
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.runs) != 0 {
			t.Fatalf("a broken-off upload started runs: %v", e.runs)
		}
	})
}

// readyToCut waits until the upload has begun: its temporary file exists
// in incoming, so the cut lands mid-transfer.
func readyToCut(t *testing.T, e *env) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		waitFor(t, "the upload to begin", func() bool { return len(e.files("acme", "hr", "incoming")) == 1 })
	}()
	return ch
}

// TestUploadTokenFromTheAPI: a token made with CreateToken is stored as its
// hash only, works for its feed alone, and the next one revokes it; the
// configured token keeps working.
func TestUploadTokenFromTheAPI(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		e := newEnv(t, st, envOptions{runOnUpload: true})
		srv, _ := e.https()
		c := srv.Client()
		ctx := context.Background()
		first, err := e.box.CreateToken(ctx, credential.Actor{Name: "ops", Source: "admin"}, "acme", "hr")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(first, TokenPrefix) {
			t.Fatalf("token %q lacks the prefix %s", first, TokenPrefix)
		}
		stored, err := st.ListCredentials(ctx, CredentialKind)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 || stored[0].Hash != credential.Hash(first) || stored[0].Tenant != "acme" || stored[0].Name != "hr" {
			t.Fatalf("stored: %+v", stored)
		}
		if _, err := e.box.CreateToken(ctx, credential.Actor{Name: "ops", Source: "admin"}, "acme", "nope"); err == nil {
			t.Fatal("a token for an unknown feed was made")
		}
		if status, body := put(t, c, srv.URL, "/drop/acme/payroll", first, roster); status != http.StatusUnauthorized {
			t.Fatalf("hr's API token at payroll: %d %v", status, body)
		}
		status, body := put(t, c, srv.URL, "/drop/acme/hr", first, roster)
		if status != http.StatusCreated || body["run"] != "queued" {
			t.Fatalf("API token: %d %v", status, body)
		}
		waitFor(t, "the run on upload", func() bool { return e.cardCount("acme") == 2 })

		second, err := e.box.CreateToken(ctx, credential.Actor{Name: "ops", Source: "admin"}, "acme", "hr")
		if err != nil {
			t.Fatal(err)
		}
		if status, body := put(t, c, srv.URL, "/drop/acme/hr", first, roster); status != http.StatusUnauthorized {
			t.Fatalf("the revoked token: %d %v", status, body)
		}
		for _, tok := range []string{second, hrToken} {
			if status, body := put(t, c, srv.URL, "/drop/acme/hr", tok, roster); status != http.StatusCreated {
				t.Fatalf("token %.8s…: %d %v", tok, status, body)
			}
		}
		if stored, _ := st.ListCredentials(ctx, CredentialKind); len(stored) != 1 || stored[0].Hash != credential.Hash(second) {
			t.Fatalf("stored after the rotation: %+v", stored)
		}
	})
}
