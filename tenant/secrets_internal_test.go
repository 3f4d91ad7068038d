package tenant

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
)

func testKey(t *testing.T, b byte) secretbox.Key {
	t.Helper()
	k, err := secretbox.NewKey(bytes.Repeat([]byte{b}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func boxOf(b *secretbox.Box) func() (*secretbox.Box, error) {
	return func() (*secretbox.Box, error) { return b, nil }
}

// rawSpec is the tenant's settings as the database holds them.
func rawSpec(t *testing.T, st store.Backend, id string) string {
	t.Helper()
	var spec string
	if err := storetest.SQL(st).QueryRowContext(context.Background(), `SELECT spec FROM tenants WHERE id = $1`, id).Scan(&spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

const (
	sftpPassword = "sftp-pass-0123456789"
	ldapPassword = "ldap-pass-9876543210"
)

// TestSecretsSealedAtRest: the secrets of a tenant the API manages are
// stored sealed (the raw row holds neither password, only sealed values
// under the key's id), open again on load, and are redacted in what the
// API shows; without a key nothing is stored. ResealSecrets seals them
// again under a new key (the row then names only the new key id, and a
// registry holding only the new key opens them), moves the registry
// version, is a no-op the second time, and writes nothing when a value
// opens under none of its keys. A registry still on the old key keeps the
// tenant, without the secret it cannot open.
func TestSecretsSealedAtRest(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		k1, k2, k3 := testKey(t, 1), testKey(t, 2), testKey(t, 3)
		reg := New(st, Options{Secrets: boxOf(secretbox.New(k1))})
		spec := &config.Tenant{ID: "initech", Name: "Initech", Feeds: []config.Feed{
			{Name: "hr", Kind: "file", File: config.FileFeed{SFTP: config.SFTP{Password: sftpPassword}}},
			{Name: "dir", Kind: "ldap", LDAP: config.LDAPFeed{BindPassword: ldapPassword}},
		}}
		if _, err := New(st, Options{}).encodeAPISpec(spec); !errors.Is(err, ErrNoSecretsKey) {
			t.Fatalf("a secret without a key: %v", err)
		}
		b, err := reg.encodeAPISpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		err = st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateTenant(ctx, store.TenantRecord{ID: "initech", Name: "Initech", ManagedBy: store.ManagedByAPI, Spec: b,
				CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
				return err
			}
			_, err := tx.BumpRegistryVersion(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		raw := rawSpec(t, st, "initech")
		if strings.Contains(raw, sftpPassword) || strings.Contains(raw, ldapPassword) || strings.Count(raw, "rsb1."+k1.ID()+".") != 2 {
			t.Fatalf("stored settings: %s", raw)
		}
		if err := reg.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := reg.Get(ctx, "initech")
		if err != nil {
			t.Fatal(err)
		}
		if f := got.Feeds(); f[0].File.SFTP.Password != sftpPassword || f[1].LDAP.BindPassword != ldapPassword {
			t.Fatalf("opened feeds: %+v", f)
		}
		if v := string(got.View().Settings); strings.Contains(v, sftpPassword) || strings.Contains(v, "rsb1.") || strings.Count(v, redacted) != 2 {
			t.Fatalf("the API's view: %s", v)
		}

		// A sealed value is bound to its tenant and place.
		moved, err := decodeSpec("globex", []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.openSecrets("globex", moved); !errors.Is(err, secretbox.ErrCorrupt) || moved.Feeds[0].File.SFTP.Password != "" {
			t.Fatalf("initech's secrets opened as globex's: %v", err)
		}

		// Rotation.
		v0, _ := st.RegistryVersion(ctx)
		rep, err := ResealSecrets(ctx, st, secretbox.New(k2, k1), time.Now())
		if err != nil || rep.Tenants != 1 || rep.Secrets != 2 || rep.Current != 0 {
			t.Fatalf("ResealSecrets = %+v, %v", rep, err)
		}
		raw2 := rawSpec(t, st, "initech")
		if strings.Contains(raw2, k1.ID()) || strings.Count(raw2, "rsb1."+k2.ID()+".") != 2 || strings.Contains(raw2, sftpPassword) {
			t.Fatalf("settings after rotation: %s", raw2)
		}
		if v1, _ := st.RegistryVersion(ctx); v1 <= v0 {
			t.Fatalf("registry version %d after rotation, was %d", v1, v0)
		}
		onNew := New(st, Options{Secrets: boxOf(secretbox.New(k2))})
		if err := onNew.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := onNew.Get(ctx, "initech"); got.Feeds()[0].File.SFTP.Password != sftpPassword || got.Feeds()[1].LDAP.BindPassword != ldapPassword {
			t.Fatalf("feeds under the new key only: %+v", got.Feeds())
		}
		rep, err = ResealSecrets(ctx, st, secretbox.New(k2, k1), time.Now())
		if err != nil || rep.Secrets != 0 || rep.Tenants != 0 || rep.Current != 2 || rawSpec(t, st, "initech") != raw2 {
			t.Fatalf("ResealSecrets again = %+v, %v", rep, err)
		}
		if _, err := ResealSecrets(ctx, st, secretbox.New(k3, k1), time.Now()); !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), "feeds/hr/sftp.password") {
			t.Fatalf("ResealSecrets without the key that sealed them: %v", err)
		}
		if rawSpec(t, st, "initech") != raw2 {
			t.Fatal("a failed rotation wrote")
		}
		onOld := New(st, Options{Secrets: boxOf(secretbox.New(k1))})
		if err := onOld.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := onOld.Get(ctx, "initech"); err != nil || got.Feeds()[0].File.SFTP.Password != "" {
			t.Fatalf("a registry on the old key: %v, %+v", err, got)
		}

		// The file's tenants keep their secrets in the file: none stored.
		if _, err := reg.Apply(ctx, &config.Config{Tenants: []config.Tenant{{ID: "acme", Name: "Acme", Feeds: []config.Feed{
			{Name: "hr", Kind: "file", File: config.FileFeed{SFTP: config.SFTP{Password: sftpPassword}}}}}}}, "rosterd.yaml"); err != nil {
			t.Fatal(err)
		}
		if raw := rawSpec(t, st, "acme"); strings.Contains(raw, sftpPassword) || strings.Contains(raw, "rsb1.") {
			t.Fatalf("the file's tenant's stored settings: %s", raw)
		}
	})
}

// TestResealFeedsAndWebhooks: the sealed secrets of the feeds and webhook
// endpoints the API added are sealed again by ResealSecrets too, so a
// registry holding only the new key still opens them; a second run
// changes nothing.
func TestResealFeedsAndWebhooks(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		k1, k2 := testKey(t, 1), testKey(t, 2)
		reg := New(st, Options{Secrets: boxOf(secretbox.New(k1))})
		if _, err := reg.CreateTenant(ctx, "ops", []byte(`{"id": "initech"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreateFeed(ctx, "ops", "initech", []byte(`{"name": "corp", "kind": "ldap", "url": "ldaps://dc.initech.test",
			"bind_dn": "cn=reader,dc=initech,dc=test", "bind_password": "`+ldapPassword+`", "base_dn": "dc=initech,dc=test"}`)); err != nil {
			t.Fatal(err)
		}
		w, err := reg.CreateWebhook(ctx, "ops", "initech", []byte(`{"url": "https://app.test/hooks", "secret": "hook-secret-0123456789abcdefghijklmnop"}`))
		if err != nil {
			t.Fatal(err)
		}
		sealedUnder := func() (feeds, hooks []string) {
			fs, _ := st.ListFeeds(ctx)
			for _, f := range fs {
				feeds = append(feeds, string(f.Secrets))
			}
			hs, _ := st.ListWebhookEndpoints(ctx)
			for _, h := range hs {
				hooks = append(hooks, string(h.Secret))
			}
			return feeds, hooks
		}
		rep, err := ResealSecrets(ctx, st, secretbox.New(k2, k1), time.Now())
		if err != nil || rep.Feeds != 1 || rep.Webhooks != 1 || rep.Secrets != 2 {
			t.Fatalf("ResealSecrets = %+v, %v", rep, err)
		}
		feeds, hooks := sealedUnder()
		if len(feeds) != 1 || len(hooks) != 1 || !strings.HasPrefix(feeds[0], "rsb1."+k2.ID()+".") || !strings.HasPrefix(hooks[0], "rsb1."+k2.ID()+".") {
			t.Fatalf("after rotation: feeds %q, hooks %q", feeds, hooks)
		}
		onNew := New(st, Options{Secrets: boxOf(secretbox.New(k2))})
		if err := onNew.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := onNew.Get(ctx, "initech")
		if err != nil {
			t.Fatal(err)
		}
		f, ok := got.Feed("corp")
		if !ok || f.LDAP.BindPassword != ldapPassword {
			t.Fatalf("the feed under the new key only: %+v", f)
		}
		if h, err := onNew.webhook("initech", w.ID); err != nil || h.Secret != "hook-secret-0123456789abcdefghijklmnop" {
			t.Fatalf("the endpoint under the new key only: %+v, %v", h, err)
		}
		rep, err = ResealSecrets(ctx, st, secretbox.New(k2, k1), time.Now())
		if err != nil || rep.Secrets != 0 || rep.Current != 2 {
			t.Fatalf("ResealSecrets again = %+v, %v", rep, err)
		}
	})
}
