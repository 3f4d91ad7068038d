package ldapfeed

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Why a fetch failed; Fetch's errors wrap one of these (errors.Is) and the
// LDAP error itself.
var (
	ErrConfig     = errors.New("invalid ldap feed configuration")
	ErrConnection = errors.New("connection to the LDAP server failed or was lost")
	ErrTLS        = errors.New("TLS with the LDAP server failed")
	ErrBind       = errors.New("bind failed")
	ErrTimeout    = errors.New("the LDAP server did not answer in time")
	ErrSizeLimit  = errors.New("size limit exceeded")
	ErrTimeLimit  = errors.New("time limit exceeded")
	ErrPaging     = errors.New("paged search lost its paging control or cookie")
	ErrReferral   = errors.New("referral that rosterd does not follow")
	ErrSearch     = errors.New("search failed")
)

// searcher is what the search needs of a connection (*ldap.Conn); tests
// give recorded answers.
type searcher interface {
	Search(*ldap.SearchRequest) (*ldap.SearchResult, error)
}

// timedConn gives each search the feed's request timeout: a search that
// has not finished in time closes the connection (the run fails, and a
// connection with a request in flight is not used again).
type timedConn struct {
	conn    *ldap.Conn
	timeout time.Duration
}

func (c *timedConn) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	var late atomic.Bool
	t := time.AfterFunc(c.timeout, func() { late.Store(true); c.conn.Close() })
	res, err := c.conn.Search(req)
	t.Stop()
	if late.Load() {
		return nil, searchTimeout(c.timeout)
	}
	return res, err
}

// searchTimeout is a search that got no answer in time (a net.Error that
// times out, which classify reports as ErrTimeout).
type searchTimeout time.Duration

func (d searchTimeout) Error() string {
	return fmt.Sprintf("no answer to a search within %v", time.Duration(d))
}
func (searchTimeout) Timeout() bool   { return true }
func (searchTimeout) Temporary() bool { return false }

// classify names why an LDAP operation failed.
func classify(err error) error {
	var ne net.Error
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return ErrSizeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded):
		return ErrTimeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultReferral):
		return ErrReferral
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials), ldap.IsErrorWithCode(err, ldap.LDAPResultInappropriateAuthentication),
		ldap.IsErrorWithCode(err, ldap.LDAPResultConfidentialityRequired), ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired):
		return ErrBind
	case errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "timed out"):
		return ErrTimeout
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		// go-ldap reports a dropped connection as text, not as an ErrorNetwork
		strings.Contains(err.Error(), "connection closed"), strings.Contains(err.Error(), "unable to read LDAP response packet"),
		strings.Contains(err.Error(), "connection reset"):
		return ErrConnection
	}
	if msg := strings.ToLower(err.Error()); strings.Contains(msg, "cookie") || strings.Contains(msg, "paged") {
		return ErrPaging
	}
	return ErrSearch
}

// adSkippedPartitions are the AD naming contexts below a domain's root that
// hold no people: continuation references to them are what every search
// at a domain root gets, and are safe to ignore.
var adSkippedPartitions = []string{"dc=domaindnszones,", "dc=forestdnszones,", "cn=configuration,"}

// checkReferrals fails on a continuation reference the feed would have to
// follow to see everyone (all of them, except the AD ones above).
func checkReferrals(refs []string, ad bool) error {
	for _, ref := range refs {
		if ad {
			dn := ref
			if i := strings.Index(ref, "://"); i >= 0 {
				if j := strings.Index(ref[i+3:], "/"); j >= 0 {
					dn = ref[i+3+j+1:]
				}
			}
			dn = strings.ToLower(dn)
			skip := false
			for _, p := range adSkippedPartitions {
				if strings.HasPrefix(dn, p) {
					skip = true
				}
			}
			if skip {
				continue
			}
		}
		return fmt.Errorf("%w: the server refers part of the search to %s", ErrReferral, ref)
	}
	return nil
}

// searchError is a failure of the paged search, with where it happened.
type searchError struct {
	Base    string
	Page    int // the page being read, from 1
	Entries int // entries read before it
	Why     error
	Err     error
}

func (e *searchError) Error() string {
	return fmt.Sprintf("ldap search of %q failed on page %d after %d entries: %v: %v (the run is failed; nothing is withdrawn)",
		e.Base, e.Page, e.Entries, e.Why, e.Err)
}

