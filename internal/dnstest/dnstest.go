// Package dnstest runs a small real DNS server on loopback for tests of
// what looks records up (domain verification): it answers TXT questions
// from the records a test sets, NXDOMAIN for other names, over UDP, with
// github.com/miekg/dns. Resolver is a net.Resolver that asks only it.
//
// What it must never do: answer from anywhere but the test's records, or
// listen beyond 127.0.0.1.
package dnstest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a loopback DNS server answering TXT questions.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string

	mu      sync.Mutex
	txt     map[string][]string
	queries int
	srv     *dns.Server
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), txt: map[string][]string{}}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = s.srv.Shutdown() })
	return s
}

// SetTXT makes name's TXT records values (none: the name does not exist).
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[dns.Fqdn(strings.ToLower(name))] = values
}

// Queries is how many questions the server answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	for _, q := range req.Question {
		values, ok := s.txt[strings.ToLower(q.Name)]
		if !ok || len(values) == 0 {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v}})
		}
	}
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}

// Resolver is a resolver that asks this server only, whatever the
// system's configuration says.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr)
	}}
}
