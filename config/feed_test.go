package config

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// badFeed is a feed the file refuses, with the paths of the problems it
// names (relative to the feed). config/testdata/bad_feeds.json is the
// table; the admin API's tests hold its feed endpoints to the same one.
type badFeed struct {
	Name string          `json:"name"`
	Doc  json.RawMessage `json:"doc"`
	// DropBox is the file's drop_box section the case is checked under
	// (none when left out); the API is given the daemon's drop box of
	// such a file (Config.APIDropBox).
	DropBox json.RawMessage `json:"drop_box"`
	Paths   []string        `json:"paths"`
}

// fileWith is the file that holds doc as acme's one feed, under the
// drop_box section dropBox (none if empty).
func fileWith(dropBox json.RawMessage, doc string) string {
	file := "tenants:\n  - id: acme\n    feeds:\n      - " + doc + "\n"
	if len(dropBox) > 0 {
		file = "drop_box: " + string(dropBox) + "\n" + file
	}
	return file
}

// apiDropBox is the daemon's drop box as the API sees it under a file with
// that drop_box section.
func apiDropBox(t *testing.T, dropBox json.RawMessage) *DropBox {
	t.Helper()
	if len(dropBox) == 0 {
		return nil
	}
	c, err := Parse([]byte("drop_box: "+string(dropBox)+"\n"), "rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.APIDropBox()
}

func badFeeds(t *testing.T) []badFeed {
	b, err := os.ReadFile("testdata/bad_feeds.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []badFeed
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func problemPaths(err error, prefix string) []string {
	e, ok := err.(*Error)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range e.Problems {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(p.Path, prefix), "."))
	}
	return out
}

// TestDecodeFeedIsTheFile: every feed the file refuses, DecodeFeed refuses
// with the same problems at the same paths (relative to the feed).
func TestDecodeFeedIsTheFile(t *testing.T) {
	for _, tc := range badFeeds(t) {
		t.Run(tc.Name, func(t *testing.T) {
			_, fileErr := Parse([]byte(fileWith(tc.DropBox, string(tc.Doc))), "rosterd.yaml", nil)
			filePaths := problemPaths(fileErr, "tenants[0].feeds[0]")
			if !reflect.DeepEqual(filePaths, tc.Paths) {
				t.Fatalf("the file: %v, want %v (%v)", filePaths, tc.Paths, fileErr)
			}
			_, apiErr := DecodeFeed(tc.Doc, nil, apiDropBox(t, tc.DropBox))
			if got := problemPaths(apiErr, ""); !reflect.DeepEqual(got, filePaths) {
				t.Fatalf("DecodeFeed: %v, the file %v (%v)", got, filePaths, apiErr)
			}
			fe, ae := fileErr.(*Error).Problems, apiErr.(*Error).Problems
			for i := range fe {
				if fe[i].Message != ae[i].Message {
					t.Errorf("message of %s: API %q, file %q", ae[i].Path, ae[i].Message, fe[i].Message)
				}
			}
		})
	}
}

func TestDecodeFeed(t *testing.T) {
	f, err := DecodeFeed([]byte(`{"name": "hr", "kind": "file", "source": "dir:///srv/drop/*.csv", "schedule": "@every 1s"}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timezone != "UTC" || f.File.Key != "email" || f.File.ArchiveDir() != "processed" || !f.AuthoritativeEnabled() {
		t.Fatalf("defaults not applied: %+v", f)
	}
	// A patch replaces the keys it gives and keeps the others.
	g, err := DecodeFeed([]byte(`{"schedule": "0 6 * * 1", "stable_for": "0s"}`), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Schedule != "0 6 * * 1" || g.File.StableFor != 0 || g.File.Source != f.File.Source || f.Schedule != "@every 1s" {
		t.Fatalf("patched: %+v (base %+v)", g, f)
	}
	if _, err := DecodeFeed([]byte(`{"name": "corp", "kind": "ldap", "url": "ldaps://dc.test", "base_dn": "dc=test", "ca_file": "/etc/ca.pem"}`), nil, nil); !reflect.DeepEqual(problemPaths(err, ""), []string{"ca_file"}) {
		t.Fatalf("a *_file key: %v", err)
	}
}

// TestDecodeFeedUpload: an API feed with source: upload depends on the
// daemon's drop box. Not enabled (no drop_box section in the file, which
// still serves the file's own upload feeds, or enabled: false): refused
// at source, saying what the operator must do. Enabled: taken, its SFTP
// logins only with drop_box.sftp_listen, as in the file.
func TestDecodeFeedUpload(t *testing.T) {
	doc := []byte(`{"name": "hr", "kind": "file", "source": "upload", "schedule": "@every 1h", "run_on_upload": true,
		"upload": {"token": "hr-upload-token-0123456789abcdef0123", "password": "0123456789abcdef-pw"}}`)
	for _, file := range []string{"listen: 127.0.0.1:8080\n", "drop_box: {enabled: false}\n"} {
		c, err := Parse([]byte(file), "rosterd.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.DropBoxEnabled() || c.APIDropBox() != nil {
			t.Fatalf("%q: the drop box is enabled", file)
		}
		_, err = DecodeFeed(doc, nil, c.APIDropBox())
		var e *Error
		if !errors.As(err, &e) || !reflect.DeepEqual(problemPaths(err, ""), []string{"source"}) || !strings.Contains(e.Problems[0].Message, "enable drop_box in the configuration") {
			t.Fatalf("%q: source: upload through the API: %v", file, err)
		}
	}
	// Off means off: no SFTP server either.
	if _, err := Parse([]byte("drop_box: {enabled: false, sftp_listen: 127.0.0.1:2222}\n"), "rosterd.yaml", nil); !reflect.DeepEqual(problemPaths(err, ""), []string{"drop_box.sftp_listen"}) {
		t.Fatalf("sftp_listen with the drop box off: %v", err)
	}
	// The file's own upload feeds need no drop_box section.
	if _, err := Parse([]byte(fileWith(nil, `{name: hr, kind: file, source: upload}`)), "rosterd.yaml", nil); err != nil {
		t.Fatalf("the file's upload feed without drop_box: %v", err)
	}
	for _, file := range []string{"drop_box: {}\n", "drop_box: {enabled: true}\n", "drop_box: {dir: /srv/dropbox}\n"} {
		c, err := Parse([]byte(file), "rosterd.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeFeed(doc, nil, c.APIDropBox()); !reflect.DeepEqual(problemPaths(err, ""), []string{"upload"}) {
			t.Fatalf("%q: an SFTP password without sftp_listen: %v", file, err)
		}
	}
	c, err := Parse([]byte("drop_box: {sftp_listen: 127.0.0.1:2222}\n"), "rosterd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFeed(doc, nil, c.APIDropBox())
	if err != nil {
		t.Fatal(err)
	}
	if !f.File.IsUpload() || !f.File.RunOnUpload || f.File.Upload.Password != "0123456789abcdef-pw" || f.File.Upload.Token == "" {
		t.Fatalf("decoded: %+v", f.File)
	}
}

// TestDecodeWebhookIsTheFile: every endpoint the file's webhooks[]
// refuses (testdata/bad_webhooks.json, which the admin API's tests share),
// DecodeWebhook refuses at the same paths with the same messages.
func TestDecodeWebhookIsTheFile(t *testing.T) {
	b, err := os.ReadFile("testdata/bad_webhooks.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []badFeed
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			_, fileErr := Parse([]byte("tenants: [{id: acme}]\nwebhooks:\n  - "+string(tc.Doc)+"\n"), "rosterd.yaml", nil)
			filePaths := problemPaths(fileErr, "webhooks[0]")
			if !reflect.DeepEqual(filePaths, tc.Paths) {
				t.Fatalf("the file: %v, want %v (%v)", filePaths, tc.Paths, fileErr)
			}
			_, apiErr := DecodeWebhook(tc.Doc, nil)
			if got := problemPaths(apiErr, ""); !reflect.DeepEqual(got, filePaths) {
				t.Fatalf("DecodeWebhook: %v, the file %v", got, filePaths)
			}
			fe, ae := fileErr.(*Error).Problems, apiErr.(*Error).Problems
			for i := range fe {
				if fe[i].Message != ae[i].Message {
					t.Errorf("message of %s: API %q, file %q", ae[i].Path, ae[i].Message, fe[i].Message)
				}
			}
		})
	}
	if _, err := DecodeWebhook([]byte(`{url: "https://hooks.test/x", secret: "0123456789abcdef0123456789abcdef", tenants: [acme]}`), nil); !reflect.DeepEqual(problemPaths(err, ""), []string{"tenants"}) {
		t.Fatalf("tenants: %v", err)
	}
}

// FuzzDecodeFeed: whatever the document, DecodeFeed does not panic; a feed
// it takes is one the file takes too (a tenant holding it validates), and
// a refusal names its problems.
func FuzzDecodeFeed(f *testing.F) {
	b, err := os.ReadFile("testdata/bad_feeds.json")
	if err != nil {
		f.Fatal(err)
	}
	var cases []badFeed
	if err := json.Unmarshal(b, &cases); err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add([]byte(c.Doc))
	}
	f.Add([]byte(`{"name": "hr", "kind": "file", "source": "dir:///srv/drop/*.csv", "schedule": "@every 1s"}`))
	f.Add([]byte(`{"name": "corp", "kind": "ldap", "url": "ldaps://dc.test", "base_dn": "dc=test", "ca": "-----BEGIN CERTIFICATE-----"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := DecodeFeed(data, nil, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			return
		}
		tn := &Tenant{ID: "acme", Name: "Acme", Invite: "email", InviteTTL: Duration(time.Hour), Feeds: []Feed{*feed}}
		c := &Config{Tenants: []Tenant{*tn}}
		c.ApplyDefaults()
		if err := ValidateTenant(&c.Tenants[0]); err != nil {
			t.Fatalf("DecodeFeed took a feed the file refuses: %v", err)
		}
	})
}
