package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/pgtest"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/notify/webhook"
)

// receiver records the deliveries it gets and the secret each is signed
// with (of those it knows).
type receiver struct {
	mu      sync.Mutex
	secrets []string
	bodies  []string
	signers []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	signer := "(none)"
	for _, s := range rc.secrets {
		if webhook.Verify(s, r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, time.Now(), time.Minute) == nil {
			signer = s
		}
	}
	rc.bodies, rc.signers = append(rc.bodies, string(body)), append(rc.signers, signer)
}

// signer is the secret that signed the delivery holding s; "" if none
// held it.
func (rc *receiver) signer(s string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, b := range rc.bodies {
		if strings.Contains(b, s) {
			return rc.signers[i]
		}
	}
	return ""
}

// TestWebhookThroughTheAPI: an endpoint added through the API receives
// the tenant's events at once, signed with its secret; a new secret
// signs the next ones; deleted, it receives nothing more.
func TestWebhookThroughTheAPI(t *testing.T) {
	const secret1 = "first-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	const secret2 = "second-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	rc := &receiver{secrets: []string{secret1, secret2}}
	hooks := httptest.NewServer(rc)
	defer hooks.Close()
	d := startServe(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", t.TempDir(), operatorKey))
	if code, body := call(t, "POST", d.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant: %d %v", code, body)
	}
	code, body := call(t, "POST", d.base+"/api/v1/tenants/initech/webhooks", operatorKey,
		fmt.Sprintf(`{"url": %q, "secret": %q, "insecure": true}`, hooks.URL+"/rosterd", secret1))
	if code != 201 {
		t.Fatalf("create the endpoint: %d %v", code, body)
	}
	id := body["id"].(string)
	within(t, 5*time.Second, "the webhook.created event delivered", func() bool { return rc.signer(`"webhook.created"`) != "" })
	if rc.signer(`"webhook.created"`) != secret1 {
		t.Fatal("the first delivery is not signed with the endpoint's secret")
	}
	if code, body := call(t, "PATCH", d.base+"/api/v1/tenants/initech/webhooks/"+id, operatorKey, fmt.Sprintf(`{"secret": %q}`, secret2)); code != 200 {
		t.Fatalf("new secret: %d %v", code, body)
	}
	if code, body := call(t, "PATCH", d.base+"/api/v1/tenants/initech", operatorKey, `{"name": "Initech Two"}`); code != 200 {
		t.Fatalf("rename the tenant: %d %v", code, body)
	}
	within(t, 5*time.Second, "the tenant.updated event delivered", func() bool { return rc.signer("Initech Two") != "" })
	if rc.signer("Initech Two") != secret2 {
		t.Fatal("a delivery after the new secret is not signed with it")
	}

	if code, body := call(t, "DELETE", d.base+"/api/v1/tenants/initech/webhooks/"+id, operatorKey, ""); code != 204 {
		t.Fatalf("delete: %d %v", code, body)
	}
	time.Sleep(500 * time.Millisecond) // the dispatcher stops
	if code, body := call(t, "PATCH", d.base+"/api/v1/tenants/initech", operatorKey, `{"name": "Initech Three"}`); code != 200 {
		t.Fatalf("rename the tenant again: %d %v", code, body)
	}
	time.Sleep(2500 * time.Millisecond) // more than a dispatcher's interval
	if rc.signer("Initech Three") != "" {
		t.Fatal("a deleted endpoint received an event")
	}
	if strings.Contains(d.stderr.String(), secret1) || strings.Contains(d.stderr.String(), secret2) {
		t.Fatal("a secret in the log")
	}
}

// TestWebhookOnTwoReplicas: an endpoint added on replica A is delivered to
// by whichever replica holds its lock, each event once; deleted on B, no
// replica delivers to it.
func TestWebhookOnTwoReplicas(t *testing.T) {
	const secret = "replica-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	rc := &receiver{secrets: []string{secret}}
	var mu sync.Mutex
	seen := map[string]int{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, id := range strings.Split(r.Header.Get(webhook.HeaderEventIDs), ",") {
			seen[strings.TrimSpace(id)]++
		}
		mu.Unlock()
		rc.ServeHTTP(w, r)
	}))
	defer hooks.Close()
	dsn := pgtest.DSN(t)
	_, kek, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("secrets_key: %s\nstore:\n  driver: postgres\n  dsn: %q\nadmin_keys:\n  - name: ops\n    key: %s\n    scopes: [operator]\n", kek, dsn, operatorKey)
	a := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	b := startServe(t, t.TempDir(), "data_dir: "+t.TempDir()+"\n"+cfg)
	if code, body := call(t, "POST", a.base+"/api/v1/tenants", operatorKey, `{"id": "initech", "invite": "none"}`); code != 201 {
		t.Fatalf("create the tenant: %d %v", code, body)
	}
	code, body := call(t, "POST", a.base+"/api/v1/tenants/initech/webhooks", operatorKey,
		fmt.Sprintf(`{"url": %q, "secret": %q, "insecure": true}`, hooks.URL+"/rosterd", secret))
	if code != 201 {
		t.Fatalf("create the endpoint on A: %d %v", code, body)
	}
	id := body["id"].(string)
	within(t, 2*time.Second, "B knows the tenant made on A", func() bool {
		code, _ := call(t, "GET", b.base+"/api/v1/tenants/initech/webhooks/"+id, operatorKey, "")
		return code == 200
	})
	for i := range 3 {
		if code, body := call(t, "PATCH", b.base+"/api/v1/tenants/initech", operatorKey, fmt.Sprintf(`{"name": "Initech %d"}`, i)); code != 200 {
			t.Fatalf("rename on B: %d %v", code, body)
		}
	}
	within(t, 10*time.Second, "the renames delivered", func() bool { return rc.signer("Initech 2") != "" })
	if rc.signer("Initech 2") != secret {
		t.Fatal("not signed with the endpoint's secret")
	}
	mu.Lock()
	for ev, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", ev, n)
		}
	}
	mu.Unlock()
	if code, body := call(t, "DELETE", b.base+"/api/v1/tenants/initech/webhooks/"+id, operatorKey, ""); code != 204 {
		t.Fatalf("delete on B: %d %v", code, body)
	}
	within(t, 2*time.Second, "A forgets the endpoint", func() bool {
		code, _ := call(t, "GET", a.base+"/api/v1/tenants/initech/webhooks/"+id, operatorKey, "")
		return code == 404
	})
	time.Sleep(500 * time.Millisecond)
	if code, body := call(t, "PATCH", a.base+"/api/v1/tenants/initech", operatorKey, `{"name": "Initech after"}`); code != 200 {
		t.Fatalf("rename on A: %d %v", code, body)
	}
	time.Sleep(2500 * time.Millisecond)
	if rc.signer("Initech after") != "" {
		t.Fatal("an endpoint deleted on B was delivered to")
	}
}
