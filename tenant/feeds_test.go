package tenant_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/store"
	"github.com/rosterd/rosterd/store/storetest"
	"github.com/rosterd/rosterd/tenant"
)

func testBox(t *testing.T) func() (*secretbox.Box, error) {
	k, _, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	box := secretbox.New(k)
	return func() (*secretbox.Box, error) { return box, nil }
}

const ldapFeedDoc = `{"name": "corp", "kind": "ldap", "schedule": "*/30 * * * *", "url": "ldaps://dc.acme.test",
	"bind_dn": "cn=rosterd,dc=acme,dc=test", "bind_password": "bind-secret-1", "base_dn": "dc=acme,dc=test"}`

// TestFeedsThroughTheRegistry: a feed and a webhook endpoint the API adds
// are stored with their secrets sealed, shown without them, used with
// them, seen by another registry over the same store, changed and
// removed; the file's tenants take them only with api_may_extend.
func TestFeedsThroughTheRegistry(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		secrets := testBox(t)
		reg := tenant.New(st, tenant.Options{Secrets: secrets})
		if _, err := reg.Apply(ctx, parseConfig(t, `
tenants:
  - id: acme
    feeds: [{name: hr, kind: file, source: "dir:///srv/drop/*.csv"}]
  - id: globex
    api_may_extend: true
`), "rosterd.yaml"); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreateTenant(ctx, "ops", []byte(`{"id": "initech"}`)); err != nil {
			t.Fatal(err)
		}

		f, err := reg.CreateFeed(ctx, "ops", "initech", []byte(ldapFeedDoc))
		if err != nil {
			t.Fatal(err)
		}
		if f.ManagedBy != store.ManagedByAPI || f.LDAP.BindPassword != "bind-secret-1" || f.LDAP.PageSize != 500 {
			t.Fatalf("created: %+v", f)
		}
		if v := string(f.View().Settings); strings.Contains(v, "bind-secret-1") || !strings.Contains(v, `"bind_password":"(redacted)"`) {
			t.Fatalf("the view shows the secret: %s", v)
		}
		recs, err := st.ListFeeds(ctx)
		if err != nil || len(recs) != 1 || strings.Contains(string(recs[0].Spec)+string(recs[0].Secrets), "bind-secret-1") || !secretbox.IsSealed(recs[0].Secrets) {
			t.Fatalf("stored: %+v, %v", recs, err)
		}
		audit, _ := st.ListTenantAudit(ctx, "initech", 0, 100)
		if last := audit[len(audit)-1]; last.Action != "feed.created" || strings.Contains(string(last.After), "bind-secret-1") {
			t.Fatalf("audit: %+v", last)
		}

		// Another replica opens the secret with the same key.
		other := tenant.New(st, tenant.Options{Secrets: secrets})
		if err := other.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if it, _ := other.Get(ctx, "initech"); len(it.Feeds()) != 1 || it.Feeds()[0].LDAP.BindPassword != "bind-secret-1" {
			t.Fatalf("the other replica's feeds: %+v", it.Feeds())
		}

		// A patch keeps what it leaves out, the secret too.
		f, err = reg.UpdateFeed(ctx, "ops", "initech", "corp", []byte(`{"schedule": "@every 1s"}`))
		if err != nil || f.Schedule != "@every 1s" || f.LDAP.BindPassword != "bind-secret-1" || f.Version != 2 {
			t.Fatalf("patched: %+v, %v", f, err)
		}
		var ce *config.Error
		if _, err := reg.UpdateFeed(ctx, "ops", "initech", "corp", []byte(`{"name": "other", "schedule": "bad"}`)); !errors.As(err, &ce) ||
			len(ce.Problems) != 2 || ce.Problems[0].Path != "name" || ce.Problems[1].Path != "schedule" {
			t.Fatalf("renaming and a bad schedule: %v", err)
		}
		if _, err := reg.CreateFeed(ctx, "ops", "initech", []byte(ldapFeedDoc)); !errors.Is(err, tenant.ErrExists) {
			t.Fatalf("the same name again: %v", err)
		}

		// The file's tenant refuses; the one that says api_may_extend
		// takes a feed, but not one named as the file's.
		var managed *tenant.ManagedError
		if _, err := reg.CreateFeed(ctx, "ops", "acme", []byte(ldapFeedDoc)); !errors.As(err, &managed) {
			t.Fatalf("a feed for a tenant of the file: %v", err)
		}
		if err := reg.DeleteFeed(ctx, "ops", "acme", "hr"); !errors.As(err, &managed) {
			t.Fatalf("deleting the file's feed: %v", err)
		}
		if _, err := reg.CreateFeed(ctx, "ops", "globex", []byte(ldapFeedDoc)); err != nil {
			t.Fatalf("api_may_extend: %v", err)
		}
		if g, _ := reg.Get(ctx, "globex"); len(g.Feeds()) != 1 {
			t.Fatalf("globex's feeds: %+v", g.Feeds())
		}
		// Applying the file again keeps what the API added.
		if _, err := reg.Apply(ctx, parseConfig(t, "tenants:\n  - id: acme\n    feeds: [{name: hr, kind: file, source: \"dir:///srv/drop/*.csv\"}]\n  - id: globex\n    api_may_extend: true\n"), "rosterd.yaml"); err != nil {
			t.Fatal(err)
		}
		if g, _ := reg.Get(ctx, "globex"); len(g.Feeds()) != 1 {
			t.Fatalf("globex's feeds after the file again: %+v", g.Feeds())
		}

		// Webhooks: the secret sealed, never shown.
		const hookSecret = "hook-secret-0123456789abcdefghijklmnop"
		w, err := reg.CreateWebhook(ctx, "ops", "initech", []byte(`{"url": "https://app.test/hooks", "secret": "`+hookSecret+`"}`))
		if err != nil || w.Secret != hookSecret || !strings.HasPrefix(w.ID, "wh_") || !w.View().Signed {
			t.Fatalf("webhook: %+v, %v", w, err)
		}
		hooks, _ := st.ListWebhookEndpoints(ctx)
		if len(hooks) != 1 || strings.Contains(string(hooks[0].Spec)+string(hooks[0].Secret), hookSecret) {
			t.Fatalf("stored endpoint: %+v", hooks)
		}
		if _, err := reg.CreateWebhook(ctx, "ops", "initech", []byte(`{"url": "http://app.test/hooks"}`)); !errors.As(err, &ce) || len(ce.Problems) != 2 {
			t.Fatalf("an http endpoint without a secret: %v", err)
		}
		w, err = reg.UpdateWebhook(ctx, "ops", "initech", w.ID, []byte(`{"url": "https://app.test/hooks2"}`))
		if err != nil || w.URL != "https://app.test/hooks2" || w.Secret != hookSecret {
			t.Fatalf("patched webhook: %+v, %v", w, err)
		}
		it, _ := reg.Get(ctx, "initech")
		if eps := it.WebhookEndpoints(); len(eps) != 1 || eps[0].ID != w.ID || eps[0].Tenants[0] != "initech" {
			t.Fatalf("endpoints: %+v", eps)
		}
		if err := reg.DeleteWebhook(ctx, "ops", "initech", w.ID); err != nil {
			t.Fatal(err)
		}
		if err := reg.DeleteWebhook(ctx, "ops", "initech", w.ID); !errors.Is(err, tenant.ErrFeedNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}

		if err := reg.DeleteFeed(ctx, "ops", "initech", "corp"); err != nil {
			t.Fatal(err)
		}
		if it, _ := reg.Get(ctx, "initech"); len(it.Feeds()) != 0 {
			t.Fatalf("after delete: %+v", it.Feeds())
		}
		if err := other.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if it, _ := other.Get(ctx, "initech"); len(it.Feeds()) != 0 {
			t.Fatalf("the other replica after delete: %+v", it.Feeds())
		}
	})
}

