package console

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/rosterd/rosterd/internal/testenv"
)

// TestSessionTimeouts: a session ends after the idle timeout without use,
// and after the absolute timeout however much it is used.
func TestSessionTimeouts(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s := newSessions(clock.Now, 30*time.Minute, 2*time.Hour)
	who := Identity{Name: "ops"}

	idle, _, err := s.create(who)
	if err != nil {
		t.Fatal(err)
	}
	busy, _, err := s.create(who)
	if err != nil {
		t.Fatal(err)
	}
	// Used every 20 minutes: the busy one lives on, the idle one is gone
	// after 30 minutes without use.
	for range 5 { // 09:20 … 10:40
		clock.Advance(20 * time.Minute)
		if s.lookup(busy) == nil {
			t.Fatalf("at %s the session used every 20 min has ended", clock.Now().Format("15:04"))
		}
	}
	if s.lookup(idle) != nil {
		t.Fatal("a session unused for 100 min is still alive (idle timeout 30 min)")
	}
	clock.Advance(19 * time.Minute) // 10:59
	if s.lookup(busy) == nil {
		t.Fatal("the busy session ended before its absolute timeout")
	}
	clock.Advance(time.Minute) // 11:00, two hours after sign-in
	if s.lookup(busy) != nil {
		t.Fatal("a session is alive past its absolute timeout of 2 h")
	}
}

// TestSessionIDStoredHashed: the table holds the id's SHA-256, never the id.
func TestSessionIDStoredHashed(t *testing.T) {
	s := newSessions(time.Now, time.Hour, time.Hour)
	id, ses, err := s.create(Identity{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if len(id) < 40 {
		t.Fatalf("session id %q is short", id)
	}
	if ses.hash != sha256.Sum256([]byte(id)) {
		t.Fatal("the session is not keyed by the SHA-256 of its id")
	}
	for h := range s.byHash {
		if string(h[:]) == id {
			t.Fatal("the table holds the id itself")
		}
	}
	// rotate: the old id is dead, the new one differs.
	id2, _, err := s.rotate(ses, Identity{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id || s.lookup(id) != nil || s.lookup(id2) == nil {
		t.Fatal("rotate kept the old id alive or gave the same id")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "/console/",
		"/console/t/acme/users":   "/console/t/acme/users",
		"https://evil.example/":   "/console/",
		"//evil.example/console/": "/console/",
		"/console/\\evil":         "/console/",
		"/api/v1/tenants":         "/console/",
		"/consolefoo":             "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSessionTableFull: a full table drops an anonymous session for a new
// one, never a signed-in one; full of signed-in sessions it refuses.
func TestSessionTableFull(t *testing.T) {
	defer func(n int) { maxSessions = n }(maxSessions)
	maxSessions = 3
	clock := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s := newSessions(clock.Now, time.Hour, 12*time.Hour)
	ops, _, _ := s.create(Identity{Name: "ops"})
	anon, _, _ := s.create(Identity{})
	if _, _, err := s.create(Identity{Name: "ops2"}); err != nil {
		t.Fatal(err)
	}
	// Full: a visitor's new session pushes out the anonymous one.
	if _, _, err := s.create(Identity{}); err != nil {
		t.Fatalf("a full table with an anonymous session refused a new one: %v", err)
	}
	if s.lookup(anon) != nil {
		t.Fatal("the anonymous session survived; a signed-in one must have gone")
	}
	if s.lookup(ops) == nil {
		t.Fatal("a new visitor pushed out a signed-in session")
	}
	// The newest anonymous one goes for a sign-in; then the table is all
	// signed in and refuses.
	if _, _, err := s.create(Identity{Name: "ops3"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.create(Identity{}); err == nil {
		t.Fatal("a table full of signed-in sessions took another")
	}
	// Expired sessions make room.
	clock.Advance(2 * time.Hour)
	if _, _, err := s.create(Identity{}); err != nil {
		t.Fatalf("expired sessions were not swept: %v", err)
	}
}
