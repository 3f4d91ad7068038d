package tenant

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/store"
)

// A tenant's email domain routes GET /saml/login?email= only once it is
// verified: by a DNS TXT record that proves the tenant controls the
// domain, or by an operator's word. The file's domains are the operator's
// word: they are verified as declared.

// ChallengePrefix names the DNS name whose TXT record verifies a domain:
// _rosterd-challenge.<domain>.
const ChallengePrefix = "_rosterd-challenge."

// challengeValuePrefix starts the TXT record's value.
const challengeValuePrefix = "rosterd-domain-verification="

// Ways a domain was verified.
const (
	VerifiedByDNS    = "dns"
	VerifiedByConfig = "config"
)

// Domain is one email domain of a tenant and whether it is verified.
type Domain struct {
	Domain     string    `json:"domain"`
	Verified   bool      `json:"verified"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// VerifiedBy: "dns", "config" (declared by the file),
	// "operator:<key>", or "migration" (listed before verification
	// existed).
	VerifiedBy string `json:"verified_by,omitempty"`
	// TXT is the record to publish to verify the domain by DNS.
	TXT TXTRecord `json:"txt_record"`
}

// TXTRecord is a DNS TXT record's name and value.
type TXTRecord struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func domainStatus(rec store.TenantRecord, d string, dr store.DomainRecord) Domain {
	out := Domain{Domain: d, TXT: TXTRecord{Name: ChallengePrefix + d, Value: challengeValuePrefix + dr.Challenge}}
	switch {
	case !dr.VerifiedAt.IsZero():
		out.Verified, out.VerifiedAt, out.VerifiedBy = true, dr.VerifiedAt, dr.VerifiedBy
	case rec.ManagedBy == store.ManagedByConfig:
		out.Verified, out.VerifiedBy = true, VerifiedByConfig
	}
	if dr.Challenge == "" {
		// Only a domain stored before challenges existed has none; it
		// is verified (migration), and there is nothing to publish.
		out.TXT = TXTRecord{}
	}
	return out
}

// DomainStatus returns the tenant's email domains with their
// verification.
func (t *Tenant) DomainStatus() []Domain { return slices.Clone(t.domains) }

// Domain returns the tenant's domain d (lower case).
func (t *Tenant) Domain(d string) (Domain, bool) {
	for _, x := range t.domains {
		if x.Domain == d {
			return x, true
		}
	}
	return Domain{}, false
}

// ErrDomainNotFound: the tenant lists no such domain.
var ErrDomainNotFound = errors.New("tenant: no such domain")

// NotVerifiedError says why a domain's DNS verification failed, and what
// to publish.
type NotVerifiedError struct {
	Domain string
	Record TXTRecord
	// Reason is what the lookup found: no record, other values, or the
	// lookup's failure.
	Reason string
}

func (e *NotVerifiedError) Error() string {
	return fmt.Sprintf("domain %q is not verified: %s; publish a DNS TXT record %s with the value %q, then verify again",
		e.Domain, e.Reason, e.Record.Name, e.Record.Value)
}

// AddDomain adds an email domain to an API-managed tenant, unverified,
// with a new challenge.
func (r *Registry) AddDomain(ctx context.Context, actor Actor, tenantID, domain string) (Domain, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return Domain{}, err
	}
	d := strings.ToLower(strings.TrimSpace(domain))
	if _, ok := t.Domain(d); ok {
		return Domain{}, fmt.Errorf("%w: domain %q of tenant %q", ErrExists, d, tenantID)
	}
	doc, _ := json.Marshal(map[string]any{"domains": append(t.Domains(), d)})
	t, err = r.UpdateTenant(ctx, actor, tenantID, doc)
	if err != nil {
		return Domain{}, asDomainProblem(err)
	}
	got, ok := t.Domain(d)
	if !ok {
		return Domain{}, fmt.Errorf("%w: %q", ErrDomainNotFound, d)
	}
	return got, nil
}

// asDomainProblem names the one domain of POST …/domains at "domain",
// not at its index in the tenant's list.
func asDomainProblem(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := &config.Error{}
	for _, p := range ce.Problems {
		if strings.HasPrefix(p.Path, "domains") {
			p.Path = "domain"
		}
		out.Problems = append(out.Problems, p)
	}
	return out
}

// RemoveDomain removes an email domain of an API-managed tenant.
func (r *Registry) RemoveDomain(ctx context.Context, actor Actor, tenantID, domain string) error {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return err
	}
	d := strings.ToLower(domain)
	if _, ok := t.Domain(d); !ok {
		return fmt.Errorf("%w: %q", ErrDomainNotFound, d)
	}
	keep := slices.DeleteFunc(t.Domains(), func(x string) bool { return x == d })
	doc, _ := json.Marshal(map[string]any{"domains": keep})
	_, err = r.UpdateTenant(ctx, actor, tenantID, doc)
	return err
}

// VerifyDomain verifies a domain of the tenant. By DNS (operator false) it
// looks up the TXT records of _rosterd-challenge.<domain> and accepts the
// domain when one holds its challenge; with operator true it takes the
// operator's word (the caller checks the key may give it). A verified
// domain stays verified; verifying it again changes nothing.
func (r *Registry) VerifyDomain(ctx context.Context, actor Actor, tenantID, domain string, operator bool) (Domain, error) {
	t, err := r.Get(ctx, tenantID)
	if err != nil {
		return Domain{}, err
	}
	d := strings.ToLower(domain)
	st, ok := t.Domain(d)
	if !ok {
		return Domain{}, fmt.Errorf("%w: %q", ErrDomainNotFound, d)
	}
	if st.Verified {
		return st, nil
	}
	by := "operator:" + string(actor)
	if !operator {
		if err := r.checkTXT(ctx, st); err != nil {
			return Domain{}, err
		}
		by = VerifiedByDNS
	}
	err = r.change(ctx, func(tx store.Tx, now time.Time) (store.Changes, error) {
		if err := tx.VerifyTenantDomain(ctx, tenantID, d, now, by); err != nil {
			return store.Changes{}, err
		}
		return record(tenantID, actor, now, "domain.verified", nil, map[string]any{"domain": d, "verified_by": by}, "domain "+d+" verified by "+by), nil
	})
	if err != nil {
		return Domain{}, err
	}
	t, err = r.mustGet(tenantID)
	if err != nil {
		return Domain{}, err
	}
	st, _ = t.Domain(d)
	return st, nil
}

// checkTXT looks the challenge up in DNS.
func (r *Registry) checkTXT(ctx context.Context, st Domain) error {
	fail := func(reason string) error { return &NotVerifiedError{Domain: st.Domain, Record: st.TXT, Reason: reason} }
	if st.TXT.Value == "" {
		return fail("it has no challenge")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	txts, err := r.resolver.LookupTXT(ctx, st.TXT.Name)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fail("no TXT record " + st.TXT.Name + " was found")
	case err != nil:
		return fail("looking up " + st.TXT.Name + " failed (" + lookupFailure(err) + ")")
	}
	for _, v := range txts {
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(v)), []byte(st.TXT.Value)) == 1 {
			return nil
		}
	}
	return fail(fmt.Sprintf("%d TXT record(s) at %s, none with the challenge", len(txts), st.TXT.Name))
}

// lookupFailure says what went wrong with a lookup, briefly.
func lookupFailure(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsTimeout:
			return "timed out"
		case dnsErr.IsTemporary:
			return "temporary failure: " + dnsErr.Err
		}
		return dnsErr.Err
	}
	return err.Error()
}
