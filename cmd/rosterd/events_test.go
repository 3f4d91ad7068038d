package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/testenv"
	"github.com/rosterd/rosterd/store"
)

func TestEventsTail(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rosterd.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\ntenants:\n  - id: acme\n    invite: none\n"), 0o600)
	a, err := openApp(context.Background(), globalFlags{config: cfg}, &testenv.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.st.Close()
	apply := func(email string, state store.ClaimState) {
		if _, err := a.dir.ApplyClaim(context.Background(), directory.Actor{Name: "file:hr"}, directory.ClaimInput{Tenant: "acme",
			Source: "file:hr", Email: email, State: state, Authoritative: true}); err != nil {
			t.Fatal(err)
		}
	}
	apply("ann@acme.example", store.Present)

	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--config", cfg, "--from-start", "--poll", "10ms"}, &out, &testenv.Buffer{})
	}()
	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("tail never printed %q:\n%s", want, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitOut("card.created")
	// A change committed while tailing shows up.
	apply("ann@acme.example", store.Withdrawn)
	waitOut("card.disabled")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("events tail exited %d", code)
	}
	if strings.Contains(out.String(), "ann@acme.example") {
		t.Fatal("the tail printed an email address")
	}
}
