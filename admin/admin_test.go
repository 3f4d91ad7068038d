package admin

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant/tenanttest"
)

func TestAuth(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: "rw-key"},
		{Kind: store.AdminKey, Name: "auditor", Secret: "ro-key", ReadOnly: true},
		{Kind: store.SCIMToken, Tenant: "acme", Name: "okta", Secret: "scim-token"},
	})
	api := New(keys, tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme"}), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	mux := http.NewServeMux()
	api.Mount(mux)
	// A writing route, to see what a read-only key may not do.
	var sawKey string
	mux.Handle("POST /api/v1/test-write", api.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := KeyFrom(r.Context())
		sawKey = k.Name
		w.WriteHeader(http.StatusNoContent)
	})))

	for _, tc := range []struct {
		method, path, auth string
		code               int
		body               string
	}{
		{"GET", "/api/v1/tenants", "Bearer rw-key", 200, `{"tenants":[{"id":"acme","name":"Acme","managed_by":"config","retired":false}]}`},
		{"GET", "/api/v1/tenants", "Bearer ro-key", 200, `"acme"`},
		{"GET", "/api/v1/tenants", "", 401, `"code":"unauthenticated"`},
		{"GET", "/api/v1/tenants", "Basic cnc6a2V5", 401, `"code":"unauthenticated"`},
		{"GET", "/api/v1/tenants", "Bearer wrong", 401, `"code":"invalid_key"`},
		{"GET", "/api/v1/tenants", "Bearer scim-token", 401, `"code":"invalid_key"`},
		{"POST", "/api/v1/test-write", "Bearer ro-key", 403, `"code":"read_only_key"`},
		{"POST", "/api/v1/test-write", "Bearer rw-key", 204, ""},
		{"GET", "/api/v1/import/template.csv", "Bearer ro-key", 200, "First Name"},
		{"GET", "/api/v1/import/template.csv", "", 401, "unauthenticated"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s with %q: %d %s, want %d containing %s", tc.method, tc.path, tc.auth, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
		if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s with %q: 401 without WWW-Authenticate", tc.path, tc.auth)
		}
	}
	if sawKey != "ops" {
		t.Fatalf("handler saw key %q, want ops", sawKey)
	}
	if n := testutil.ToFloat64(api.authFailure); n != 5 {
		t.Fatalf("auth failures counted %v, want 5", n)
	}
}

// TestTenantKeyListsOnlyItsTenant: GET /api/v1/tenants with a key bound to
// a tenant names that tenant only; an unbound key sees them all.
func TestTenantKeyListsOnlyItsTenant(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "ops", Secret: "all-tenants-key"},
		{Kind: store.AdminKey, Tenant: "globex", Name: "globex-ops", Secret: "globex-key", ReadOnly: true},
	})
	api := New(keys, tenanttest.Registry(t, st, config.Tenant{ID: "acme", Name: "Acme"}, config.Tenant{ID: "globex", Name: "Globex"}), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	mux := http.NewServeMux()
	api.Mount(mux)
	for key, want := range map[string]string{
		"all-tenants-key": `{"tenants":[{"id":"acme","name":"Acme","managed_by":"config","retired":false},{"id":"globex","name":"Globex","managed_by":"config","retired":false}]}` + "\n",
		"globex-key":      `{"tenants":[{"id":"globex","name":"Globex","managed_by":"config","retired":false}]}` + "\n",
	} {
		req := httptest.NewRequest("GET", "/api/v1/tenants", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("with %s: %d %s, want 200 %s", key, rec.Code, rec.Body.String(), want)
		}
	}
}
