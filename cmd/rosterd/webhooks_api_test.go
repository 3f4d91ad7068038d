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
