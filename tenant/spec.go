package tenant

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/rosterd/rosterd/config"
)

// The store keeps a tenant's settings as JSON of config.Tenant, without
// its SCIM connections (rows of their own). A config-managed tenant's
// secrets stay in the file (encodeSpec strips them); an API-managed
// tenant's are sealed (encodeAPISpec, secrets.go).

func encodeSpec(t *config.Tenant) ([]byte, error) {
	c := withoutSecrets(t)
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding the settings of tenant %q: %w", t.ID, err)
	}
	return b, nil
}

func decodeSpec(id string, b []byte) (*config.Tenant, error) {
	var t config.Tenant
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decoding the stored settings of tenant %q: %w", id, err)
	}
	return &t, nil
}

func withoutSecrets(t *config.Tenant) *config.Tenant {
	c := t.Clone()
	c.SCIM = nil
	for _, f := range secretFields(c) {
		*f.p = ""
	}
	return c
}

// redacted marks a secret in what the API shows.
const redacted = "(redacted)"

// specJSON is the settings as the file writes them (its keys), for the
// API: secrets redacted.
func specJSON(t *config.Tenant) (json.RawMessage, error) {
	c := t.Clone()
	c.SCIM = nil
	for _, f := range secretFields(c) {
		if *f.p != "" {
			*f.p = redacted
		}
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil {
		return nil, err
	}
	delete(m, "scim")
	return json.Marshal(m)
}
