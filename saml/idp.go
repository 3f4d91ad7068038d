package saml

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	crewjam "github.com/crewjam/saml"
)

// IdP is what the service provider uses of an identity provider's metadata.
type IdP struct {
	EntityID string
	// Certs are the signing certificates (KeyDescriptors with use
	// "signing" or no use).
	Certs []*x509.Certificate
	// SSOURL is the HTTP-Redirect SingleSignOnService location.
	SSOURL string
	// WantSignedRequests: the IdP asks for signed AuthnRequests.
	WantSignedRequests bool
	// Descriptor is the parsed metadata, for crewjam's request builder.
	Descriptor *crewjam.EntityDescriptor
}

// maxMetadataSize bounds an IdP's metadata document.
const maxMetadataSize = 10 << 20

// ParseIdPMetadata reads an EntityDescriptor, or the first IdP in an
// EntitiesDescriptor, of at most maxMetadataSize bytes.
func ParseIdPMetadata(data []byte) (*IdP, error) {
	if len(data) > maxMetadataSize {
		return nil, fmt.Errorf("parsing IdP metadata: larger than %d bytes", maxMetadataSize)
	}
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(data, &ed); err != nil || len(ed.IDPSSODescriptors) == 0 {
		var eds crewjam.EntitiesDescriptor
		if err2 := xml.Unmarshal(data, &eds); err2 != nil {
			if err != nil {
				return nil, fmt.Errorf("parsing IdP metadata: %w", err)
			}
			return nil, errors.New("parsing IdP metadata: no IDPSSODescriptor")
		}
		found := false
		for _, e := range eds.EntityDescriptors {
			if len(e.IDPSSODescriptors) > 0 {
				ed, found = e, true
				break
			}
		}
		if !found {
			return nil, errors.New("parsing IdP metadata: no entity with an IDPSSODescriptor")
		}
	}
	idp := &IdP{EntityID: ed.EntityID, Descriptor: &ed}
	if idp.EntityID == "" {
		return nil, errors.New("parsing IdP metadata: no entityID")
	}
	for _, d := range ed.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			idp.WantSignedRequests = true
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					return nil, fmt.Errorf("parsing IdP metadata: certificate: %w", err)
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("parsing IdP metadata: certificate: %w", err)
				}
				idp.Certs = append(idp.Certs, c)
			}
		}
		for _, s := range d.SingleSignOnServices {
			if s.Binding == crewjam.HTTPRedirectBinding && idp.SSOURL == "" {
				idp.SSOURL = s.Location
			}
		}
	}
	if len(idp.Certs) == 0 {
		return nil, errors.New("parsing IdP metadata: no signing certificate")
	}
	if idp.SSOURL == "" {
		return nil, errors.New("parsing IdP metadata: no SingleSignOnService with the HTTP-Redirect binding")
	}
	return idp, nil
}

// metadataSource keeps a tenant's IdP metadata: fetched from a URL (or read
// from a file) at start and on every refresh. A failed refresh keeps the
// last good metadata and is reported.
type metadataSource struct {
	tenant string
	url    string
	file   string
	client *http.Client

	mu        sync.RWMutex
	current   *IdP
	loadedAt  time.Time
	lastErr   error
	lastErrAt time.Time
}

// IdP returns the current metadata, nil when none has loaded yet.
func (m *metadataSource) IdP() *IdP {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current
}

// load fetches or reads the metadata once.
func (m *metadataSource) load(ctx context.Context, now time.Time) error {
	data, err := m.read(ctx)
	var idp *IdP
	if err == nil {
		idp, err = ParseIdPMetadata(data)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.lastErr, m.lastErrAt = err, now
		return err
	}
	m.current, m.loadedAt, m.lastErr = idp, now, nil
	return nil
}

func (m *metadataSource) read(ctx context.Context) ([]byte, error) {
	if m.file != "" {
		f, err := os.Open(m.file)
		if err != nil {
			return nil, fmt.Errorf("reading IdP metadata: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
		if err != nil {
			return nil, fmt.Errorf("reading IdP metadata: %w", err)
		}
		if len(data) > maxMetadataSize {
			return nil, fmt.Errorf("reading IdP metadata %s: larger than %d bytes", m.file, maxMetadataSize)
		}
		return data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata: %w", err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching IdP metadata: HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata: %w", err)
	}
	if len(data) > maxMetadataSize {
		return nil, fmt.Errorf("fetching IdP metadata: larger than %d bytes", maxMetadataSize)
	}
	return data, nil
}

// health says whether the tenant can log people in, and whether the last
// refresh failed.
func (m *metadataSource) health() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case m.current == nil && m.lastErr != nil:
		return fmt.Errorf("tenant %s: no IdP metadata, SAML login is off: %v", m.tenant, m.lastErr)
	case m.current == nil:
		return fmt.Errorf("tenant %s: IdP metadata not loaded yet", m.tenant)
	case m.lastErr != nil:
		return fmt.Errorf("tenant %s: IdP metadata refresh failed at %s (%v); logins use the metadata loaded at %s",
			m.tenant, m.lastErrAt.Format(time.RFC3339), m.lastErr, m.loadedAt.Format(time.RFC3339))
	}
	return nil
}
