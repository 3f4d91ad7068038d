package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/store"
)

// Errors of the registry's changes, which the admin API maps to statuses.
var (
	// ErrExists: a tenant or connection of that id or name exists.
	ErrExists = errors.New("tenant: already exists")
	// ErrConnectionNotFound: no such SCIM connection (or token) in the
	// tenant.
	ErrConnectionNotFound = errors.New("tenant: no such SCIM connection")
)

// ManagedError refuses a change to what the configuration file manages.
type ManagedError struct {
	// File is the configuration file; What names the thing refused.
	File, What string
}

func (e *ManagedError) Error() string {
	return fmt.Sprintf("%s is managed by the configuration file %s: change it there (or set api_may_extend: true on the tenant to add to it through the API)", e.What, e.File)
}

// Actor is who asks for a change: an admin key's name, for the audit line
// and the event; ConfigActor for the file (rosterd tenants prune).
type Actor string

func (a Actor) audited() string {
	if a == ConfigActor {
		return string(ConfigActor)
	}
	return "admin:" + string(a)
}

func (a Actor) source() string {
	if a == ConfigActor {
		return "config"
	}
	return "admin"
}

// change runs fn in one transaction with the registry's version moved on,
// then reloads this process's snapshot (the other replicas learn of it by
// Watch). audit and events of the change are written in the same
// transaction.
func (r *Registry) change(ctx context.Context, fn func(tx store.Tx, now time.Time) (store.Changes, error)) error {
	r.reload.Lock()
	defer r.reload.Unlock()
	now := r.now().UTC()
	err := r.st.InTx(ctx, func(tx store.Tx) error {
		ch, err := fn(tx, now)
		if err != nil {
			return err
		}
		if err := tx.Write(ctx, ch); err != nil {
			return err
		}
		_, err = tx.BumpRegistryVersion(ctx)
		return err
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	if err != nil {
		return err
	}
	return r.reloadLocked(ctx)
}

// record is the audit line and the event of one change.
func record(tenantID string, actor Actor, now time.Time, action string, before, after any, detail string) store.Changes {
	b, _ := marshalOrNil(before)
	a, _ := marshalOrNil(after)
	data, _ := json.Marshal(map[string]any{"tenant": tenantID, "type": action, "before": json.RawMessage(orNull(b)), "after": json.RawMessage(orNull(a))})
	return store.Changes{
		Audit:  []store.AuditEvent{{Tenant: tenantID, At: now, Actor: actor.audited(), Source: actor.source(), Action: action, Before: b, After: a, Detail: detail}},
		Events: []store.Event{{Tenant: tenantID, Type: action, At: now, Actor: actor.audited(), Source: actor.source(), Data: data}},
	}
}

func marshalOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

func orNull(b []byte) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

func (r *Registry) file() string {
	if f := r.static.Load().file; f != "" {
		return f
	}
	return "(the configuration)"
}

// CreateTenant creates a tenant from an API document (config.DecodeTenant:
// the keys of a tenants[] entry of the file), managed_by api. The document
// may not declare SCIM connections: they have endpoints of their own.
func (r *Registry) CreateTenant(ctx context.Context, actor Actor, doc []byte) (*Tenant, error) {
	spec, err := config.DecodeTenant(doc, nil, r.dropBox)
	if err != nil {
		return nil, err
	}
	if err := r.apiOnly(spec); err != nil {
		return nil, err
	}
	stored, err := r.encodeAPISpec(spec)
	if err != nil {
		return nil, err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		rec := store.TenantRecord{ID: spec.ID, Name: spec.Name, ManagedBy: store.ManagedByAPI, Spec: stored, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateTenant(ctx, rec); err != nil {
			return store.Changes{}, err
		}
		if err := tx.SetTenantDomains(ctx, spec.ID, spec.Domains); err != nil {
			return store.Changes{}, domainsTaken(err)
		}
		return record(spec.ID, actor, now, "tenant.created", nil, auditView(spec), ""), nil
	})
	if errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("%w: tenant %q", ErrExists, spec.ID)
	}
	if err != nil {
		return nil, err
	}
	return r.mustGet(spec.ID)
}

// domainsTaken says that a domain belongs to another tenant (one that
// claimed it on another replica a moment ago).
func domainsTaken(err error) error {
	if errors.Is(err, store.ErrAlreadyExists) {
		return &config.Error{Problems: []config.Problem{{Path: "domains", Message: "a domain of the list belongs to another tenant"}}}
	}
	return err
}

// domainProblems names each domain of t another tenant holds.
func (r *Registry) domainProblems(t *config.Tenant) []config.Problem {
	var problems []config.Problem
	s := r.snap.Load()
	for i, d := range t.Domains {
		if owner, ok := s.domains[d]; ok && owner != t.ID {
			problems = append(problems, config.Problem{Path: fmt.Sprintf("domains[%d]", i), Message: fmt.Sprintf("domain %q belongs to tenant %q: a domain belongs to one tenant", d, owner)})
		}
	}
	return problems
}

// apiOnly refuses what the API does not take in a tenant document.
func (r *Registry) apiOnly(t *config.Tenant) error {
	problems := r.domainProblems(t)
	if len(t.SCIM) > 0 {
		problems = append(problems, config.Problem{Path: "scim", Message: "create SCIM connections with POST …/scim-connections"})
	}
	if len(t.Feeds) > 0 {
		problems = append(problems, config.Problem{Path: "feeds", Message: "create feeds with POST …/feeds"})
	}
	if t.APIMayExtend {
		problems = append(problems, config.Problem{Path: "api_may_extend", Message: "applies only to tenants of the configuration file"})
	}
	if len(problems) > 0 {
		return &config.Error{Problems: problems}
	}
	return nil
}

func (r *Registry) mustGet(id string) (*Tenant, error) {
	t, ok := r.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return t, nil
}

// UpdateTenant changes a tenant's settings: each key of doc replaces that
// key's value, the others stay. A tenant of the file is refused.
func (r *Registry) UpdateTenant(ctx context.Context, actor Actor, id string, doc []byte) (*Tenant, error) {
	old, ok := r.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if old.managedBy == store.ManagedByConfig {
		return nil, &ManagedError{File: r.file(), What: fmt.Sprintf("tenant %q", id)}
	}
	spec, err := config.DecodeTenant(doc, old.spec, r.dropBox)
	var probe struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(doc, &probe) == nil && probe.ID != nil && *probe.ID != id {
		// Said with the document's other problems, if it has any.
		idProblem := config.Problem{Path: "id", Message: fmt.Sprintf("a tenant's id cannot change (it is %q)", id)}
		var ce *config.Error
		if errors.As(err, &ce) {
			ce.Problems = append([]config.Problem{idProblem}, ce.Problems...)
			return nil, ce
		}
		return nil, &config.Error{Problems: []config.Problem{idProblem}}
	}
	if err != nil {
		return nil, err
	}
	if err := r.apiOnly(spec); err != nil {
		return nil, err
	}
	stored, err := r.encodeAPISpec(spec)
	if err != nil {
		return nil, err
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		_, err := tx.UpdateTenant(ctx, id, func(rec store.TenantRecord) (store.TenantRecord, error) {
			if rec.ManagedBy == store.ManagedByConfig {
				return rec, &ManagedError{File: r.file(), What: fmt.Sprintf("tenant %q", id)}
			}
			rec.Name, rec.Spec, rec.UpdatedAt = spec.Name, stored, now
			return rec, nil
		})
		if err != nil {
			return store.Changes{}, err
		}
		if err := tx.SetTenantDomains(ctx, id, spec.Domains); err != nil {
			return store.Changes{}, domainsTaken(err)
		}
		return record(id, actor, now, "tenant.updated", auditView(old.spec), auditView(spec), ""), nil
	})
	if err != nil {
		return nil, err
	}
	return r.mustGet(id)
}

