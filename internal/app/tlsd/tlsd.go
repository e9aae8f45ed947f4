// Package tlsd answers TLS on any port: it records the client's
// ClientHello (versions, SNI, ALPN, cipher suites, extensions, signature
// algorithms, groups, JA3 and JA4), completes the handshake with
// crypto/tls and a per-host certificate, and hands the decrypted stream to
// the same content detection as cleartext (HTTPS gets the HTTP handler;
// IMAPS, POP3S and SMTPS greet as over cleartext).
package tlsd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/profile"
	"github.com/masscanned-go/masscanned/internal/tlsfp"
)

// Description is the one-line summary shown in the protocol list.
const Description = "TLS on any port: ClientHello, JA3, JA4; handshake with a per-host certificate, then the inner protocol (HTTPS, IMAPS, POP3S, SMTPS)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Certificates gives the certificate of a connection's host (c.Host()),
// for the host name cn.
type Certificates func(c *app.Conn, cn string) (*tls.Certificate, error)

// Handler is the TLS handler.
type Handler struct {
	// Apps dispatches the decrypted stream (nil: nothing after the
	// handshake).
	Apps *app.Registry
	// Certs gives per-host certificates (nil: one self-signed certificate
	// per host name, per process).
	Certs Certificates
}

// New returns the TLS handler; set Apps before use.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "tls" }

// Detect implements app.Handler: a handshake record (type 22, version
// 3.x) whose first message is a ClientHello.
func (*Handler) Detect(b []byte, t app.Transport) app.Verdict {
	if t != app.TCP || len(b) == 0 {
		return app.No
	}
	want := []byte{0x16, 0x03}
	for i := 0; i < len(want) && i < len(b); i++ {
		if b[i] != want[i] {
			return app.No
		}
	}
	if len(b) < 6 {
		if len(b) >= 3 && b[2] > 0x04 {
			return app.No
		}
		return app.Maybe
	}
	if b[2] > 0x04 || b[5] != 0x01 {
		return app.No
	}
	return app.Yes
}

// Serve implements app.Handler: without the library (the masscanned
// personality, or the library bound reached) nothing is answered.
func (*Handler) Serve(*app.Conn, []byte) app.Result { return app.Result{} }

// UseLibrary implements app.LibraryHandler.
func (*Handler) UseLibrary(c *app.Conn) bool {
	return c.Transport == app.TCP && c.Personality != "masscanned"
}

// handshakeTimeout is nginx's ssl_handshake_timeout.
const handshakeTimeout = 60 * time.Second

// implicitTLS maps a service over implicit TLS to the cleartext service
// that greets inside it.
var implicitTLS = map[string]string{"imaps": "imap", "pop3s": "pop3", "smtps": "smtp"}

// RunLibrary implements app.LibraryHandler.
func (h *Handler) RunLibrary(c *app.Conn, nc net.Conn, rec func(*event.App)) {
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	tap := &helloTap{Conn: nc, rec: rec}
	cn := c.Banner("hostname", "localhost")
	cfg := &tls.Config{
		// nginx 1.22 on Debian 12 (OpenSSL 3, security level 2): TLS 1.2
		// and 1.3; HTTP/1.1 only (http2 is off in the default site)
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if h.Certs != nil {
				return h.Certs(c, cn)
			}
			return processCert(cn)
		},
	}
	tc := tls.Server(tap, cfg)
	if err := tc.Handshake(); err != nil {
		rec(&event.App{Fields: []event.Field{{Key: "handshake_error", Value: app.Printable([]byte(err.Error()))}}})
		return
	}
	st := tc.ConnectionState()
	rec(&event.App{Fields: []event.Field{
		{Key: "handshake", Value: "complete"},
		{Key: "version", Value: tls.VersionName(st.Version)},
		{Key: "cipher", Value: tls.CipherSuiteName(st.CipherSuite)},
		{Key: "alpn_chosen", Value: st.NegotiatedProtocol},
	}})
	_ = nc.SetDeadline(time.Time{})
	h.inner(c, tc, rec)
	_ = tc.Close()
}

