package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
)

// ConfigActor is the actor of the changes Apply makes.
const ConfigActor Actor = "config"

// ApplyReport says what Apply changed.
type ApplyReport struct {
	Created, Updated, Unchanged []string
	// NotInFile are the config-managed tenants the file no longer
	// declares: kept, and reported ("rosterd tenants prune" retires them).
	NotInFile []string
}

// Apply lays the file's tenants over the store: each is created or updated
// to match, with its SCIM connections and the hashes of their tokens, and
// marked managed_by config; then the snapshot is reloaded. A tenant the
// file no longer declares is never deleted, only reported. file names the
// file in the API's refusals. cfg has been validated.
func (r *Registry) Apply(ctx context.Context, cfg *config.Config, file string) (ApplyReport, error) {
	r.reload.Lock()
	defer r.reload.Unlock()
	layer := &staticLayer{file: file, tenants: map[string]*config.Tenant{}, webhooks: slices.Clone(cfg.Webhooks)}
	for i := range cfg.Tenants {
		layer.tenants[cfg.Tenants[i].ID] = cfg.Tenants[i].Clone()
	}
	var rep ApplyReport
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		var outcome string
		err := r.st.InTx(ctx, func(tx store.Tx) error {
			var err error
			outcome, err = r.applyTenant(ctx, tx, t)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("applying tenant %q of the configuration: %w", t.ID, err)
		}
		switch outcome {
		case "created":
			rep.Created = append(rep.Created, t.ID)
		case "updated":
			rep.Updated = append(rep.Updated, t.ID)
		default:
			rep.Unchanged = append(rep.Unchanged, t.ID)
		}
	}
	recs, err := r.st.ListTenants(ctx)
	if err != nil {
		return rep, err
	}
	for _, rec := range recs {
		if _, ok := layer.tenants[rec.ID]; !ok && rec.ManagedBy == store.ManagedByConfig && rec.RetiredAt.IsZero() {
			rep.NotInFile = append(rep.NotInFile, rec.ID)
			r.logger.Warn("a tenant the configuration managed is no longer in it; it is kept (rosterd tenants prune retires it)", "tenant", rec.ID)
		}
	}
	r.static.Store(layer)
	return rep, r.reloadLocked(ctx)
}

