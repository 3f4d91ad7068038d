package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/secretbox"
	"github.com/rosterd/rosterd/store"
)

// Secrets a tenant's settings hold, which rosterd must use again (feed
// passwords): a tenant the API manages keeps them in its stored settings
// sealed with internal/secretbox under the key-encryption key, each bound
// to its tenant and place ("tenants/acme/feeds/hr/sftp.password"), so a
// value copied to another row or field does not open. A tenant of the file
// keeps them in the file and the store holds none. secretFields is the one
// list of them: sealing, opening, stripping, redacting and rotation all
// walk it, so a secret added to the settings is added there once.

// secretField is one secret of a tenant's settings.
type secretField struct {
	// name is its place, for the seal's associated data and for errors.
	name string
	p    *string
}

// secretFields returns every secret of t's settings.
func secretFields(t *config.Tenant) []secretField {
	var out []secretField
	for i := range t.Feeds {
		f := &t.Feeds[i]
		out = append(out,
			secretField{"feeds/" + f.Name + "/sftp.password", &f.File.SFTP.Password},
			secretField{"feeds/" + f.Name + "/ldap.bind_password", &f.LDAP.BindPassword},
			secretField{"feeds/" + f.Name + "/upload.token", &f.File.Upload.Token},
			secretField{"feeds/" + f.Name + "/upload.password", &f.File.Upload.Password})
	}
	return out
}

func secretAAD(tenantID string, f secretField) []byte {
	return []byte("tenants/" + tenantID + "/" + f.name)
}

// ErrNoSecretsKey: a secret must be sealed and no key-encryption key is
// configured.
var ErrNoSecretsKey = errors.New("tenant: no key-encryption key to seal secrets with")

// box is the key-encryption key's Box, loaded on first use (the key file
// is made only when a secret must be kept).
func (r *Registry) box() (*secretbox.Box, error) {
	if r.secrets == nil {
		return nil, ErrNoSecretsKey
	}
	return r.secrets()
}

// encodeAPISpec is the stored settings of a tenant the API manages: its
// secrets sealed.
func (r *Registry) encodeAPISpec(t *config.Tenant) ([]byte, error) {
	c := t.Clone()
	c.SCIM = nil
	fields := secretFields(c)
	for _, f := range fields {
		if *f.p == "" {
			continue
		}
		box, err := r.box()
		if err != nil {
			return nil, fmt.Errorf("storing the secret %s of tenant %q: %w", f.name, t.ID, err)
		}
		*f.p = string(box.Seal([]byte(*f.p), secretAAD(t.ID, f)))
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding the settings of tenant %q: %w", t.ID, err)
	}
	return b, nil
}

// openSecrets opens the sealed secrets of a tenant's stored settings in
// place. A secret that does not open is left empty and named in the
// error, and the others are opened: one feed's password must not take the
// tenant's SCIM and SAML down.
func (r *Registry) openSecrets(id string, spec *config.Tenant) error {
	var errs []error
	for _, f := range secretFields(spec) {
		if !secretbox.IsSealed([]byte(*f.p)) {
			continue
		}
		box, err := r.box()
		if err == nil {
			var plain []byte
			if plain, err = box.Open([]byte(*f.p), secretAAD(id, f)); err == nil {
				*f.p = string(plain)
				continue
			}
		}
		*f.p = ""
		errs = append(errs, fmt.Errorf("the secret %s of tenant %q: %w", f.name, id, err))
	}
	return errors.Join(errs...)
}

// ResealReport says what ResealSecrets did.
type ResealReport struct {
	// Tenants whose stored settings changed; Feeds and Webhooks the
	// rows of the API's feeds and endpoints whose secrets changed;
	// Secrets resealed in all of them; Current were under the primary
	// key already.
	Tenants, Feeds, Webhooks, Secrets, Current int
}