func (e *searchError) Unwrap() []error { return []error{e.Why, e.Err} }

// pagedSearch runs req page by page (the paging control and its cookie),
// calling each for every entry and onPage after every page. Pages are read
// one ahead: as soon as a page has arrived the next is asked for, and the
// entries of the one at hand are handed to each meanwhile, so slapd and
// the decoder work while the entries are mapped. At most two pages are in
// memory. Any error, a page without the paging control, or a referral
// stops it with a *searchError.
func pagedSearch(s searcher, req *ldap.SearchRequest, pageSize int, ad bool, each func(*ldap.Entry) error, onPage func(page, entries int)) (pages, entries int, err error) {
	fail := func(why, err error) (int, int, error) {
		return pages, entries, &searchError{Base: req.BaseDN, Page: pages + 1, Entries: entries, Why: why, Err: err}
	}
	type answer struct {
		res *ldap.SearchResult
		err error
	}
	ask := func(cookie []byte) <-chan answer {
		// A request of its own per page: the one in flight is not touched
		// while the next is built.
		r := *req
		paging := ldap.NewControlPaging(uint32(pageSize))
		paging.SetCookie(cookie)
		r.Controls = append(slices.Clip(req.Controls), paging)
		ch := make(chan answer, 1)
		go func() {
			res, err := s.Search(&r)
			ch <- answer{res, err}
		}()
		return ch
	}
	pending := ask(nil)
	for {
		a := <-pending
		pending = nil
		if a.err != nil {
			return fail(classify(a.err), a.err)
		}
		res := a.res
		if err := checkReferrals(res.Referrals, ad); err != nil {
			return fail(ErrReferral, err)
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ok && len(ctrl.Cookie) > 0 {
			pending = ask(ctrl.Cookie)
		}
		for _, e := range res.Entries {
			if err := each(e); err != nil {
				if pending != nil {
					go func(ch <-chan answer) { <-ch }(pending) // let the page in flight land
				}
				return fail(ErrSearch, err)
			}
			entries++
		}
		pages++
		if onPage != nil {
			onPage(pages, len(res.Entries))
		}
		if !ok {
			pages--
			return fail(ErrPaging, errors.New("the server's answer carries no paging control: it may be partial"))
		}
		if pending == nil {
			return pages, entries, nil
		}
	}
}

// readMembers reads a group's attr (member, uniqueMember) whole: on AD with
// range retrieval (member;range=0-*, then from the end of each range the
// server returned, until a range ends in "*"), elsewhere as one attribute.
func readMembers(s searcher, groupDN, attr string, ad bool) ([]string, error) {
	var out []string
	lo := 0
	for {
		want := attr
		if ad {
			want = attr + ";range=" + strconv.Itoa(lo) + "-*"
		}
		res, err := s.Search(ldap.NewSearchRequest(groupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{want}, nil))
		if err != nil {
			return nil, fmt.Errorf("reading %s of group %q: %w: %w", attr, groupDN, classify(err), err)
		}
		if len(res.Entries) != 1 {
			return nil, fmt.Errorf("reading group %q: %w: %d entries for a base search", groupDN, ErrSearch, len(res.Entries))
		}
		next := -1
		found := false
		for _, a := range res.Entries[0].Attributes {
			base, opt, hasOpt := strings.Cut(a.Name, ";")
			if !strings.EqualFold(base, attr) {
				continue
			}
			found = true
			out = append(out, a.Values...)
			if !hasOpt || !strings.HasPrefix(strings.ToLower(opt), "range=") {
				return out, nil // the whole attribute at once
			}
			from, to, _ := strings.Cut(opt[len("range="):], "-")
			if f, err := strconv.Atoi(from); err != nil || f != lo {
				return nil, fmt.Errorf("reading %s of group %q: %w: asked from %d, the server answered %s", attr, groupDN, ErrSearch, lo, a.Name)
			}
			if to == "*" {
				return out, nil
			}
			t, err := strconv.Atoi(to)
			if err != nil || t < lo {
				return nil, fmt.Errorf("reading %s of group %q: %w: bad range %s", attr, groupDN, ErrSearch, a.Name)
			}
			next = t + 1
		}
		if !found {
			if lo == 0 {
				return out, nil // no members
			}
			return nil, fmt.Errorf("reading %s of group %q: %w: range retrieval stopped at %d without a final range", attr, groupDN, ErrSearch, lo)
		}
		lo = next
	}
}
