package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestAPIKeyCreate: a key made by `rosterd apikey create` works against
// the daemon on the same data; a read-only one cannot write.
func TestAPIKeyCreate(t *testing.T) {
	data := t.TempDir()
	var rw, ro, stderr bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "create", "ops", "--data-dir", data}, &rw, &stderr); code != 0 {
		t.Fatalf("apikey create: %d %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"apikey", "create", "auditor", "--read-only", "--data-dir", data}, &ro, &stderr); code != 0 {
		t.Fatalf("apikey create --read-only: %d %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"apikey", "create", "bad name", "--data-dir", data}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("a bad name: exit %d, want 2", code)
	}
	rwKey, roKey := strings.TrimSpace(rw.String()), strings.TrimSpace(ro.String())
	if !strings.HasPrefix(rwKey, "rsk_") || !strings.HasPrefix(roKey, "rsk_") {
		t.Fatalf("keys %q %q", rwKey, roKey)
	}
	d := startServe(t, t.TempDir(), "-", "--data-dir", data)
	if code, body := get(t, d.base+"/api/v1/tenants/default/cards", roKey); code != 200 {
		t.Fatalf("read-only key lists cards: %d %s", code, body)
	}
	post := func(key string) int {
		req, _ := http.NewRequest("POST", d.base+"/api/v1/tenants/default/cards/invite", strings.NewReader(`{"emails":["ann@example.com"]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(roKey); code != 403 {
		t.Fatalf("read-only key invites: %d", code)
	}
	if code := post(rwKey); code != 200 {
		t.Fatalf("read-write key invites: %d", code)
	}
}
