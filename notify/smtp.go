package notify

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// smtpServer is the parsed smtp.url: where to connect and how.
type smtpServer struct {
	host string
	opts []mail.Option
	// display is the URL without its password, for logs.
	display string
}

// parseSMTP reads smtp://user:password@host:port (STARTTLS, port 587 by
// default) or smtps://user:password@host:port (TLS from the first byte,
// port 465 by default). STARTTLS is mandatory — a server that does not
// offer it is refused, so a password or an invite link never crosses the
// network in clear — except to a loopback host (a local relay, a test's
// capture server), where it is used when offered. The user and password,
// when given, authenticate with the best mechanism the server offers.
func parseSMTP(raw string, timeout time.Duration) (smtpServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return smtpServer{}, fmt.Errorf("smtp.url: %w", err)
	}
	host := u.Hostname()
	if host == "" {
		return smtpServer{}, fmt.Errorf("smtp.url: no host")
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return smtpServer{}, fmt.Errorf("smtp.url: invalid port %q", p)
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		if port == 0 {
			port = 587
		}
		policy := mail.TLSMandatory
		if isLoopback(host) {
			policy = mail.TLSOpportunistic
		}
		opts = append(opts, mail.WithTLSPolicy(policy))
	case "smtps":
		if port == 0 {
			port = 465
		}
		opts = append(opts, mail.WithSSL())
	default:
		return smtpServer{}, fmt.Errorf("smtp.url: scheme %q: want smtp:// (STARTTLS) or smtps:// (TLS)", u.Scheme)
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	shown := *u
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	return smtpServer{host: host, opts: opts, display: shown.Redacted()}, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
