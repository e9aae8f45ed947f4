package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Greeting services over implicit TLS (SMTPS 465, IMAPS 993, POP3S 995):
// a real client completes TLS with masscanned, then talks to the service
// inside it as over cleartext. Each connection must be recorded twice:
// its ClientHello (JA4) by the TLS handler and its dialogue, credentials
// included, by the service's handler, on the same client port.

// ja4NoSNI is the shape of a JA4 for a TLS 1.3 client that sends no SNI
// (curl to an address): t13i, cipher and extension counts, ALPN, hashes.
var ja4NoSNI = regexp.MustCompile(`^t13i[0-9]{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)

// tlsConns groups the application records of a stopped lab by client
// port: one entry per connection.
func tlsConns(t *testing.T, l *Lab) map[float64][]map[string]any {
	t.Helper()
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	m := map[float64][]map[string]any{}
	for _, e := range l.Events() {
		if a := e.App(); a != nil {
			m[e.Num("port_src")] = append(m[e.Num("port_src")], a)
		}
	}
	return m
}

// tlsLogin finds the connection whose record of proto holds user and
// password (and the other wanted fields), and checks that the same
// connection's ClientHello and completed handshake were recorded.
func tlsLogin(t *testing.T, conns map[float64][]map[string]any, proto string, want map[string]string) {
	t.Helper()
	for port, recs := range conns {
		found := false
		for _, a := range recs {
			ok := a["proto"] == proto
			for k, v := range want {
				ok = ok && strings.Contains(str(a[k]), v)
			}
			found = found || ok
		}
		if !found {
			continue
		}
		var hello, done bool
		for _, a := range recs {
			if a["proto"] != "tls" {
				continue
			}
			if a["client_hello"] == true {
				hello = true
				if !ja4NoSNI.MatchString(str(a["ja4"])) || len(str(a["ja3_hash"])) != 32 {
					t.Errorf("%s connection from port %v: ja4 %q ja3 %q", proto, port, a["ja4"], a["ja3_hash"])
				}
			}
			if a["handshake"] == "complete" && a["version"] == "TLS 1.3" {
				done = true
			}
		}
		if !hello || !done {
			t.Errorf("%s connection from port %v: ClientHello recorded %v, handshake completed %v: %v", proto, port, hello, done, recs)
		}
		return
	}
	t.Errorf("no %s record with %v in %v", proto, want, conns)
}

// TestTLSServicesSMTPS: curl sends a message over SMTPS, then logs in
// with AUTH PLAIN and AUTH LOGIN; the envelope, the message and both
// credentials are recorded inside TLS.
func TestTLSServicesSMTPS(t *testing.T) {
	Require(t, "curl")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	msg := filepath.Join(l.Dir, "msg")
	if err := os.WriteFile(msg, []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: e2e smtps\r\n\r\nhello\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-v", "-k", "--ssl-reqd", "smtps://" + RespIP4 + ":465", "--mail-from", "a@example.com", "--mail-rcpt", "b@example.com", "-T", msg}
	out, err := l.InClient(60*time.Second, "curl", base...)
	if err != nil || !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("curl smtps (message): %v\n%s", err, out)
	}
	for _, login := range [][]string{{"-u", "alice:s3cret"}, {"-u", "bob:hunter2", "--login-options", "AUTH=LOGIN"}} {
		out, err := l.InClient(60*time.Second, "curl", append(base, login...)...)
		// refused as Postfix refuses a wrong password: curl's "Login denied"
		if err == nil || !strings.Contains(out, "535 5.7.8 Error: authentication failed") {
			t.Errorf("curl smtps %v: %v\n%s", login, err, out)
		}
	}
	conns := tlsConns(t, l)
	tlsLogin(t, conns, "smtp", map[string]string{"mail_from": "<a@example.com>"})
	tlsLogin(t, conns, "smtp", map[string]string{"rcpt_to": "<b@example.com>"})
	tlsLogin(t, conns, "smtp", map[string]string{"subject": "e2e smtps", "message_size": "69"})
	tlsLogin(t, conns, "smtp", map[string]string{"user": "alice", "password": "s3cret"})
	tlsLogin(t, conns, "smtp", map[string]string{"user": "bob", "password": "hunter2"})
}

// TestTLSServicesIMAPS: curl logs in over IMAPS with AUTHENTICATE PLAIN,
// openssl s_client with the LOGIN command (curl 7.88 refuses its own
// AUTH=+LOGIN option).
func TestTLSServicesIMAPS(t *testing.T) {
	Require(t, "curl", "openssl")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(60*time.Second, "curl", "-v", "-k", "imaps://"+RespIP4+"/", "-u", "carol:pa55")
	if err == nil || !strings.Contains(out, "* OK [CAPABILITY") || !strings.Contains(out, "NO [AUTHENTICATIONFAILED]") {
		t.Errorf("curl imaps: %v\n%s", err, out)
	}
	out, err = l.InClient(60*time.Second, "sh", "-c", "(sleep 2; printf 'a LOGIN dave letmein\\r\\nb LOGOUT\\r\\n'; sleep 1) | openssl s_client -connect "+
		RespIP4+":993 -quiet 2>&1")
	if !strings.Contains(out, "a NO [AUTHENTICATIONFAILED] Authentication failed.") {
		t.Errorf("openssl s_client imaps LOGIN: %v\n%s", err, out)
	}
	conns := tlsConns(t, l)
	tlsLogin(t, conns, "imap", map[string]string{"user": "carol", "password": "pa55"})
	tlsLogin(t, conns, "imap", map[string]string{"user": "dave", "password": "letmein"})
}

// TestTLSServicesPOP3S: curl logs in over POP3S (AUTH PLAIN).
func TestTLSServicesPOP3S(t *testing.T) {
	Require(t, "curl")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(60*time.Second, "curl", "-v", "-k", "pop3s://"+RespIP4+"/", "-u", "erin:correcthorse")
	if err == nil || !strings.Contains(out, "+OK Dovecot") || !strings.Contains(out, "-ERR [AUTH] Authentication failed.") {
		t.Errorf("curl pop3s: %v\n%s", err, out)
	}
	tlsLogin(t, tlsConns(t, l), "pop3", map[string]string{"user": "erin", "password": "correcthorse"})
}