// RetireTenant retires a tenant: SCIM, SAML and its feeds stop answering
// for it; its cards and audit stay. A tenant of the file is refused
// (rosterd tenants prune retires those the file no longer declares).
func (r *Registry) RetireTenant(ctx context.Context, actor Actor, id string) (*Tenant, error) {
	return r.setRetired(ctx, actor, id, true)
}

// RestoreTenant brings a retired tenant back.
func (r *Registry) RestoreTenant(ctx context.Context, actor Actor, id string) (*Tenant, error) {
	return r.setRetired(ctx, actor, id, false)
}

func (r *Registry) setRetired(ctx context.Context, actor Actor, id string, retire bool) (*Tenant, error) {
	old, ok := r.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if old.managedBy == store.ManagedByConfig && retire {
		if _, inFile := r.static.Load().tenants[id]; inFile {
			return nil, &ManagedError{File: r.file(), What: fmt.Sprintf("tenant %q", id)}
		}
	}
	action := "tenant.retired"
	if !retire {
		action = "tenant.restored"
	}
	if old.Retired() == retire {
		return old, nil
	}
	err := r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		_, err := tx.UpdateTenant(ctx, id, func(rec store.TenantRecord) (store.TenantRecord, error) {
			rec.RetiredAt, rec.UpdatedAt = time.Time{}, now
			if retire {
				rec.RetiredAt = now
			}
			return rec, nil
		})
		if err != nil {
			return store.Changes{}, err
		}
		return record(id, actor, now, action, nil, nil, ""), nil
	})
	if err != nil {
		return nil, err
	}
	return r.mustGet(id)
}

