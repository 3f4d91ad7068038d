package ldapfeed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/config"
	"github.com/rosterd/rosterd/sync/reconcile"
)

// NewFeed is a configured LDAP feed as the sync pipeline runs it: source
// "ldap:<name>", authoritative unless configured otherwise, a full roster
// (people the directory no longer lists are withdrawn — only after a search
// that read every page without an error). log (nil: none) takes the
// feed's warnings, such as a server certificate accepted by its CN.
func NewFeed(tenant string, f config.Feed, limits reconcile.Limits, log *slog.Logger) reconcile.Feed {
	o := &options{tenant: tenant, feed: f.Name, cfg: f.LDAP, now: time.Now, log: log}
	return o.reconcileFeed(f.AuthoritativeEnabled(), limits)
}

// options is one feed's settings, plus what tests hook into.
type options struct {
	tenant, feed string
	cfg          config.LDAPFeed
	now          func() time.Time
	log          *slog.Logger // nil: nothing is logged
	// onPage, when set, is told after every page of the people search.
	onPage func(page, entries int)
	// found is how many people the last read of this feed found: the next
	// read makes its lists that big at once.
	found atomic.Int64
}

func (o *options) reconcileFeed(authoritative bool, limits reconcile.Limits) reconcile.Feed {
	return reconcile.Feed{
		Source: reconcile.Source{Tenant: o.tenant, Name: "ldap:" + o.feed, Authoritative: authoritative, Withdraw: true},
		Feed:   o.feed,
		Kind:   "ldap",
		Limits: limits,
		Fetch: func(ctx context.Context) (reconcile.Snapshot, func(context.Context) error, error) {
			snap, err := o.fetch(ctx)
			if err != nil {
				return reconcile.Snapshot{}, nil, fmt.Errorf("ldap:%s: %w", o.feed, err)
			}
			return snap, nil, nil
		},
	}
}

func (o *options) timeout() time.Duration {
	if d := o.cfg.Timeout.Std(); d > 0 {
		return d
	}
	return 30 * time.Second
}

// dial connects, secures (ldaps or StartTLS) and binds.
func (o *options) dial() (*ldap.Conn, error) {
	u, err := url.Parse(o.cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q: want ldaps://host[:port] or ldap://host[:port]", ErrConfig, o.cfg.URL)
	}
	tc, verifier, err := o.tlsConfig(u.Hostname())
	if err != nil {
		return nil, err
	}
	// refused is the verifier's refusal of the server's certificate, if
	// that is why the handshake failed: it says what to change.
	refused := func() error {
		if verifier != nil && verifier.err != nil {
			return verifier.err
		}
		return nil
	}
	timeout := o.timeout()
	conn, err := ldap.DialURL(o.cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		if r := refused(); r != nil {
			return nil, fmt.Errorf("connecting to %s: %w: %w", o.cfg.URL, ErrTLS, r)
		}
		why := classify(err)
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			why = ErrTLS
		}
		return nil, fmt.Errorf("connecting to %s: %w: %w", o.cfg.URL, why, err)
	}
	conn.SetTimeout(timeout)
	if u.Scheme == "ldap" && !o.cfg.InsecurePlaintext {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			if r := refused(); r != nil {
				return nil, fmt.Errorf("StartTLS with %s: %w: %w", o.cfg.URL, ErrTLS, r)
			}
			return nil, fmt.Errorf("StartTLS with %s (required for ldap:// unless insecure_plaintext): %w: %w", o.cfg.URL, ErrTLS, err)
		}
	}
	if o.cfg.BindDN != "" {
		pw := o.cfg.BindPassword
		if pw == "" {
			conn.Close()
			return nil, fmt.Errorf("%w: %w: no password for bind_dn %q (bind_password, e.g. ${LDAP_PASSWORD}, or bind_password_file)",
				ErrBind, ErrConfig, o.cfg.BindDN)
		}
		if err := conn.Bind(o.cfg.BindDN, pw); err != nil {
			conn.Close()
			why := classify(err)
			if why == ErrSearch {
				why = ErrBind
			}
			return nil, fmt.Errorf("bind as %q at %s failed: %w: %w", o.cfg.BindDN, o.cfg.URL, why, err)
		}
	}
	return conn, nil
}

