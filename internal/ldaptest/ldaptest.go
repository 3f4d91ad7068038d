// Package ldaptest gives tests a real OpenLDAP server: Debian's
// /usr/sbin/slapd (package slapd; ldap-utils for ldapsearch), started per
// test on 127.0.0.1 and a free port, in the foreground, with a throwaway
// slapd.conf, an mdb database loaded with slapadd from LDIF fixtures, and a
// TLS certificate from a test CA (made with crypto/x509) for StartTLS and
// ldaps://.
//
// Usage:
//
//	s := ldaptest.Start(t, ldaptest.Options{LDIF: people}) // stopped in t.Cleanup
//	// s.URL is ldap://127.0.0.1:PORT; StartTLS verifies against s.CAFile
//	// (the certificate names 127.0.0.1 and localhost); s.LDAPSURL is
//	// ldaps://127.0.0.1:PORT2, the same server over TLS from the start.
//	// Options.CertCommonName gives a certificate that names its host only
//	// in the subject CN, as Samba AD's provisioning certificate does.
//	// s.ReaderDN/s.ReaderPassword: an ordinary account (limits apply);
//	// s.RootDN/s.RootPassword: the database's rootdn (no limits).
//	c := s.Admin(t)                     // a bound rootdn connection, to modify entries
//	s.Kill()                            // SIGKILL: a server that dies mid-search
//
// What a caller should know:
//
//   - The suffix is dc=example,dc=com; the base LDIF holds it,
//     ou=people,dc=example,dc=com and the reader account. Options.LDIF and
//     Options.WriteLDIF add entries (people, without the base).
//   - Schemas: core, cosine, inetorgperson, nis, and a test schema that
//     gives OpenLDAP AD's userAccountControl (1.2.840.113556.1.4.8, an
//     INTEGER) through the auxiliary class rosterdTestAccount — so the
//     "account disabled" bit can be tested against a real server.
//   - slapadd fills entryUUID, entryCSN and the timestamps itself.
//   - A missing slapd or slapadd, or a slapd that does not start, goes
//     through testenv.Unavailable: a skip on a developer's machine, a
//     failure under CI=true. slapd's output is in Log and printed when the
//     test fails.
//   - slapd runs with Pdeathsig=SIGKILL, so a crashed test binary takes it
//     along; Stop (t.Cleanup) sends SIGTERM, then SIGKILL after 5 s.
package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rosterd/rosterd/internal/testenv"
)

// Suffix is the test database's suffix.
const Suffix = "dc=example,dc=com"

// People is where the fixtures' people go.
const People = "ou=people," + Suffix

// Options configures a test server.
type Options struct {
	// LDIF is added after the base entries (blank-line separated entries).
	LDIF string
	// WriteLDIF, when set, writes more entries (for large fixtures).
	WriteLDIF func(w io.Writer) error
	// SizeLimit is slapd's sizelimit directive; default "unlimited".
	SizeLimit string
	// CertCommonName, when set, makes the server's certificate (still
	// signed by the test CA) name the server only in its subject CN, with
	// no subjectAltName: the certificate Samba AD generates on
	// provisioning, which Go's crypto/tls refuses. Default: a certificate
	// whose subjectAltName lists 127.0.0.1 and localhost.
	CertCommonName string
}

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT2
	Host     string
	Port     int
	// CAFile is the PEM of the CA that signed the server's certificate;
	// CertFile is the server's certificate (PEM).
	CAFile, CertFile         string
	RootDN, RootPassword     string
	ReaderDN, ReaderPassword string
	Dir                      string

	cmd     *exec.Cmd
	log     *testenv.Buffer
	done    <-chan struct{} // closed when slapd has exited
	stopped bool
	mu      sync.Mutex
}

const testSchema = `attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	DESC 'AD account flags, for tests' EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.77.1 NAME 'rosterdTestAccount'
	DESC 'rosterd tests: AD account flags on OpenLDAP' AUXILIARY
	MAY ( userAccountControl ) )
`

// Find returns slapd's and slapadd's paths, or an error naming what is missing.
func Find() (slapd, slapadd string, err error) {
	if slapd, err = testenv.Find("slapd", "/usr/sbin"); err != nil {
		return "", "", err
	}
	if slapadd, err = testenv.Find("slapadd", "/usr/sbin"); err != nil {
		return "", "", err
	}
	return slapd, slapadd, nil
}

