package storetest

// The conformance tests of what the SAML service provider keeps in the
// store: the replay cache, login codes, generated key pairs.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterd/rosterd/store"
)

func testSAMLReplayCache(t *testing.T, s store.Backend) {
	ctx := context.Background()
	exp := t0.Add(5 * time.Minute)
	first, err := s.RememberAssertion(ctx, "acme", "_a1", exp)
	if err != nil || !first {
		t.Fatalf("first RememberAssertion = %v, %v; want true", first, err)
	}
	again, err := s.RememberAssertion(ctx, "acme", "_a1", exp)
	if err != nil || again {
		t.Fatalf("replayed RememberAssertion = %v, %v; want false", again, err)
	}
	other, err := s.RememberAssertion(ctx, "globex", "_a1", exp)
	if err != nil || !other {
		t.Fatalf("same id at another tenant = %v, %v; want true (ids are per tenant)", other, err)
	}
	// Many replicas racing with one assertion: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := s.RememberAssertion(ctx, "acme", "_race", exp)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 concurrent RememberAssertion calls won, want 1", wins.Load())
	}
	n, err := s.PurgeSAML(ctx, exp.Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("PurgeSAML = %d, %v; want 3 rows", n, err)
	}
	if ok, _ := s.RememberAssertion(ctx, "acme", "_a1", exp.Add(time.Hour)); !ok {
		t.Fatal("an id purged after its expiry is refused; want it new again")
	}
}

func testSAMLLoginCodes(t *testing.T, s store.Backend) {
	ctx := context.Background()
	put(t, s, card("acme", "c1", "ann@example.com"))
	code := store.LoginCode{Hash: "h1", Tenant: "acme", CardID: "c1", Created: t0, Expires: t0.Add(time.Minute)}
	if err := s.PutLoginCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLoginCode(ctx, code); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second PutLoginCode with one hash = %v, want ErrAlreadyExists", err)
	}
	if _, err := s.RedeemLoginCode(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown code: %v, want ErrNotFound", err)
	}
	got, err := s.RedeemLoginCode(ctx, "h1", t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.Tenant != "acme" || got.CardID != "c1" || !got.Created.Equal(t0) || !got.Expires.Equal(t0.Add(time.Minute)) ||
		!got.RedeemedAt.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("redeemed %+v", got)
	}
	if _, err := s.RedeemLoginCode(ctx, "h1", t0.Add(31*time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second redemption: %v, want ErrNotFound", err)
	}

	expired := store.LoginCode{Hash: "h2", Tenant: "acme", CardID: "c1", Created: t0, Expires: t0.Add(time.Minute)}
	if err := s.PutLoginCode(ctx, expired); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemLoginCode(ctx, "h2", t0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code redeemed at its expiry: %v, want ErrNotFound", err)
	}

	race := store.LoginCode{Hash: "h3", Tenant: "acme", CardID: "c1", Created: t0, Expires: t0.Add(time.Minute)}
	if err := s.PutLoginCode(ctx, race); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.RedeemLoginCode(ctx, "h3", t0.Add(time.Second))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 concurrent redemptions succeeded, want 1", wins.Load())
	}
	if n, err := s.PurgeSAML(ctx, t0.Add(2*time.Minute)); err != nil || n != 3 {
		t.Fatalf("PurgeSAML = %d, %v; want the 3 codes", n, err)
	}
}

func testSAMLKeyPairs(t *testing.T, s store.Backend) {
	ctx := context.Background()
	if _, err := s.SAMLKeyPair(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SAMLKeyPair before any: %v, want ErrNotFound", err)
	}
	first := store.SAMLKeyPair{Name: "acme", KeyPEM: []byte("key-1"), CertPEM: []byte("cert-1"), Created: t0}
	got, err := s.PutSAMLKeyPair(ctx, first)
	if err != nil || string(got.KeyPEM) != "key-1" || string(got.CertPEM) != "cert-1" || !got.Created.Equal(t0) {
		t.Fatalf("PutSAMLKeyPair = %+v, %v", got, err)
	}
	// A second replica generated its own pair at the same time: it gets
	// the first one back, and uses that.
	got, err = s.PutSAMLKeyPair(ctx, store.SAMLKeyPair{Name: "acme", KeyPEM: []byte("key-2"), CertPEM: []byte("cert-2"), Created: t0.Add(time.Second)})
	if err != nil || string(got.KeyPEM) != "key-1" {
		t.Fatalf("second PutSAMLKeyPair = %+v, %v; want the first pair kept", got, err)
	}
	if got, err := s.SAMLKeyPair(ctx, "acme"); err != nil || string(got.CertPEM) != "cert-1" {
		t.Fatalf("SAMLKeyPair = %+v, %v", got, err)
	}
	// Sealing a plaintext key: only over the value read, so of two
	// replicas sealing at once one wins and the other reads its result.
	if ok, err := s.ReplaceSAMLKey(ctx, "acme", []byte("key-1"), []byte("sealed-1")); err != nil || !ok {
		t.Fatalf("ReplaceSAMLKey = %v, %v; want true", ok, err)
	}
	if ok, err := s.ReplaceSAMLKey(ctx, "acme", []byte("key-1"), []byte("sealed-2")); err != nil || ok {
		t.Fatalf("ReplaceSAMLKey over a stale value = %v, %v; want false", ok, err)
	}
	if got, err := s.SAMLKeyPair(ctx, "acme"); err != nil || string(got.KeyPEM) != "sealed-1" || string(got.CertPEM) != "cert-1" {
		t.Fatalf("SAMLKeyPair after ReplaceSAMLKey = %+v, %v", got, err)
	}
	if _, err := s.ReplaceSAMLKey(ctx, "nobody", []byte("a"), []byte("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReplaceSAMLKey of no pair: %v, want ErrNotFound", err)
	}
}