// TestFeedViewKeepsItsKindsKeys: a feed's view holds every key of its
// kind, zeros too, and none of the other kind's.
func TestFeedViewKeepsItsKindsKeys(t *testing.T) {
	f, err := config.DecodeFeed([]byte(`{"name": "hr", "kind": "file", "source": "dir:///srv/drop/*.csv", "archive": "", "sftp": {}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := string(tenant.Feed{Feed: *f}.View().Settings)
	for _, want := range []string{`"archive":""`, `"partial":false`, `"key":"email"`} {
		if !strings.Contains(v, want) {
			t.Errorf("the view %s lacks %s", v, want)
		}
	}
	for _, not := range []string{`"base_dn"`, `"bind_password"`, `"page_size"`} {
		if strings.Contains(v, not) {
			t.Errorf("the view %s has the ldap key %s", v, not)
		}
	}
}

// The file's webhook endpoints are listed under the id their dispatcher
// keeps its cursors and deliveries by (the file gives them none), and the
// API may read them but not change or remove them.
func TestConfigWebhooksHaveTheirDispatchersID(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		reg := tenant.New(st, tenant.Options{Secrets: testBox(t)})
		if _, err := reg.Apply(ctx, parseConfig(t, `
tenants:
  - id: acme
webhooks:
  - url: https://hooks.acme.test/rosterd
    secret: file-secret-0123456789abcdef0123456789
`), "rosterd.yaml"); err != nil {
			t.Fatal(err)
		}
		acme, err := reg.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		eps := acme.WebhookEndpoints()
		want := webhook.EndpointID("https://hooks.acme.test/rosterd")
		if len(eps) != 1 || eps[0].ID != want || eps[0].View().ID != want || eps[0].ManagedBy != store.ManagedByConfig {
			t.Fatalf("the file's endpoint: %+v, want id %s", eps, want)
		}
		var managed *tenant.ManagedError
		if _, err := reg.UpdateWebhook(ctx, "ops", "acme", want, []byte(`{"url": "https://elsewhere.test/"}`)); !errors.As(err, &managed) {
			t.Fatalf("updating the file's endpoint: %v, want a ManagedError", err)
		}
		if err := reg.DeleteWebhook(ctx, "ops", "acme", want); !errors.As(err, &managed) {
			t.Fatalf("deleting the file's endpoint: %v, want a ManagedError", err)
		}
		if err := reg.DeleteWebhook(ctx, "ops", "acme", "nope"); !errors.Is(err, tenant.ErrFeedNotFound) {
			t.Fatalf("deleting no endpoint: %v", err)
		}
	})
}

// TestUploadFeedThroughTheRegistry: an API feed with source: upload is
// taken only when the daemon's drop box is enabled (Options.DropBox), in a
// feed document as in a tenant's; its upload token and SFTP password are
// stored sealed, opened for every replica's drop box, and never shown.
func TestUploadFeedThroughTheRegistry(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Backend) {
		ctx := context.Background()
		secrets := testBox(t)
		const doc = `{"name": "hr", "kind": "file", "source": "upload", "run_on_upload": true,
			"upload": {"token": "hr-upload-token-0123456789abcdef0123", "password": "hr-sftp-password-0123"}}`
		off := tenant.New(st, tenant.Options{Secrets: secrets})
		if _, err := off.Apply(ctx, parseConfig(t, "tenants: [{id: acme, api_may_extend: true}]\n"), "rosterd.yaml"); err != nil {
			t.Fatal(err)
		}
		var ce *config.Error
		if _, err := off.CreateFeed(ctx, "ops", "acme", []byte(doc)); !errors.As(err, &ce) || ce.Problems[0].Path != "source" ||
			!strings.Contains(ce.Problems[0].Message, "enable drop_box") {
			t.Fatalf("an upload feed without the drop box: %v", err)
		}
		if _, err := off.CreateTenant(ctx, "ops", []byte(`{"id": "initech", "feeds": [`+doc+`]}`)); !errors.As(err, &ce) || ce.Problems[0].Path != "feeds[0].source" {
			t.Fatalf("a tenant's upload feed without the drop box: %v", err)
		}

		reg := tenant.New(st, tenant.Options{Secrets: secrets, DropBox: &config.DropBox{SFTPListen: "127.0.0.1:2222"}})
		if err := reg.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		f, err := reg.CreateFeed(ctx, "ops", "acme", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if v := string(f.View().Settings); strings.Contains(v, "hr-upload-token") || strings.Contains(v, "hr-sftp-password") || strings.Count(v, `"(redacted)"`) != 2 {
			t.Fatalf("the view: %s", v)
		}
		recs, err := st.ListFeeds(ctx)
		if err != nil || len(recs) != 1 || strings.Contains(string(recs[0].Spec)+string(recs[0].Secrets), "hr-") || !secretbox.IsSealed(recs[0].Secrets) {
			t.Fatalf("stored: %+v, %v", recs, err)
		}
		other := tenant.New(st, tenant.Options{Secrets: secrets})
		if err := other.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		acme, _ := other.Get(ctx, "acme")
		if got, ok := acme.Feed("hr"); !ok || got.File.Upload.Token != "hr-upload-token-0123456789abcdef0123" || got.File.Upload.Password != "hr-sftp-password-0123" || !got.File.RunOnUpload {
			t.Fatalf("the other replica's feed: %+v", got)
		}
		// A patch keeps the sealed secrets it leaves out.
		if f, err = reg.UpdateFeed(ctx, "ops", "acme", "hr", []byte(`{"run_on_upload": false}`)); err != nil || f.File.Upload.Password != "hr-sftp-password-0123" {
			t.Fatalf("patched: %+v %v", f.File, err)
		}
	})
}