// Start starts a server with the fixtures in opt; it is stopped in t.Cleanup.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	slapd, slapadd, err := Find()
	if err != nil {
		testenv.Unavailable(t, "%v: apt-get install slapd ldap-utils", err)
		return nil
	}
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Port: testenv.FreePort(t), Dir: dir,
		RootDN: "cn=admin," + Suffix, RootPassword: "rootsecret",
		ReaderDN: "cn=reader," + Suffix, ReaderPassword: "readersecret",
		log: &testenv.Buffer{}}
	s.URL = "ldap://" + s.Host + ":" + strconv.Itoa(s.Port)
	ldapsPort := testenv.FreePort(t)
	s.LDAPSURL = "ldaps://" + s.Host + ":" + strconv.Itoa(ldapsPort)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key, ca, err := makeCerts(opt.CertCommonName)
	if err != nil {
		t.Fatalf("ldaptest: certificates: %v", err)
	}
	s.CAFile, s.CertFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem")
	for name, data := range map[string][]byte{"ca.pem": ca, "server.pem": cert, "server.key": key, "rosterd-test.schema": []byte(testSchema)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sizeLimit := opt.SizeLimit
	if sizeLimit == "" {
		sizeLimit = "unlimited"
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[1]s/rosterd-test.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
sizelimit %[2]s
database mdb
maxsize 4294967296
suffix "%[3]s"
rootdn "%[4]s"
rootpw %[5]s
directory %[1]s/db
index objectClass eq
index entryUUID eq
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
`, dir, sizeLimit, Suffix, s.RootDN, s.RootPassword)
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ldifFile := filepath.Join(dir, "data.ldif")
	f, err := os.Create(ldifFile)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `dn: %s
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: %s
objectClass: organizationalUnit
ou: people

dn: %s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: %s

`, Suffix, People, s.ReaderDN, s.ReaderPassword)
	if opt.LDIF != "" {
		fmt.Fprintf(f, "%s\n\n", opt.LDIF)
	}
	if opt.WriteLDIF != nil {
		if err := opt.WriteLDIF(f); err != nil {
			f.Close()
			t.Fatalf("ldaptest: writing LDIF: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-q", "-f", confFile, "-l", ldifFile).CombinedOutput(); err != nil {
		t.Fatalf("ldaptest: slapadd: %v\n%s", err, out)
	}
	os.Remove(ldifFile)

	s.cmd = exec.Command(slapd, "-d", "0", "-f", confFile, "-h", s.URL+"/ "+s.LDAPSURL+"/")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	proc, err := testenv.StartProcess(s.cmd) // dies with the test binary
	if err != nil {
		testenv.Unavailable(t, "slapd did not start: %v", err)
		return nil
	}
	s.done = proc.Exited()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("slapd log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for port := s.Port; ; {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			if port == ldapsPort {
				break
			}
			port = ldapsPort
			continue
		}
		select {
		case <-s.done:
			testenv.Unavailable(t, "slapd exited at start: %s", s.log.String())
			return nil
		default:
		}
		if time.Now().After(deadline) {
			testenv.Unavailable(t, "slapd did not listen on %s within 15s: %s", s.URL, s.log.String())
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Log returns what slapd wrote.
func (s *Server) Log() string { return s.log.String() }

// Kill ends slapd with SIGKILL and waits for it: a server that dies.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Kill()
	<-s.done
}

// Freeze stops slapd with SIGSTOP: a server that holds its connections
// open and answers nothing. Stop and Kill still end it.
func (s *Server) Freeze() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Stop ends slapd with SIGTERM (SIGKILL after 5 s) and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Process.Signal(syscall.SIGCONT) // a frozen slapd handles the SIGTERM now
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Admin returns a connection bound as the rootdn (plain LDAP on loopback),
// closed in t.Cleanup.
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("ldaptest: dial: %v", err)
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
		c.Close()
		t.Fatalf("ldaptest: bind: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// OtherCAFile writes the PEM of a fresh CA that signed nothing a Server
// holds, for tests of a ca_file that does not fit, and returns its path.
func OtherCAFile(t testing.TB) string {
	t.Helper()
	_, _, caDER, err := newCA()
	if err != nil {
		t.Fatalf("ldaptest: CA: %v", err)
	}
	file := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rosterd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	return ca, caKey, caDER, err
}

// makeCerts makes a CA and a server certificate: for 127.0.0.1 and
// localhost in its subjectAltName, or, with a commonName, one that names
// the server only in its subject CN.
func makeCerts(commonName string) (certPEM, keyPEM, caPEM []byte, err error) {
	ca, caKey, caDER, err := newCA()
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if commonName != "" {
		tmpl.Subject.CommonName, tmpl.DNSNames, tmpl.IPAddresses = commonName, nil, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
