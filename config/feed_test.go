package config

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// badFeed is a feed the file refuses, with the paths of the problems it
// names (relative to the feed). config/testdata/bad_feeds.json is the
// table; the admin API's tests hold its feed endpoints to the same one.
type badFeed struct {
	Name  string          `json:"name"`
	Doc   json.RawMessage `json:"doc"`
	Paths []string        `json:"paths"`
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
			_, fileErr := Parse([]byte("tenants:\n  - id: acme\n    feeds:\n      - "+string(tc.Doc)+"\n"), "rosterd.yaml", nil)
			filePaths := problemPaths(fileErr, "tenants[0].feeds[0]")
			if !reflect.DeepEqual(filePaths, tc.Paths) {
				t.Fatalf("the file: %v, want %v (%v)", filePaths, tc.Paths, fileErr)
			}
			_, apiErr := DecodeFeed(tc.Doc, nil)
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
	f, err := DecodeFeed([]byte(`{"name": "hr", "kind": "file", "source": "dir:///srv/drop/*.csv", "schedule": "@every 1s"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timezone != "UTC" || f.File.Key != "email" || f.File.ArchiveDir() != "processed" || !f.AuthoritativeEnabled() {
		t.Fatalf("defaults not applied: %+v", f)
	}
	// A patch replaces the keys it gives and keeps the others.
	g, err := DecodeFeed([]byte(`{"schedule": "0 6 * * 1", "stable_for": "0s"}`), f)
	if err != nil {
		t.Fatal(err)
	}
	if g.Schedule != "0 6 * * 1" || g.File.StableFor != 0 || g.File.Source != f.File.Source || f.Schedule != "@every 1s" {
		t.Fatalf("patched: %+v (base %+v)", g, f)
	}
	if _, err := DecodeFeed([]byte(`{"name": "corp", "kind": "ldap", "url": "ldaps://dc.test", "base_dn": "dc=test", "ca_file": "/etc/ca.pem"}`), nil); !reflect.DeepEqual(problemPaths(err, ""), []string{"ca_file"}) {
		t.Fatalf("a *_file key: %v", err)
	}
	// An upload feed through the API would have no drop box: refused,
	// at source, until the drop box follows the registry.
	if _, err := DecodeFeed([]byte(`{"name": "hr", "kind": "file", "source": "upload", "schedule": "@every 1h"}`), nil); !slices.Contains(problemPaths(err, ""), "source") {
		t.Fatalf("source: upload through the API: %v", err)
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
		feed, err := DecodeFeed(data, nil)
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