// inner runs the decrypted stream through the registry, as the stack does
// for cleartext: detection by content, or the greeting of the service
// the port speaks over implicit TLS.
func (h *Handler) inner(c *app.Conn, tc *tls.Conn, rec func(*event.App)) {
	if h.Apps == nil {
		return
	}
	var st app.Stream
	ic := *c
	ic.State, ic.InTLS, ic.Resume = nil, true, ""
	st.Reset(ic)
	if c.Resume != "" {
		// after a STARTTLS: the handler that asked for TLS goes on
		if !st.Pin(h.Apps, c.Resume) {
			return
		}
		h.serveInner(&st, tc, rec)
		return
	}
	svc := c.Service
	if svc == "" {
		svc = profile.WellKnown[c.Server.Port()]
	}
	if g, ok := implicitTLS[svc]; ok {
		if reply, a, closing, ok := st.Greet(h.Apps, g); ok {
			rec(a)
			if _, err := tc.Write(reply); err != nil || closing || st.HasLibrary() {
				return
			}
		}
	}
	h.serveInner(&st, tc, rec)
}

// serveInner feeds the decrypted stream to st and writes its replies.
func (h *Handler) serveInner(st *app.Stream, tc *tls.Conn, rec func(*event.App)) {
	buf := make([]byte, 16<<10)
	for {
		_ = tc.SetReadDeadline(time.Now().Add(5 * time.Minute))
		n, err := tc.Read(buf)
		if n > 0 {
			reply, a, closing := st.Feed(h.Apps, buf[:n], 64<<10)
			if a != nil {
				rec(a)
			}
			if st.HasLibrary() {
				return // no library inside TLS: give up the stream
			}
			if len(reply) > 0 {
				if _, err := tc.Write(reply); err != nil {
					return
				}
			}
			if closing {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// helloTap reads the client's first bytes as they go to crypto/tls and
// records its ClientHello once.
type helloTap struct {
	net.Conn
	rec  func(*event.App)
	buf  []byte
	done bool
}

// maxHello bounds the bytes kept to parse a ClientHello (a few records).
const maxHello = 64 << 10

func (t *helloTap) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 && !t.done {
		t.buf = append(t.buf, b[:n]...)
		ch, need, perr := tlsfp.ParseRecord(t.buf)
		switch {
		case perr != nil || (need > 0 && len(t.buf) >= maxHello):
			t.done, t.buf = true, nil
		case ch != nil:
			t.done = true
			t.rec(&event.App{Fields: helloFields(ch), Raw: app.CapRaw(t.buf)})
			t.buf = nil
		}
	}
	return n, err
}

// helloFields is what a ClientHello records.
func helloFields(ch *tlsfp.ClientHello) []event.Field {
	ja3, ja3h := tlsfp.JA3(ch)
	var exts []string
	for _, e := range ch.Extensions {
		exts = append(exts, fmt.Sprintf("%04x", e.Type))
	}
	f := []event.Field{
		{Key: "client_hello", Value: true},
		{Key: "legacy_version", Value: fmt.Sprintf("%04x", ch.Version)},
		{Key: "supported_versions", Value: hexList(ch.SupportedVersions)},
		{Key: "sni", Value: app.Printable([]byte(ch.ServerName))},
		{Key: "alpn", Value: printableList(ch.ALPN)},
		{Key: "cipher_suites", Value: hexList(ch.CipherSuites)},
		{Key: "extensions", Value: exts},
		{Key: "signature_algorithms", Value: hexList(ch.SignatureAlgorithms)},
		{Key: "supported_groups", Value: hexList(ch.SupportedGroups)},
		{Key: "ja3", Value: ja3},
		{Key: "ja3_hash", Value: ja3h},
		{Key: "ja4", Value: tlsfp.JA4(ch, 't')},
		{Key: "ja4_r", Value: tlsfp.JA4R(ch, 't')},
	}
	return f
}

func hexList(v []uint16) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%04x", x)
	}
	return out
}

func printableList(v []string) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = app.Printable([]byte(x))
	}
	return out
}

var (
	certMu    sync.Mutex
	certCache = map[string]*tls.Certificate{}
)

// processCert is a self-signed certificate for cn, made once per process
// (without a state directory, certificates do not survive a restart).
func processCert(cn string) (*tls.Certificate, error) {
	certMu.Lock()
	defer certMu.Unlock()
	if c, ok := certCache[cn]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now,
		NotAfter:     now.AddDate(10, 0, 0),
		DNSNames:     []string{strings.TrimSuffix(cn, ".")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	certCache[cn] = c
	return c, nil
}