// applyTenant makes the store's tenant match the file's, in tx; it returns
// "created", "updated" or "".
func (r *Registry) applyTenant(ctx context.Context, tx store.Tx, t *config.Tenant) (string, error) {
	now := r.now().UTC()
	spec, err := encodeSpec(t)
	if err != nil {
		return "", err
	}
	outcome := ""
	old, err := tx.GetTenant(ctx, t.ID)
	switch {
	case err == nil:
		if old.Name != t.Name || old.ManagedBy != store.ManagedByConfig || old.APIMayExtend != t.APIMayExtend || !bytes.Equal(old.Spec, spec) {
			_, err = tx.UpdateTenant(ctx, t.ID, func(rec store.TenantRecord) (store.TenantRecord, error) {
				rec.Name, rec.ManagedBy, rec.APIMayExtend, rec.Spec, rec.UpdatedAt = t.Name, store.ManagedByConfig, t.APIMayExtend, spec, now
				return rec, nil
			})
			if err != nil {
				return "", err
			}
			outcome = "updated"
		}
	case isNotFound(err):
		rec := store.TenantRecord{ID: t.ID, Name: t.Name, ManagedBy: store.ManagedByConfig, APIMayExtend: t.APIMayExtend, Spec: spec, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateTenant(ctx, rec); err != nil {
			return "", err
		}
		outcome = "created"
	default:
		return "", err
	}

	conns, err := tx.SCIMConnections(ctx, t.ID)
	if err != nil {
		return "", err
	}
	byName := map[string]store.SCIMConnectionRecord{}
	for _, c := range conns {
		byName[c.Name] = c
	}
	var changes []string
	for _, fc := range t.SCIM {
		c, ok := byName[fc.Name]
		delete(byName, fc.Name)
		switch {
		case !ok:
			c = store.SCIMConnectionRecord{ID: uuid.NewString(), Tenant: t.ID, Name: fc.Name, Authoritative: fc.AuthoritativeEnabled(), ManagedBy: store.ManagedByConfig, CreatedAt: now}
			if err := tx.CreateSCIMConnection(ctx, c); err != nil {
				return "", err
			}
			changes = append(changes, "scim connection "+fc.Name+" created")
		case c.Authoritative != fc.AuthoritativeEnabled() || c.ManagedBy != store.ManagedByConfig:
			if _, err := tx.UpdateSCIMConnection(ctx, c.ID, func(old store.SCIMConnectionRecord) (store.SCIMConnectionRecord, error) {
				old.Authoritative, old.ManagedBy = fc.AuthoritativeEnabled(), store.ManagedByConfig
				return old, nil
			}); err != nil {
				return "", err
			}
			changes = append(changes, "scim connection "+fc.Name+" updated")
		}
		changed, err := applyTokens(ctx, tx, c, fc.AllTokens(), now)
		if err != nil {
			return "", err
		}
		if changed {
			changes = append(changes, "scim connection "+fc.Name+" tokens changed")
		}
	}
	// A connection the file managed and no longer declares goes, with its
	// tokens; one the API added stays.
	for _, c := range byName {
		if c.ManagedBy == store.ManagedByConfig {
			if err := tx.DeleteSCIMConnection(ctx, c.ID); err != nil {
				return "", err
			}
			changes = append(changes, "scim connection "+c.Name+" removed")
		}
	}
	if outcome != "" {
		if err := tx.SetTenantDomains(ctx, t.ID, t.Domains); err != nil {
			return "", fmt.Errorf("domains: %w", err)
		}
	}
	if outcome == "" && len(changes) == 0 {
		return "", nil
	}
	if outcome == "" {
		outcome = "updated"
	}
	after, _ := json.Marshal(auditView(t))
	var before []byte
	if old.ID != "" {
		if ot, err := decodeSpec(old.ID, old.Spec); err == nil {
			ot.Name = old.Name
			before = auditView(ot)
		}
	}
	action := "tenant." + outcome
	detail := "applied from the configuration file"
	if len(changes) > 0 {
		detail += ": " + joinWords(changes)
	}
	// The file's changes are audited; the event feed carries the
	// changes made through the API, which the platform asked for.
	if err := tx.Write(ctx, store.Changes{
		Audit: []store.AuditEvent{{Tenant: t.ID, At: now, Actor: string(ConfigActor), Source: "config", Action: action, Before: before, After: after, Detail: detail}},
	}); err != nil {
		return "", err
	}
	if _, err := tx.BumpRegistryVersion(ctx); err != nil {
		return "", err
	}
	return outcome, nil
}

// applyTokens makes the config-managed tokens of c the file's; tokens the
// API added stay.
func applyTokens(ctx context.Context, tx store.Tx, c store.SCIMConnectionRecord, secrets []string, now time.Time) (bool, error) {
	want := map[string]bool{}
	for _, s := range secrets {
		want[credential.Hash(s)] = true
	}
	have, err := tx.SCIMTokens(ctx, c.ID)
	if err != nil {
		return false, err
	}
	changed := false
	for _, tk := range have {
		if want[tk.Hash] {
			delete(want, tk.Hash)
			continue
		}
		if tk.ManagedBy == store.ManagedByConfig {
			if err := tx.DeleteSCIMToken(ctx, tk.ID); err != nil {
				return false, err
			}
			changed = true
		}
	}
	for _, s := range secrets {
		h := credential.Hash(s)
		if !want[h] {
			continue
		}
		delete(want, h)
		if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: uuid.NewString(), ConnectionID: c.ID, Tenant: c.Tenant, Hash: h,
			ManagedBy: store.ManagedByConfig, CreatedAt: now}); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

func joinWords(s []string) string {
	slices.Sort(s)
	out := ""
	for i, w := range s {
		if i > 0 {
			out += "; "
		}
		out += w
	}
	return out
}

// auditView is the tenant's settings as an audit line records them:
// without secrets.
func auditView(t *config.Tenant) json.RawMessage {
	b, err := specJSON(t)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// eventData is the payload of a registry event.
func eventData(tenant, typ string, settings []byte) []byte {
	b, _ := json.Marshal(map[string]any{"tenant": tenant, "type": typ, "settings": json.RawMessage(settings)})
	return b
}