// mayExtend refuses an addition to a tenant of the file unless the file
// says api_may_extend.
func (r *Registry) mayExtend(t *Tenant, what string) error {
	if t.managedBy == store.ManagedByConfig && !t.apiMayExtend {
		return &ManagedError{File: r.file(), What: what}
	}
	return nil
}

// SCIMConnectionInput is what creates a SCIM connection.
type SCIMConnectionInput struct {
	Name string `json:"name"`
	// Authoritative: nil means true.
	Authoritative *bool `json:"authoritative"`
}

// CreateSCIMConnection adds a SCIM connection to a live tenant, with one
// bearer token, which is returned this once (only its hash is kept).
func (r *Registry) CreateSCIMConnection(ctx context.Context, actor Actor, tenantID string, in SCIMConnectionInput) (SCIMConnection, string, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return SCIMConnection{}, "", err
	}
	if err := r.mayExtend(t, fmt.Sprintf("tenant %q", tenantID)); err != nil {
		return SCIMConnection{}, "", err
	}
	if err := config.ValidateSCIMConnectionName(in.Name); err != nil {
		return SCIMConnection{}, "", err
	}
	secret, err := credential.Generate(credential.SCIMTokenPrefix)
	if err != nil {
		return SCIMConnection{}, "", err
	}
	c := store.SCIMConnectionRecord{ID: uuid.NewString(), Tenant: tenantID, Name: in.Name, Authoritative: in.Authoritative == nil || *in.Authoritative, ManagedBy: store.ManagedByAPI}
	tokenID := uuid.NewString()
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		c.CreatedAt = now
		if err := tx.CreateSCIMConnection(ctx, c); err != nil {
			return store.Changes{}, err
		}
		if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: tokenID, ConnectionID: c.ID, Tenant: tenantID, Hash: credential.Hash(secret),
			ManagedBy: store.ManagedByAPI, CreatedAt: now}); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "connection.created", nil, connView(c), "scim connection "+c.Name), nil
	})
	if errors.Is(err, ErrExists) {
		return SCIMConnection{}, "", fmt.Errorf("%w: a SCIM connection named %q in tenant %q", ErrExists, in.Name, tenantID)
	}
	if err != nil {
		return SCIMConnection{}, "", err
	}
	got, err := r.connection(tenantID, c.ID)
	return got, secret, err
}

func connView(c store.SCIMConnectionRecord) map[string]any {
	return map[string]any{"id": c.ID, "kind": "scim", "name": c.Name, "authoritative": c.Authoritative}
}

// connection is the tenant's connection of that id in the snapshot.
func (r *Registry) connection(tenantID, id string) (SCIMConnection, error) {
	t, ok := r.Lookup(tenantID)
	if !ok {
		return SCIMConnection{}, fmt.Errorf("%w: %q", ErrNotFound, tenantID)
	}
	for _, c := range t.SCIMConnections() {
		if c.ID == id {
			return c, nil
		}
	}
	return SCIMConnection{}, fmt.Errorf("%w: %q", ErrConnectionNotFound, id)
}

// editableConnection is a connection the API may change: of a live tenant,
// and not declared by the file.
func (r *Registry) editableConnection(ctx context.Context, tenantID, id string) (*Tenant, SCIMConnection, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return nil, SCIMConnection{}, err
	}
	c, err := r.connection(tenantID, id)
	if err != nil {
		return nil, SCIMConnection{}, err
	}
	return t, c, nil
}

// DeleteSCIMConnection removes a connection and every token of it; the
// cards keep their claims' history.
func (r *Registry) DeleteSCIMConnection(ctx context.Context, actor Actor, tenantID, id string) error {
	_, c, err := r.editableConnection(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if c.ManagedBy == store.ManagedByConfig {
		return &ManagedError{File: r.file(), What: fmt.Sprintf("SCIM connection %q of tenant %q", c.Name, tenantID)}
	}
	return r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.DeleteSCIMConnection(ctx, id); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "connection.deleted", map[string]any{"id": c.ID, "kind": "scim", "name": c.Name}, nil, "scim connection "+c.Name), nil
	})
}

