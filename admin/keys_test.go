package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

// keyByID is the key of that id in GET /api/v1/keys.
func (e *env) keyByID(id string) map[string]any {
	e.t.Helper()
	for _, k := range e.op(200, "GET", "/api/v1/keys", nil).Body["keys"].([]any) {
		if k := k.(map[string]any); k["id"] == id {
			return k
		}
	}
	e.t.Fatalf("no key %s in the list", id)
	return nil
}

// storedLastUse is the key's last use as the store holds it.
func (e *env) storedLastUse(id string) time.Time {
	e.t.Helper()
	list, err := e.store.ListCredentials(context.Background(), store.AdminKey)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == id {
			return c.LastUsed
		}
	}
	e.t.Fatalf("no stored key %s", id)
	return time.Time{}
}

// TestKeyLastUseAndAudit: a key's last use is shown in the list, written
// at most once a minute however often the key is used; creating and
// revoking a key each write an audit line naming who and which key, never
// the secret or its hash.
func TestKeyLastUseAndAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.op(201, "POST", "/api/v1/keys", map[string]any{"name": "acme-bot", "tenant": "acme"})
		secret, id := r.Body["key"].(string), r.Body["id"].(string)
		if id == "" {
			t.Fatalf("no id in the answer: %s", r.Raw)
		}
		if k := e.keyByID(id); k["last_used_at"] != nil {
			t.Fatalf("a key never used has a last use: %v", k)
		}
		t0 := e.clock.Now()
		for range 3 {
			if r := e.do("GET", "/api/v1/tenants/acme/cards", secret, nil); r.Status != 200 {
				t.Fatalf("the key: %d %s", r.Status, r.Raw)
			}
		}
		if got := e.storedLastUse(id); !got.Equal(t0.Truncate(time.Second)) {
			t.Fatalf("stored last use %v, want %v", got, t0)
		}
		if k := e.keyByID(id); k["last_used_at"] != t0.Format(time.RFC3339) {
			t.Fatalf("listed last use %v, want %s", k["last_used_at"], t0.Format(time.RFC3339))
		}
		// Within the minute: no new write.
		e.clock.Advance(30 * time.Second)
		e.do("GET", "/api/v1/tenants/acme/cards", secret, nil)
		if got := e.storedLastUse(id); !got.Equal(t0) {
			t.Fatalf("written again within a minute: %v", got)
		}
		// After it: written.
		e.clock.Advance(31 * time.Second)
		e.do("GET", "/api/v1/tenants/acme/cards", secret, nil)
		if got := e.storedLastUse(id); !got.Equal(t0.Add(61 * time.Second)) {
			t.Fatalf("last use after a minute: %v, want %v", got, t0.Add(61*time.Second))
		}
		// A key of the file: its use is remembered by this process.
		e.op(200, "GET", "/api/v1/keys", nil)
		if k := e.keyByID("config:operator"); k["last_used_at"] == nil {
			t.Fatalf("the operator key's use: %v", k)
		}

		e.op(204, "DELETE", "/api/v1/keys/"+id, nil)
		audit, err := e.store.ListTenantAudit(context.Background(), "acme", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range audit {
			line := string(a.Before) + string(a.After) + a.Detail
			if !strings.HasPrefix(a.Action, "admin_key.") {
				continue
			}
			actions = append(actions, a.Action+" by "+a.Actor)
			if !strings.Contains(line, id) || strings.Contains(line, secret) || strings.Contains(line, "hash") {
				t.Errorf("audit line %s: %s", a.Action, line)
			}
		}
		if strings.Join(actions, ", ") != "admin_key.created by admin:operator, admin_key.revoked by admin:operator" {
			t.Fatalf("audit of the key: %v", actions)
		}
		// An operator key's audit lines are of no tenant.
		op := e.op(201, "POST", "/api/v1/keys", map[string]any{"name": "ops2", "scopes": []string{"operator"}})
		audit, err = e.store.ListTenantAudit(context.Background(), "", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) == 0 || audit[len(audit)-1].Action != "admin_key.created" || !strings.Contains(audit[len(audit)-1].Detail, op.Body["id"].(string)) {
			t.Fatalf("audit of an operator key: %+v", audit)
		}
	})
}
