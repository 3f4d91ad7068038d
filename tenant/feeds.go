package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/notify/webhook"
	"github.com/rosterd/rosterd/store"
)

// The feeds and webhook endpoints the admin API adds to a tenant. Those the
// file declares stay in the file (a tenant's spec); these are rows of
// their own, so that a file's tenant with api_may_extend keeps them when
// the file is applied again. Their secrets (SFTP password and key, LDAP
// bind password, the drop box's upload token and SFTP password, webhook
// secret) are sealed with AES-GCM under the
// key-encryption key, and no view shows them.

// ErrFeedNotFound: no feed or webhook endpoint of that name or id in the
// tenant.
var ErrFeedNotFound = errors.New("tenant: no such feed or webhook")

// Feed is one feed of a tenant as it is now, its secrets included: what
// the scheduler runs.
type Feed struct {
	config.Feed
	// ID is the stored row's id; "" for a feed the file declares.
	ID        string
	ManagedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version grows with every change of the feed (1 for the file's).
	Version int64
}

// WebhookEndpoint is one receiver of a tenant's events, its secret
// included: what the webhook dispatcher signs with.
type WebhookEndpoint struct {
	// ID names the endpoint (delivery records, cursors, the lock).
	ID string
	config.Webhook
	ManagedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// FeedView is a feed as the admin API shows it: no secret.
type FeedView struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	ManagedBy string          `json:"managed_by"`
	CreatedAt time.Time       `json:"created_at,omitzero"`
	UpdatedAt time.Time       `json:"updated_at,omitzero"`
	Version   int64           `json:"version"`
	Settings  json.RawMessage `json:"settings"`
}

// WebhookView is an endpoint as the admin API shows it: whether it signs,
// never its secret.
type WebhookView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Insecure  bool      `json:"insecure"`
	Signed    bool      `json:"signed"`
	ManagedBy string    `json:"managed_by"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Version   int64     `json:"version"`
}

// feedSecrets is what is sealed of a feed.
// The upload token and password of a source: upload feed are only checked
// (the drop box keeps their SHA-256), but every replica's drop box must
// be handed them, so they are sealed like the others rather than hashed
// here; the token made by POST …/upload-token stays a hash only.
type feedSecrets struct {
	SFTPPassword   string `json:"sftp_password,omitempty"`
	SFTPPrivateKey string `json:"sftp_private_key,omitempty"`
	BindPassword   string `json:"bind_password,omitempty"`
	UploadToken    string `json:"upload_token,omitempty"`
	UploadPassword string `json:"upload_password,omitempty"`
}

func secretsOf(f *config.Feed) (feedSecrets, *config.Feed) {
	c := f.Clone()
	s := feedSecrets{SFTPPassword: c.File.SFTP.Password, SFTPPrivateKey: c.File.SFTP.PrivateKey, BindPassword: c.LDAP.BindPassword,
		UploadToken: c.File.Upload.Token, UploadPassword: c.File.Upload.Password}
	c.File.SFTP.Password, c.File.SFTP.PrivateKey, c.LDAP.BindPassword = "", "", ""
	c.File.Upload.Token, c.File.Upload.Password = "", ""
	return s, c
}

// feedSecretFields are the secrets of a feed, as feedJSON redacts them.
func feedSecretFields(c *config.Feed) []*string {
	return []*string{&c.File.SFTP.Password, &c.File.SFTP.PrivateKey, &c.LDAP.BindPassword, &c.File.Upload.Token, &c.File.Upload.Password}
}

func feedAAD(id string) []byte    { return []byte("rosterd feed secrets " + id) }
func webhookAAD(id string) []byte { return []byte("rosterd webhook secret " + id) }

// Feeds returns the tenant's feeds: the file's, then those the API added,
// by name.
func (t *Tenant) Feeds() []Feed {
	var out []Feed
	for _, f := range t.spec.Feeds {
		out = append(out, Feed{Feed: *f.Clone(), ManagedBy: store.ManagedByConfig, Version: 1})
	}
	for _, f := range t.feeds {
		f.Feed = *f.Feed.Clone()
		out = append(out, f)
	}
	return out
}

// Feed returns the tenant's feed of that name.
func (t *Tenant) Feed(name string) (Feed, bool) {
	for _, f := range t.Feeds() {
		if f.Name == name {
			return f, true
		}
	}
	return Feed{}, false
}

// WebhookEndpoints returns the endpoints that receive the tenant's events:
// the file's (with their EndpointID left to the dispatcher, "") and those
// the API added to the tenant.
func (t *Tenant) WebhookEndpoints() []WebhookEndpoint {
	var out []WebhookEndpoint
	for _, w := range t.webhooks {
		w.Tenants = slices.Clone(w.Tenants)
		// The file gives its endpoints no id: theirs is the one their
		// dispatcher files its cursors and deliveries under.
		out = append(out, WebhookEndpoint{ID: webhook.EndpointID(w.URL), Webhook: w, ManagedBy: store.ManagedByConfig})
	}
	return append(out, slices.Clone(t.hooks)...)
}

// View is the feed as the admin API shows it.
func (f Feed) View() FeedView {
	return FeedView{Name: f.Name, Kind: f.Kind, ManagedBy: f.ManagedBy, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, Version: f.Version,
		Settings: feedJSON(&f.Feed)}
}

// View is the endpoint as the admin API shows it.
func (w WebhookEndpoint) View() WebhookView {
	return WebhookView{ID: w.ID, URL: withoutPassword(w.URL), Insecure: w.Insecure, Signed: w.Secret != "", ManagedBy: w.ManagedBy,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, Version: w.Version}
}

// withoutPassword redacts a password in a URL's user info.
func withoutPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	return u.String()
}

// feedJSON is the feed's settings with the file's keys, secrets redacted.
func feedJSON(f *config.Feed) json.RawMessage {
	c := f.Clone()
	for _, s := range feedSecretFields(c) {
		if *s != "" {
			*s = redacted
		}
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil {
		return json.RawMessage(`{}`)
	}
	// Both kinds' keys sit in one mapping: leave out the other kind's,
	// as the file does; every key of the feed's own kind stays, zeros
	// too ("archive": "" says files stay where they are).
	var other reflect.Type
	switch f.Kind {
	case "file":
		other = reflect.TypeFor[config.LDAPFeed]()
	case "ldap":
		other = reflect.TypeFor[config.FileFeed]()
	}
	if other != nil {
		for i := range other.NumField() {
			name, _, _ := strings.Cut(other.Field(i).Tag.Get("yaml"), ",")
			delete(m, name)
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// loadFeeds reads the API's feeds and endpoints into per-tenant lists;
// a row that does not decode or open is logged and left out.
func (r *Registry) loadFeeds(ctx context.Context) (map[string][]Feed, map[string][]WebhookEndpoint, error) {
	recs, err := r.st.ListFeeds(ctx)
	if err != nil {
		return nil, nil, err
	}
	hooks, err := r.st.ListWebhookEndpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	feeds := map[string][]Feed{}
	for _, rec := range recs {
		var f config.Feed
		if err := json.Unmarshal(rec.Spec, &f); err != nil {
			r.logger.Error("feed left out of the registry", "tenant", rec.Tenant, "feed", rec.Name, "err", err)
			continue
		}
		if len(rec.Secrets) > 0 {
			var s feedSecrets
			if err := r.open(rec.Secrets, feedAAD(rec.ID), &s); err != nil {
				r.logger.Error("feed left out of the registry: its secrets do not open", "tenant", rec.Tenant, "feed", rec.Name, "err", err)
				continue
			}
			f.File.SFTP.Password, f.File.SFTP.PrivateKey, f.LDAP.BindPassword = s.SFTPPassword, s.SFTPPrivateKey, s.BindPassword
			f.File.Upload.Token, f.File.Upload.Password = s.UploadToken, s.UploadPassword
		}
		feeds[rec.Tenant] = append(feeds[rec.Tenant], Feed{Feed: f, ID: rec.ID, ManagedBy: store.ManagedByAPI, CreatedAt: rec.CreatedAt,
			UpdatedAt: rec.UpdatedAt, Version: rec.Version})
	}
	endpoints := map[string][]WebhookEndpoint{}
	for _, rec := range hooks {
		var w config.Webhook
		if err := json.Unmarshal(rec.Spec, &w); err != nil {
			r.logger.Error("webhook endpoint left out of the registry", "tenant", rec.Tenant, "endpoint", rec.ID, "err", err)
			continue
		}
		if len(rec.Secret) > 0 {
			var secret string
			if err := r.open(rec.Secret, webhookAAD(rec.ID), &secret); err != nil {
				r.logger.Error("webhook endpoint left out of the registry: its secret does not open", "tenant", rec.Tenant, "endpoint", rec.ID, "err", err)
				continue
			}
			w.Secret = secret
		}
		w.Tenants = []string{rec.Tenant}
		endpoints[rec.Tenant] = append(endpoints[rec.Tenant], WebhookEndpoint{ID: rec.ID, Webhook: w, ManagedBy: store.ManagedByAPI,
			CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Version: rec.Version})
	}
	return feeds, endpoints, nil
}

func (r *Registry) open(sealed, aad []byte, v any) error {
	box, err := r.box()
	if err != nil {
		return err
	}
	plain, err := box.Open(sealed, aad)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}

// seal seals v's JSON for the row aad names; nil for no secret.
func (r *Registry) seal(v any, empty bool, aad []byte) ([]byte, error) {
	if empty {
		return nil, nil
	}
	box, err := r.box()
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return box.Seal(plain, aad), nil
}

// nameProblem refuses a document that renames what it changes.
func nameProblem(doc []byte, key, want, what string) *config.Problem {
	var probe map[string]json.RawMessage
	if json.Unmarshal(doc, &probe) != nil {
		return nil
	}
	raw, ok := probe[key]
	if !ok {
		return nil
	}
	var got string
	if json.Unmarshal(raw, &got) == nil && got == want {
		return nil
	}
	return &config.Problem{Path: key, Message: fmt.Sprintf("a %s's %s cannot change (it is %q)", what, key, want)}
}

// withProblem puts p first among err's problems (err may be nil).
func withProblem(p *config.Problem, err error) error {
	if p == nil {
		return err
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		ce.Problems = append([]config.Problem{*p}, ce.Problems...)
		return ce
	}
	return &config.Error{Problems: []config.Problem{*p}}
}

// CreateFeed adds a feed to a live tenant from an API document (the keys
// of a feeds[] entry of the file, config.DecodeFeed). A tenant of the file
// takes one only with api_may_extend; a name the tenant has is ErrExists.
func (r *Registry) CreateFeed(ctx context.Context, actor Actor, tenantID string, doc []byte) (Feed, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return Feed{}, err
	}
	if err := r.mayExtend(t, fmt.Sprintf("tenant %q", tenantID)); err != nil {
		return Feed{}, err
	}
	f, err := config.DecodeFeed(doc, nil, r.dropBox)
	if err != nil {
		return Feed{}, err
	}
	if _, taken := t.Feed(f.Name); taken {
		return Feed{}, fmt.Errorf("%w: a feed named %q in tenant %q", ErrExists, f.Name, tenantID)
	}
	id := uuid.NewString()
	secrets, spec := secretsOf(f)
	sealed, err := r.seal(secrets, secrets == (feedSecrets{}), feedAAD(id))
	if err != nil {
		return Feed{}, err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return Feed{}, err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.CreateFeed(ctx, store.FeedRecord{ID: id, Tenant: tenantID, Name: f.Name, Spec: specJSON, Secrets: sealed, CreatedAt: now, UpdatedAt: now}); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "feed.created", nil, feedJSON(f), "feed "+f.Name), nil
	})
	if errors.Is(err, ErrExists) {
		return Feed{}, fmt.Errorf("%w: a feed named %q in tenant %q", ErrExists, f.Name, tenantID)
	}
	if err != nil {
		return Feed{}, err
	}
	return r.feed(tenantID, f.Name)
}

func (r *Registry) feed(tenantID, name string) (Feed, error) {
	t, ok := r.Lookup(tenantID)
	if !ok {
		return Feed{}, fmt.Errorf("%w: %q", ErrNotFound, tenantID)
	}
	f, ok := t.Feed(name)
	if !ok {
		return Feed{}, fmt.Errorf("%w: feed %q of tenant %q", ErrFeedNotFound, name, tenantID)
	}
	return f, nil
}

// apiFeed is a feed of a live tenant that the API may change: one it made.
func (r *Registry) apiFeed(ctx context.Context, tenantID, name string) (Feed, error) {
	if _, err := r.Get(ctx, tenantID); err != nil {
		return Feed{}, err
	}
	f, err := r.feed(tenantID, name)
	if err != nil {
		return Feed{}, err
	}
	if f.ManagedBy == store.ManagedByConfig {
		return Feed{}, &ManagedError{File: r.file(), What: fmt.Sprintf("feed %q of tenant %q", name, tenantID)}
	}
	return f, nil
}

// UpdateFeed changes a feed the API made: each key of doc replaces that
// key's value, the others (secrets too) stay. Its name cannot change.
func (r *Registry) UpdateFeed(ctx context.Context, actor Actor, tenantID, name string, doc []byte) (Feed, error) {
	old, err := r.apiFeed(ctx, tenantID, name)
	if err != nil {
		return Feed{}, err
	}
	f, err := config.DecodeFeed(doc, &old.Feed, r.dropBox)
	if err = withProblem(nameProblem(doc, "name", name, "feed"), err); err != nil {
		return Feed{}, err
	}
	secrets, spec := secretsOf(f)
	sealed, err := r.seal(secrets, secrets == (feedSecrets{}), feedAAD(old.ID))
	if err != nil {
		return Feed{}, err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return Feed{}, err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if _, err := tx.UpdateFeed(ctx, tenantID, name, func(rec store.FeedRecord) (store.FeedRecord, error) {
			rec.Spec, rec.Secrets, rec.UpdatedAt = specJSON, sealed, now
			return rec, nil
		}); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "feed.updated", feedJSON(&old.Feed), feedJSON(f), "feed "+name), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Feed{}, fmt.Errorf("%w: feed %q of tenant %q", ErrFeedNotFound, name, tenantID)
	}
	if err != nil {
		return Feed{}, err
	}
	return r.feed(tenantID, name)
}

// DeleteFeed removes a feed the API made: it is scheduled no more on any
// replica; its runs and the cards' claims of it stay.
func (r *Registry) DeleteFeed(ctx context.Context, actor Actor, tenantID, name string) error {
	old, err := r.apiFeed(ctx, tenantID, name)
	if err != nil {
		return err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.DeleteFeed(ctx, tenantID, name); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "feed.deleted", feedJSON(&old.Feed), nil, "feed "+name), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: feed %q of tenant %q", ErrFeedNotFound, name, tenantID)
	}
	return err
}

// CreateWebhook adds an endpoint that receives a live tenant's events,
// from an API document (url, secret, insecure: config.DecodeWebhook).
func (r *Registry) CreateWebhook(ctx context.Context, actor Actor, tenantID string, doc []byte) (WebhookEndpoint, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	if err := r.mayExtend(t, fmt.Sprintf("tenant %q", tenantID)); err != nil {
		return WebhookEndpoint{}, err
	}
	w, err := config.DecodeWebhook(doc, nil)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	id := "wh_" + uuid.NewString()
	if err := r.writeWebhook(ctx, actor, tenantID, id, nil, w, true); err != nil {
		return WebhookEndpoint{}, err
	}
	return r.webhook(tenantID, id)
}

// UpdateWebhook changes an endpoint the API made; a key left out (the
// secret too) stays.
func (r *Registry) UpdateWebhook(ctx context.Context, actor Actor, tenantID, id string, doc []byte) (WebhookEndpoint, error) {
	if _, err := r.Get(ctx, tenantID); err != nil {
		return WebhookEndpoint{}, err
	}
	old, err := r.webhook(tenantID, id)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	base := old.Webhook
	base.Tenants = nil
	w, err := config.DecodeWebhook(doc, &base)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	if err := r.writeWebhook(ctx, actor, tenantID, id, &old, w, false); err != nil {
		return WebhookEndpoint{}, err
	}
	return r.webhook(tenantID, id)
}

func (r *Registry) writeWebhook(ctx context.Context, actor Actor, tenantID, id string, old *WebhookEndpoint, w *config.Webhook, create bool) error {
	sealed, err := r.seal(w.Secret, w.Secret == "", webhookAAD(id))
	if err != nil {
		return err
	}
	spec := *w
	spec.Secret, spec.SecretFile, spec.Tenants = "", "", nil
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	after := WebhookEndpoint{ID: id, Webhook: *w, ManagedBy: store.ManagedByAPI}.View()
	return r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if create {
			if err := tx.CreateWebhookEndpoint(ctx, store.WebhookEndpointRecord{ID: id, Tenant: tenantID, Spec: specJSON, Secret: sealed, CreatedAt: now, UpdatedAt: now}); err != nil {
				return store.Changes{}, err
			}
			return record(tenantID, actor, now, "webhook.created", nil, after, "webhook "+id), nil
		}
		if _, err := tx.UpdateWebhookEndpoint(ctx, tenantID, id, func(rec store.WebhookEndpointRecord) (store.WebhookEndpointRecord, error) {
			rec.Spec, rec.Secret, rec.UpdatedAt = specJSON, sealed, now
			return rec, nil
		}); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "webhook.updated", old.View(), after, "webhook "+id), nil
	})
}

// DeleteWebhook removes an endpoint the API made: no replica delivers to
// it any more.
func (r *Registry) DeleteWebhook(ctx context.Context, actor Actor, tenantID, id string) error {
	if _, err := r.Get(ctx, tenantID); err != nil {
		return err
	}
	old, err := r.webhook(tenantID, id)
	if err != nil {
		return err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.DeleteWebhookEndpoint(ctx, tenantID, id); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "webhook.deleted", old.View(), nil, "webhook "+id), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: webhook %q of tenant %q", ErrFeedNotFound, id, tenantID)
	}
	return err
}

// webhook is the tenant's API endpoint of that id.
func (r *Registry) webhook(tenantID, id string) (WebhookEndpoint, error) {
	t, ok := r.Lookup(tenantID)
	if !ok {
		return WebhookEndpoint{}, fmt.Errorf("%w: %q", ErrNotFound, tenantID)
	}
	for _, w := range t.hooks {
		if w.ID == id {
			return w, nil
		}
	}
	for _, w := range t.webhooks {
		if webhook.EndpointID(w.URL) == id {
			return WebhookEndpoint{}, &ManagedError{File: r.file(), What: fmt.Sprintf("webhook %q of tenant %q", id, tenantID)}
		}
	}
	return WebhookEndpoint{}, fmt.Errorf("%w: webhook %q of tenant %q", ErrFeedNotFound, id, tenantID)
}
