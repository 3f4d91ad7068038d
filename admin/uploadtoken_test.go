package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/sync/dropbox"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

// TestUploadTokenEndpoint: an admin key of the tenant makes an upload
// token, shown once and stored hashed, which then uploads to the feed's
// drop box; a read-only key, another tenant's key, an unknown feed and a
// query parameter are refused.
func TestUploadTokenEndpoint(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		tenants := tenanttest.FromYAML(t, st, "tenants:\n  - id: acme\n  - id: globex\n")
		svc := directory.NewService(st, nil, directory.WithPolicies(tenants))
		keys := credential.NewKeyring(st, []credential.Static{
			{Kind: store.AdminKey, Name: "ops", Secret: rwKey},
			{Kind: store.AdminKey, Name: "auditor", Secret: roKey, ReadOnly: true},
			{Kind: store.AdminKey, Tenant: "globex", Name: "globex-admin", Secret: "globex-key"},
		})
		cfg := &config.Config{DataDir: t.TempDir(), Tenants: []config.Tenant{{ID: "acme", Feeds: []config.Feed{
			{Name: "hr", Kind: "file", File: config.FileFeed{Source: config.UploadSource}}}}}}
		feeds, err := dropbox.FeedsOf(cfg)
		if err != nil {
			t.Fatal(err)
		}
		box, err := dropbox.New(dropbox.Options{Feeds: feeds, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		logger, reg := slog.New(slog.DiscardHandler), prometheus.NewRegistry()
		srv := daemon.NewServer(logger, reg)
		ts := httptest.NewServer(nil)
		t.Cleanup(ts.Close)
		New(keys, tenants, logger, reg).With(Services{Directory: svc, Store: st, UploadTokens: box, PublicURL: ts.URL}).Mount(srv)
		box.Mount(srv)
		ts.Config.Handler = srv.Handler()

		call := func(method, path, key, body string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var out map[string]any
			json.Unmarshal(raw, &out)
			return res.StatusCode, out
		}
		const path = "/api/v1/tenants/acme/feeds/hr/upload-token"
		for _, tc := range []struct {
			name, path, key string
			status          int
		}{
			{"read-only key", path, roKey, http.StatusForbidden},
			{"another tenant's key", path, "globex-key", http.StatusForbidden},
			{"unknown feed", "/api/v1/tenants/acme/feeds/payroll/upload-token", rwKey, http.StatusNotFound},
			{"query parameter", path + "?rotate=1", rwKey, http.StatusBadRequest},
		} {
			if status, body := call(http.MethodPost, tc.path, tc.key, ""); status != tc.status {
				t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.status)
			}
		}
		if stored, _ := st.ListCredentials(t.Context(), dropbox.CredentialKind); len(stored) != 0 {
			t.Fatalf("refused requests stored %v", stored)
		}

		status, body := call(http.MethodPost, path, rwKey, "")
		token, _ := body["token"].(string)
		if status != http.StatusCreated || !strings.HasPrefix(token, dropbox.TokenPrefix) || body["upload_url"] != ts.URL+"/drop/acme/hr" {
			t.Fatalf("create: %d %v", status, body)
		}
		stored, _ := st.ListCredentials(t.Context(), dropbox.CredentialKind)
		if len(stored) != 1 || stored[0].Hash != credential.Hash(token) || stored[0].Origin != "api" {
			t.Fatalf("stored: %+v", stored)
		}
		if status, body := call(http.MethodPut, "/drop/acme/hr?name=hr.csv", token, "Email\nann@example.com\n"); status != http.StatusCreated {
			t.Fatalf("upload with the new token: %d %v", status, body)
		}
		if status, _ := call(http.MethodPut, "/drop/acme/hr", rwKey, "Email\nann@example.com\n"); status != http.StatusUnauthorized {
			t.Fatalf("upload with an admin key: %d", status)
		}

		// A second token replaces the first; both steps are audited with
		// the admin key's name, never the token.
		if status, body := call(http.MethodPost, path, rwKey, ""); status != http.StatusCreated {
			t.Fatalf("second create: %d %v", status, body)
		}
		if status, _ := call(http.MethodPut, "/drop/acme/hr", token, "Email\nann@example.com\n"); status != http.StatusUnauthorized {
			t.Fatalf("the replaced token: %d", status)
		}
		audit, err := st.ListTenantAudit(t.Context(), "acme", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range audit {
			if strings.HasPrefix(ev.Action, dropbox.CredentialKind+".") {
				actions = append(actions, ev.Action+" by "+ev.Actor)
			}
			if strings.Contains(string(ev.Before)+string(ev.After)+ev.Detail, token) {
				t.Fatalf("the token is in the audit line %+v", ev)
			}
		}
		want := []string{"upload_token.created by admin:ops", "upload_token.created by admin:ops", "upload_token.revoked by admin:ops"}
		if strings.Join(actions, "; ") != strings.Join(want, "; ") {
			t.Fatalf("audit: %v, want %v", actions, want)
		}
	})
}