// ResealSecrets seals every secret the registry stores again under box's
// primary key, opening each with any key box holds: the step of a key
// rotation that leaves nothing under the old key. It is one transaction
// (a value is under the old key or the new one, never lost), moves the
// registry version so every replica reloads, and is safe to run again: a
// secret already under the primary key is left as it is. A secret that
// opens under none of box's keys stops it, naming the tenant and field,
// and nothing is written.
func ResealSecrets(ctx context.Context, st store.Store, box *secretbox.Box, now time.Time) (ResealReport, error) {
	var rep ResealReport
	recs, err := st.ListTenants(ctx)
	if err != nil {
		return rep, err
	}
	feeds, err := st.ListFeeds(ctx)
	if err != nil {
		return rep, err
	}
	hooks, err := st.ListWebhookEndpoints(ctx)
	if err != nil {
		return rep, err
	}
	err = st.InTx(ctx, func(tx store.Tx) error {
		rep = ResealReport{}
		for _, listed := range recs {
			if listed.ManagedBy == store.ManagedByConfig {
				continue // the file keeps its secrets; the row holds none
			}
			_, err := tx.UpdateTenant(ctx, listed.ID, func(rec store.TenantRecord) (store.TenantRecord, error) {
				spec, err := decodeSpec(rec.ID, rec.Spec)
				if err != nil {
					return rec, err
				}
				changed := 0
				for _, f := range secretFields(spec) {
					if !secretbox.IsSealed([]byte(*f.p)) {
						if *f.p != "" {
							return rec, fmt.Errorf("the secret %s of tenant %q is stored unsealed", f.name, rec.ID)
						}
						continue
					}
					out, did, err := box.Reseal([]byte(*f.p), secretAAD(rec.ID, f))
					if err != nil {
						return rec, fmt.Errorf("the secret %s of tenant %q: %w", f.name, rec.ID, err)
					}
					if !did {
						rep.Current++
						continue
					}
					*f.p, changed = string(out), changed+1
				}
				if changed == 0 {
					return rec, errUnchanged
				}
				b, err := json.Marshal(spec)
				if err != nil {
					return rec, err
				}
				rep.Tenants++
				rep.Secrets += changed
				rec.Spec = b
				return rec, nil
			})
			if err != nil && !errors.Is(err, errUnchanged) {
				return err
			}
		}
		if err := resealFeedRows(ctx, tx, feeds, hooks, box, &rep); err != nil {
			return err
		}
		if rep.Secrets == 0 {
			return nil
		}
		if err := tx.Write(ctx, store.Changes{Audit: []store.AuditEvent{{At: now, Actor: string(ConfigActor), Source: "cli", Action: "secrets.resealed",
			Detail: fmt.Sprintf("%d secret(s) of %d tenant(s), %d feed(s) and %d webhook endpoint(s) sealed again under key id %s", rep.Secrets, rep.Tenants, rep.Feeds, rep.Webhooks, box.KeyID())}}}); err != nil {
			return err
		}
		_, err := tx.BumpRegistryVersion(ctx)
		return err
	})
	return rep, err
}

// errUnchanged makes UpdateTenant write nothing for a tenant whose
// secrets are all under the primary key already.
var errUnchanged = errors.New("unchanged")

// resealFeedRows is ResealSecrets for the sealed secrets of the feeds and
// webhook endpoints the API added (tenant_feeds, tenant_webhooks: one
// sealed value a row), in the same transaction.
func resealFeedRows(ctx context.Context, tx store.Tx, feeds []store.FeedRecord, hooks []store.WebhookEndpointRecord, box *secretbox.Box, rep *ResealReport) error {
	for _, listed := range feeds {
		if len(listed.Secrets) == 0 {
			continue
		}
		out, did, err := box.Reseal(listed.Secrets, feedAAD(listed.ID))
		if err != nil {
			return fmt.Errorf("the secrets of feed %q of tenant %q: %w", listed.Name, listed.Tenant, err)
		}
		if !did {
			rep.Current++
			continue
		}
		if _, err := tx.UpdateFeed(ctx, listed.Tenant, listed.Name, func(rec store.FeedRecord) (store.FeedRecord, error) {
			rec.Secrets = out
			return rec, nil
		}); err != nil {
			return err
		}
		rep.Feeds++
		rep.Secrets++
	}
	for _, listed := range hooks {
		if len(listed.Secret) == 0 {
			continue
		}
		out, did, err := box.Reseal(listed.Secret, webhookAAD(listed.ID))
		if err != nil {
			return fmt.Errorf("the secret of webhook endpoint %s of tenant %q: %w", listed.ID, listed.Tenant, err)
		}
		if !did {
			rep.Current++
			continue
		}
		if _, err := tx.UpdateWebhookEndpoint(ctx, listed.Tenant, listed.ID, func(rec store.WebhookEndpointRecord) (store.WebhookEndpointRecord, error) {
			rec.Secret = out
			return rec, nil
		}); err != nil {
			return err
		}
		rep.Webhooks++
		rep.Secrets++
	}
	return nil
}
