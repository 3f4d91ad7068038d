package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

// oneCode is a LoginCodes with one code, redeemable once.
type oneCode struct {
	code string
	card directory.Card
	used bool
}

func (o *oneCode) Redeem(_ context.Context, code, tenant string) (directory.Card, error) {
	if code != o.code || o.used || (tenant != "" && tenant != o.card.Tenant) {
		return directory.Card{}, fmt.Errorf("login code: %w", store.ErrNotFound)
	}
	o.used = true
	if !o.card.Enabled {
		return o.card, directory.ErrDisabled
	}
	return o.card, nil
}

func TestRedeemLoginCode(t *testing.T) {
	st := storetest.Migrated(t, storetest.OpenSQLite)
	keys := credential.NewKeyring(st, []credential.Static{
		{Kind: store.AdminKey, Name: "platform", Secret: "rw-key"},
		{Kind: store.AdminKey, Name: "auditor", Secret: "ro-key", ReadOnly: true},
	})
	now := time.Now()
	card := directory.Card{ID: "c1", Tenant: "acme", Email: "ann@example.com", Enabled: true, FirstLoginAt: now,
		Attributes: store.Attributes{GivenName: "Ann", FamilyName: "Lee", Groups: []string{"eng"}}}
	lc := &oneCode{code: "rlc_good", card: card}
	api := New(keys, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry()).WithLoginCodes(lc)
	mux := http.NewServeMux()
	api.Mount(mux)
	do := func(auth, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/login-codes/redeem", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		auth, body string
		code       int
		want       string
	}{
		{"", `{"code":"rlc_good"}`, 401, `"unauthenticated"`},
		{"ro-key", `{"code":"rlc_good"}`, 403, `"read_only_key"`},
		{"rw-key", `{"code":""}`, 400, `"invalid_value"`},
		{"rw-key", `{"cod":"x"}`, 400, `"invalid_body"`},
		{"rw-key", `{"code":"rlc_good","tenant":"globex"}`, 400, `"invalid_code"`},
		{"rw-key", `{"code":"rlc_good","tenant":"acme"}`, 200,
			`{"id":"c1","tenant":"acme","email":"ann@example.com","given_name":"Ann","family_name":"Lee","display_name":"","groups":["eng"],"status":"active"}`},
		{"rw-key", `{"code":"rlc_good"}`, 400, `"invalid_code"`},
	} {
		rec := do(tc.auth, tc.body)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.auth, tc.body, rec.Code, rec.Body, tc.code, tc.want)
		}
	}
	lc.used, lc.card.Enabled = false, false
	if rec := do("rw-key", `{"code":"rlc_good"}`); rec.Code != 403 || !strings.Contains(rec.Body.String(), "card_disabled") {
		t.Errorf("disabled card: %d %s", rec.Code, rec.Body)
	}
	bare := New(keys, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	mux = http.NewServeMux()
	bare.Mount(mux)
	if rec := do("rw-key", `{"code":"x"}`); rec.Code != 404 {
		t.Errorf("without SAML: %d %s", rec.Code, rec.Body)
	}
}