// filter is the people search's filter, with the group scope.
func (o *options) filter() (string, error) {
	f := strings.TrimSpace(o.cfg.Filter)
	if f == "" {
		f = "(objectClass=inetOrgPerson)"
		if o.cfg.ActiveDirectory {
			f = "(&(objectCategory=person)(objectClass=user))"
		}
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	// AD resolves nested groups in the filter; OpenLDAP has no
	// LDAP_MATCHING_RULE_IN_CHAIN and its memberOf (the memberof overlay)
	// lists direct groups only, so there collect keeps the members of the
	// groups it walked itself.
	if len(o.cfg.Groups) > 0 && o.cfg.ActiveDirectory {
		var b strings.Builder
		b.WriteString("(&" + f + "(|")
		for _, g := range o.cfg.Groups {
			b.WriteString("(memberOf:1.2.840.113556.1.4.1941:=" + ldap.EscapeFilter(g) + ")")
		}
		b.WriteString("))")
		f = b.String()
	}
	if _, err := ldap.CompileFilter(f); err != nil {
		return "", fmt.Errorf("%w: filter %q: %w", ErrConfig, f, err)
	}
	return f, nil
}

func (o *options) scope() (int, error) {
	switch strings.ToLower(o.cfg.Scope) {
	case "", "sub":
		return ldap.ScopeWholeSubtree, nil
	case "one":
		return ldap.ScopeSingleLevel, nil
	case "base":
		return ldap.ScopeBaseObject, nil
	}
	return 0, fmt.Errorf("%w: scope %q: want sub, one or base", ErrConfig, o.cfg.Scope)
}

func (o *options) fetch(ctx context.Context) (reconcile.Snapshot, error) {
	mp, err := newMapping(o.cfg.ActiveDirectory, o.cfg.Attributes)
	if err != nil {
		return reconcile.Snapshot{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	filter, err := o.filter()
	if err != nil {
		return reconcile.Snapshot{}, err
	}
	scope, err := o.scope()
	if err != nil {
		return reconcile.Snapshot{}, err
	}
	if strings.TrimSpace(o.cfg.BaseDN) == "" {
		return reconcile.Snapshot{}, fmt.Errorf("%w: base_dn is required", ErrConfig)
	}
	pageSize := o.cfg.PageSize
	if pageSize <= 0 {
		pageSize = 500
	}
	conn, err := o.dial()
	if err != nil {
		return reconcile.Snapshot{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}
	// The request timeout is kept by the feed from here on, not by go-ldap:
	// go-ldap's (Conn.SetTimeout) starts a timer for every message the
	// server sends, 100,000 of them for 100,000 people, and drops a
	// message its reader has not taken within the timeout.
	conn.SetTimeout(0)
	snap, err := collect(&timedConn{conn: conn, timeout: o.timeout()}, mp, o.cfg, filter, scope, pageSize, int(o.found.Load()), o.now().UTC(), o.onPage)
	if err != nil {
		return reconcile.Snapshot{}, wrap(err)
	}
	o.found.Store(int64(len(snap.Records)))
	return snap, nil
}

// collect reads the snapshot through s; found is how many people the last
// read found (0: unknown).
func collect(s searcher, mp *mapping, cfg config.LDAPFeed, filter string, scope, pageSize, found int, now time.Time, onPage func(page, entries int)) (reconcile.Snapshot, error) {
	snap := reconcile.Snapshot{Name: cfg.URL + " " + cfg.BaseDN, Fetched: now}

	// The last read's size, and a tenth more, sizes the lists at once.
	expect := 0
	if found > 0 {
		expect = found + found/10
	}
	keyAt := make(map[string]string, expect)   // key → DN
	emailAt := make(map[string]string, expect) // normalized email → DN
	managers := map[int]string{}               // record index → manager DN
	// Records are gathered in chunks: the first as big as expected (or a
	// page), then a page at a time, and the chunks are joined at the end
	// if there is more than one; appending to one growing slice copied
	// every record again and again.
	var pagesOf [][]reconcile.Record
	n := 0
	req := ldap.NewSearchRequest(cfg.BaseDN, scope, ldap.NeverDerefAliases, 0, 0, false, filter, mp.requested(), nil)
	_, _, err := pagedSearch(s, req, pageSize, mp.ad, func(e *ldap.Entry) error {
		rec, mgr, flag := mp.record(e, now)
		if flag != nil {
			snap.Flagged = append(snap.Flagged, *flag)
			return nil
		}
		if dn, dup := keyAt[rec.Key]; dup {
			snap.Flagged = append(snap.Flagged, reconcile.Flag{Line: e.DN, Key: rec.Key, Reason: fmt.Sprintf("duplicate key %s (first on %s)", rec.Key, dn)})
			return nil
		}
		norm := strings.ToLower(rec.Email)
		if dn, dup := emailAt[norm]; dup {
			snap.Flagged = append(snap.Flagged, reconcile.Flag{Line: e.DN, Key: rec.Key, Reason: fmt.Sprintf("duplicate email %s (first on %s)", rec.Email, dn)})
			return nil
		}
		keyAt[rec.Key], emailAt[norm] = e.DN, e.DN
		if mgr != "" {
			managers[n] = mgr
		}
		if len(pagesOf) == 0 || len(pagesOf[len(pagesOf)-1]) == cap(pagesOf[len(pagesOf)-1]) {
			size := pageSize
			if len(pagesOf) == 0 {
				size = max(pageSize, expect)
			}
			pagesOf = append(pagesOf, make([]reconcile.Record, 0, size))
		}
		last := &pagesOf[len(pagesOf)-1]
		*last = append(*last, rec)
		n++
		return nil
	}, onPage)
	if err != nil {
		return snap, err
	}
	switch {
	case len(pagesOf) == 1 && len(pagesOf[0]) >= cap(pagesOf[0])/2:
		snap.Records = pagesOf[0]
	case len(pagesOf) == 1: // far fewer people than last time: not kept at last time's size
		snap.Records = slices.Clone(pagesOf[0])
	default:
		snap.Records = slices.Concat(pagesOf...)
	}
	pagesOf = nil

	// Managers: from the snapshot (DN → email, built when someone has a
	// manager), else looked up (once per DN).
	var byDN map[string]string
	if len(managers) > 0 {
		byDN = make(map[string]string, len(snap.Records))
		for _, r := range snap.Records {
			byDN[strings.ToLower(r.Line)] = r.Email // Line is the entry's DN
		}
	}
	looked := map[string]string{}
	var byNormDN map[string]string // built on the first DN written differently
	for i, dn := range managers {
		n := normDN(dn)
		email, ok := byDN[strings.ToLower(dn)]
		if !ok {
			if byNormDN == nil {
				byNormDN = make(map[string]string, len(byDN))
				for k, v := range byDN {
					byNormDN[normDN(k)] = v
				}
			}
			email, ok = byNormDN[n]
		}
		if !ok {
			if email, ok = looked[n]; !ok {
				email, err = lookupEmail(s, dn, mp)
				if err != nil {
					return snap, err
				}
				looked[n] = email
			}
		}
		snap.Records[i].Attributes.ManagerEmail = email
	}

	// The configured groups' members, nested groups included, name each
	// record's groups; on OpenLDAP they are also the group scope (see
	// filter), so the people of none of the groups are left out.
	if len(cfg.Groups) > 0 {
		people := make(map[string]bool, len(snap.Records))
		for _, r := range snap.Records {
			people[normDN(r.Line)] = true
		}
		groupsOf, err := memberships(s, mp, cfg.Groups, people, pageSize)
		if err != nil {
			return snap, err
		}
		kept := snap.Records[:0]
		for _, r := range snap.Records {
			g := groupsOf[normDN(r.Line)]
			if len(g) > 0 {
				r.Attributes.Groups = slices.Sorted(slices.Values(g))
			} else if !mp.ad {
				continue
			}
			kept = append(kept, r)
		}
		snap.Records = kept
		if !mp.ad {
			flagged := snap.Flagged[:0]
			for _, f := range snap.Flagged {
				if len(groupsOf[normDN(f.Line)]) > 0 {
					flagged = append(flagged, f)
				}
			}
			snap.Flagged = flagged
		}
	}

	slices.SortFunc(snap.Records, func(a, b reconcile.Record) int { return strings.Compare(a.Key, b.Key) })
	snap.Hash = reconcile.ContentHash(snap.Records, snap.Flagged)
	return snap, nil
}

// lookupEmail reads the email of the entry at dn (a manager outside the
// search); "" when there is no such entry or it has no email.
func lookupEmail(s searcher, dn string, mp *mapping) (string, error) {
	res, err := s.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", mp.email, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("looking up manager %q: %w: %w", dn, classify(err), err)
	}
	if len(res.Entries) == 0 {
		return "", nil
	}
	return first(res.Entries[0], mp.email...), nil
}
