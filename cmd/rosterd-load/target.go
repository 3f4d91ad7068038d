package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// checkTarget parses the base URL and refuses anything but plain http(s)
// to a loopback address (127.0.0.0/8, ::1, or "localhost") unless
// allowRemote is set. A load generator pointed at someone else's server by
// a typo is a denial of service.
func checkTarget(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-url %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("-url %q: no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: give the SCIM base only (no user info, query or fragment)", raw)
	}
	if allowRemote {
		return u, nil
	}
	if strings.EqualFold(host, "localhost") {
		return u, nil // what it resolves to is checked again when dialling
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("-url %q: host %q is not a loopback address; only 127.0.0.1, ::1 and localhost are allowed (-allow-remote overrides)", raw, host)
	}
	if !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: %s is not a loopback address; only 127.0.0.0/8, ::1 and localhost are allowed (-allow-remote overrides)", raw, ip)
	}
	return u, nil
}

var errNotLoopback = errors.New("refusing to connect to a non-loopback address")

// loopbackOnly is a net.Dialer Control function that refuses every
// connection whose resolved address is not loopback, so neither a host name
// nor a redirect nor a proxy can take the traffic elsewhere.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNotLoopback, address, err)
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i] // zone of a link-local IPv6 address
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

// newClient returns the one client of a run: a transport keeping as many
// idle connections to the server as there are workers, no proxy, no
// redirects, and (unless allowRemote) a dialer that connects to loopback
// addresses only.
func newClient(concurrency int, timeout time.Duration, allowRemote bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = loopbackOnly
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// isTimeout reports whether a client error was a timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
