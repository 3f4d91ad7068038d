package sshtest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a Server: a fault injector
// that can cut connections at a chosen byte count. sshd behind it stays real.
type Proxy struct {
	// Addr is "127.0.0.1:PORT"; Host and Port are its parts.
	Addr string
	Host string
	Port int
	// KnownHostsFile pins the server's host key for the proxy's address
	// ("[127.0.0.1]:PORT ssh-ed25519 …"), which is the name a client checks.
	KnownHostsFile string

	srv *Server
	ln  net.Listener
	wg  sync.WaitGroup

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	budget int64 // bytes server→client still allowed before a cut; -1: unlimited
	stall  bool  // at the end of the budget, stop forwarding instead of cutting
	cuts   int
	closed bool
}

type proxyConn struct {
	client, server net.Conn
	once           sync.Once
	closed         chan struct{}
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
		close(c.closed)
	})
}

// Proxy starts a proxy in front of s, closed in t.Cleanup.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: proxy: %v", err)
	}
	p := &Proxy{
		Addr: ln.Addr().String(), Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		srv: s, ln: ln, conns: map[*proxyConn]struct{}{}, budget: -1,
	}
	p.KnownHostsFile = filepath.Join(s.dir, "known_hosts_proxy_"+strconv.Itoa(p.Port))
	if err := os.WriteFile(p.KnownHostsFile, []byte(s.KnownHostsLine(p.Addr)+"\n"), 0o600); err != nil {
		ln.Close()
		t.Fatalf("sshtest: %v", err)
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is Server.URL through the proxy.
func (p *Proxy) URL(rel string) string {
	return "sftp://" + p.srv.User + "@" + p.Addr + filepath.ToSlash(p.srv.Root) + "/" + strings.TrimPrefix(rel, "/")
}

// CutAfter arms the proxy: once n more bytes have gone from sshd to the
// clients (all connections together, counted from this call), it forwards
// exactly those n bytes and then closes every open connection, both ways.
// It disarms itself after the cut; connections made later pass normally.
func (p *Proxy) CutAfter(n int64) {
	if n < 0 {
		n = 0
	}
	p.mu.Lock()
	p.budget, p.stall = n, false
	p.mu.Unlock()
}

// StallAfter arms the proxy like CutAfter, but at the end of the budget it
// stops forwarding from sshd to the clients and keeps every connection open:
// a server that stops answering. Cut (or the test's end) releases them.
func (p *Proxy) StallAfter(n int64) {
	if n < 0 {
		n = 0
	}
	p.mu.Lock()
	p.budget, p.stall = n, true
	p.mu.Unlock()
}

// Cut closes every open connection now, and disarms the proxy.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.budget, p.stall = -1, false
	p.cutLocked()
	p.mu.Unlock()
}

// Cuts returns how many times the proxy has cut its connections.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *Proxy) cutLocked() {
	p.cuts++
	for c := range p.conns {
		c.close()
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.srv.Addr)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server, closed: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // client → server, unmetered
			defer p.wg.Done()
			_, _ = io.Copy(server, client)
			p.drop(c)
		}()
		go func() { // server → client, metered
			defer p.wg.Done()
			p.down(c)
			p.drop(c)
		}()
	}
}

func (p *Proxy) drop(c *proxyConn) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// down copies server → client, spending the budget when one is armed.
func (p *Proxy) down(c *proxyConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			allowed, cut, stall := p.take(int64(n))
			if allowed > 0 {
				if _, werr := c.client.Write(buf[:allowed]); werr != nil {
					return
				}
			}
			switch {
			case stall:
				<-c.closed
				return
			case cut:
				p.mu.Lock()
				p.cutLocked()
				p.mu.Unlock()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// take spends n bytes of the budget: it returns how many may pass and
// whether the connections must then be cut, or this one stall.
func (p *Proxy) take(n int64) (allowed int64, cut, stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.budget < 0:
		return n, false, false
	case n < p.budget:
		p.budget -= n
		return n, false, false
	case p.stall:
		// Stay armed at 0: every connection stalls at its next bytes.
		allowed = p.budget
		p.budget = 0
		return allowed, false, true
	default:
		allowed = p.budget
		p.budget = -1
		return allowed, true, false
	}
}