// AddSCIMToken adds a bearer token to a connection and returns it this
// once. With overlap > 0 it rotates: every other token of the connection
// that does not expire sooner now expires after overlap.
func (r *Registry) AddSCIMToken(ctx context.Context, actor Actor, tenantID, id string, overlap time.Duration) (Token, string, error) {
	t, c, err := r.editableConnection(ctx, tenantID, id)
	if err != nil {
		return Token{}, "", err
	}
	if c.ManagedBy == store.ManagedByConfig {
		if err := r.mayExtend(t, fmt.Sprintf("SCIM connection %q of tenant %q", c.Name, tenantID)); err != nil {
			return Token{}, "", err
		}
		if overlap > 0 {
			return Token{}, "", &ManagedError{File: r.file(), What: fmt.Sprintf("the tokens the file declares for SCIM connection %q", c.Name)}
		}
	}
	secret, err := credential.Generate(credential.SCIMTokenPrefix)
	if err != nil {
		return Token{}, "", err
	}
	tokenID := uuid.NewString()
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if overlap > 0 {
			toks, err := tx.SCIMTokens(ctx, id)
			if err != nil {
				return store.Changes{}, err
			}
			end := now.Add(overlap)
			for _, tk := range toks {
				if tk.ExpiresAt.IsZero() || tk.ExpiresAt.After(end) {
					if _, err := tx.UpdateSCIMToken(ctx, tk.ID, func(old store.SCIMTokenRecord) (store.SCIMTokenRecord, error) {
						old.ExpiresAt = end
						return old, nil
					}); err != nil {
						return store.Changes{}, err
					}
				}
			}
		}
		if err := tx.CreateSCIMToken(ctx, store.SCIMTokenRecord{ID: tokenID, ConnectionID: id, Tenant: tenantID, Hash: credential.Hash(secret),
			ManagedBy: store.ManagedByAPI, CreatedAt: now}); err != nil {
			return store.Changes{}, err
		}
		detail := "scim connection " + c.Name + ": token added"
		action := "connection.token_added"
		if overlap > 0 {
			detail, action = fmt.Sprintf("scim connection %s: token rotated, the others expire in %s", c.Name, overlap), "connection.token_rotated"
		}
		return record(tenantID, actor, now, action, nil, map[string]any{"connection": id, "token": tokenID}, detail), nil
	})
	if err != nil {
		return Token{}, "", err
	}
	got, err := r.connection(tenantID, id)
	if err != nil {
		return Token{}, "", err
	}
	for _, tk := range got.Tokens {
		if tk.ID == tokenID {
			return tk, secret, nil
		}
	}
	return Token{}, "", fmt.Errorf("%w: token %q", ErrConnectionNotFound, tokenID)
}

// RevokeSCIMToken removes one token of a connection: it stops working on
// every replica within the registry's reload.
func (r *Registry) RevokeSCIMToken(ctx context.Context, actor Actor, tenantID, id, tokenID string) error {
	_, c, err := r.editableConnection(ctx, tenantID, id)
	if err != nil {
		return err
	}
	var tok *Token
	for i := range c.Tokens {
		if c.Tokens[i].ID == tokenID {
			tok = &c.Tokens[i]
		}
	}
	if tok == nil {
		return fmt.Errorf("%w: token %q of connection %q", ErrConnectionNotFound, tokenID, c.Name)
	}
	if tok.ManagedBy == store.ManagedByConfig {
		return &ManagedError{File: r.file(), What: fmt.Sprintf("a token the file declares for SCIM connection %q", c.Name)}
	}
	return r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.DeleteSCIMToken(ctx, tokenID); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "connection.token_revoked", map[string]any{"connection": id, "token": tokenID}, nil,
			"scim connection "+c.Name+": token revoked"), nil
	})
}

// Prune applies the file's tenants, then retires each tenant the file
// managed and no longer declares, and returns their ids. Nothing is
// deleted: their cards and audit stay, and RestoreTenant brings one back.
func (r *Registry) Prune(ctx context.Context, cfg *config.Config, file string) ([]string, error) {
	rep, err := r.Apply(ctx, cfg, file)
	if err != nil {
		return nil, err
	}
	for _, id := range rep.NotInFile {
		if _, err := r.setRetired(ctx, ConfigActor, id, true); err != nil {
			return nil, fmt.Errorf("retiring tenant %q: %w", id, err)
		}
	}
	return rep.NotInFile, nil
}
