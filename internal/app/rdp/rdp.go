// Package rdp plays the Remote Desktop service of a Windows Server that
// requires Network Level Authentication: it answers an X.224 Connection
// Request (any port) with a Connection Confirm selecting CredSSP, runs TLS
// with the host's certificate, then CredSSP with NTLM: the client's
// NEGOTIATE gets a CHALLENGE naming the host, its AUTHENTICATE is recorded
// (user, domain, workstation, NetNTLMv2 hash) and refused with
// STATUS_LOGON_FAILURE, as Windows refuses a wrong password.
package rdp

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/app/tlsd"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "RDP (X.224 on any port): NLA required, TLS and CredSSP/NTLM; records the cookie, protocols, users and NetNTLMv2 hashes, refuses the logon"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Security protocols (MS-RDPBCGR 2.2.1.1.1 requestedProtocols).
const (
	protoRDP      = 0x00
	protoSSL      = 0x01
	protoHybrid   = 0x02
	protoRDSTLS   = 0x04
	protoHybridEx = 0x08
	protoRDSAAD   = 0x10
)

// RDP_NEG_FAILURE codes (MS-RDPBCGR 2.2.1.2.2).
const (
	sslRequiredByServer    = 1
	hybridRequiredByServer = 5
)

// negRspFlags are the RDP_NEG_RSP flags of Windows 10 / Server 2019:
// EXTENDED_CLIENT_DATA_SUPPORTED, DYNVC_GFX_PROTOCOL_SUPPORTED,
// NEGRSP_FLAG_RESERVED, RESTRICTED_ADMIN_MODE_SUPPORTED,
// REDIRECTED_AUTHENTICATION_MODE_SUPPORTED.
const negRspFlags = 0x1f

// srcRef is the X.224 source reference Windows puts in every Connection
// Confirm.
const srcRef = 0x1234

// Handler is the RDP handler.
type Handler struct {
	// TLS, when set, gives the host certificates (its Certs); else one
	// self-signed certificate per computer name, per process.
	TLS *tlsd.Handler
}

// New returns the RDP handler; tls (may be nil) lends its certificates.
func New(tls *tlsd.Handler) *Handler { return &Handler{TLS: tls} }

// Name implements app.Handler.
func (*Handler) Name() string { return "rdp" }

// maxCR bounds an X.224 Connection Request (a cookie is short; the TPKT
// length field allows 64 KiB).
const maxCR = 4096

// Detect implements app.Handler: a TPKT header (03 00 length) carrying an
// X.224 Connection Request (code 0xE0) whose length indicator matches.
func (*Handler) Detect(b []byte, t app.Transport) app.Verdict {
	if t != app.TCP || len(b) == 0 {
		return app.No
	}
	if b[0] != 3 || len(b) > 1 && b[1] != 0 {
		return app.No
	}
	if len(b) < 6 {
		return app.Maybe
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 11 || n > maxCR || int(b[4]) != n-5 || b[5] != 0xe0 {
		return app.No
	}
	return app.Yes
}

// request is a parsed X.224 Connection Request.
type request struct {
	cookie, token string // mstshash cookie, or another routing token
	hasNeg        bool
	negFlags      byte
	requested     uint32
	correlation   string
}

// parseCR parses the X.224 Connection Request at the start of b; n is its
// length (0 with ok: more bytes needed).
func parseCR(b []byte) (r request, n int, ok bool) {
	if len(b) < 4 {
		return r, 0, true
	}
	n = int(binary.BigEndian.Uint16(b[2:]))
	if b[0] != 3 || n < 11 || n > maxCR {
		return r, 0, false
	}
	if len(b) < n {
		return r, 0, true
	}
	if int(b[4]) != n-5 || b[5] != 0xe0 {
		return r, 0, false
	}
	rest := b[11:n]
	if len(rest) > 0 && rest[0] != 1 {
		// a cookie or routing token: text up to CR LF
		if i := bytes.Index(rest, []byte("\r\n")); i >= 0 {
			line := rest[:i]
			if v, found := bytes.CutPrefix(line, []byte("Cookie: mstshash=")); found {
				r.cookie = app.Printable(v)
			} else {
				r.token = app.Printable(line)
			}
			rest = rest[i+2:]
		} else {
			r.token = app.Printable(rest)
			rest = nil
		}
	}
	if len(rest) >= 8 && rest[0] == 1 && binary.LittleEndian.Uint16(rest[2:]) == 8 {
		r.hasNeg = true
		r.negFlags = rest[1]
		r.requested = binary.LittleEndian.Uint32(rest[4:])
		rest = rest[8:]
		if r.negFlags&0x08 != 0 && len(rest) >= 20 && rest[0] == 6 {
			r.correlation = hexString(rest[4:20])
		}
	}
	return r, n, true
}

func hexString(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, d[c>>4], d[c&15])
	}
	return string(out)
}

// protocolNames names the bits of a requestedProtocols value.
func protocolNames(p uint32) []string {
	out := []string{}
	if p == 0 {
		return append(out, "rdp")
	}
	names := []struct {
		bit  uint32
		name string
	}{{protoSSL, "ssl"}, {protoHybrid, "hybrid"}, {protoRDSTLS, "rdstls"}, {protoHybridEx, "hybrid_ex"}, {protoRDSAAD, "rdsaad"}}
	for _, n := range names {
		if p&n.bit != 0 {
			out = append(out, n.name)
			p &^= n.bit
		}
	}
	if p != 0 {
		out = append(out, "0x"+hexString(binary.BigEndian.AppendUint32(nil, p)))
	}
	return out
}

// choose picks the security protocol as a Windows host requiring NLA
// does: CredSSP with early user authorization, else CredSSP; anything
// else gets HYBRID_REQUIRED_BY_SERVER.
func choose(r request) (selected uint32, failure byte) {
	switch {
	case r.requested&protoHybridEx != 0:
		return protoHybridEx, 0
	case r.requested&protoHybrid != 0:
		return protoHybrid, 0
	}
	return 0, hybridRequiredByServer
}

// confirm builds the X.224 Connection Confirm answering r.
func confirm(selected uint32, failure byte) []byte {
	b := []byte{3, 0, 0, 19, 14, 0xd0, 0, 0, srcRef >> 8, srcRef & 0xff, 0}
	if failure != 0 {
		return append(b, 3, 0, 8, 0, failure, 0, 0, 0)
	}
	b = append(b, 2, negRspFlags, 8, 0)
	return binary.LittleEndian.AppendUint32(b, selected)
}

var failureNames = map[byte]string{
	1: "SSL_REQUIRED_BY_SERVER", 2: "SSL_NOT_ALLOWED_BY_SERVER", 3: "SSL_CERT_NOT_ON_SERVER",
	4: "INCONSISTENT_FLAGS", 5: "HYBRID_REQUIRED_BY_SERVER", 6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
}

// answer parses the request at the start of b and gives the Connection
// Confirm, the fields recorded, and the protocol selected (0 with a
// failure, or when b is no Connection Request).
func answer(b []byte) (reply []byte, n int, f []event.Field, selected uint32, needMore bool) {
	r, n, ok := parseCR(b)
	if !ok {
		return nil, 0, []event.Field{{Key: "error", Value: "not an X.224 connection request"}}, 0, false
	}
	if n == 0 {
		return nil, 0, nil, 0, true
	}
	f = append(f, event.Field{Key: "command", Value: "connection_request"})
	if r.cookie != "" {
		f = append(f, event.Field{Key: "cookie", Value: r.cookie})
	}
	if r.token != "" {
		f = append(f, event.Field{Key: "routing_token", Value: r.token})
	}
	if r.hasNeg {
		f = append(f, event.Field{Key: "requested_protocols", Value: protocolNames(r.requested)})
		if r.negFlags != 0 {
			f = append(f, event.Field{Key: "neg_flags", Value: int(r.negFlags)})
		}
		if r.correlation != "" {
			f = append(f, event.Field{Key: "correlation_id", Value: r.correlation})
		}
	} else {
		f = append(f, event.Field{Key: "requested_protocols", Value: []string{"rdp"}})
	}
	sel, failure := choose(r)
	if failure != 0 {
		f = append(f, event.Field{Key: "failure", Value: failureNames[failure]})
	} else {
		f = append(f, event.Field{Key: "selected_protocol", Value: protocolNames(sel)[0]})
	}
	return confirm(sel, failure), n, f, sel, false
}

// state is the plain handler's per-connection state.
type state struct{ confirmed bool }

// Serve implements app.Handler, for connections the library does not
// serve (upstream personality, library bound reached): the Connection
// Confirm is the same; what follows (TLS) is recorded and the connection
// closed.
func (*Handler) Serve(c *app.Conn, b []byte) app.Result {
	st, _ := c.State.(*state)
	if st == nil {
		st = &state{}
		c.State = st
	}
	if st.confirmed {
		return app.Result{Consumed: len(b), Close: true, Fields: []event.Field{{Key: "after_confirm", Value: len(b)}}}
	}
	reply, n, f, sel, more := answer(b)
	if more {
		return app.Result{NeedMore: true}
	}
	if reply == nil {
		return app.Result{Consumed: len(b), Close: true, Fields: f}
	}
	st.confirmed = true
	return app.Result{Consumed: n, Reply: reply, Fields: f, Close: sel == 0}
}

// UseLibrary implements app.LibraryHandler.
func (*Handler) UseLibrary(c *app.Conn) bool {
	return c.Transport == app.TCP && c.Personality != "masscanned"
}

// identity is the NTLM identity of the host: a workgroup Windows Server
// 2019 named after the profile's hostname banner (its first label, upper
// case, at most 15 characters, is the NetBIOS name; the rest its DNS
// domain), else a WIN-XXXXXXXXXXX name of its own, stable per host.
func identity(c *app.Conn) (ntlm.Identity, string) {
	host := c.Banner("hostname", "")
	if host == "" {
		host = ntlm.DefaultComputerName(c.Host())
	}
	host = strings.TrimSuffix(host, ".")
	label, domain, dotted := strings.Cut(host, ".")
	nb := strings.ToUpper(label)
	if len(nb) > 15 {
		nb = nb[:15]
	}
	id := ntlm.Identity{
		Target: nb, NBDomain: nb, NBComputer: nb, DNSDomain: nb, DNSComputer: nb,
		Flags:   0xe28a8235, // workgroup: TARGET_TYPE_SERVER
		Version: ntlm.WindowsVersion(10, 0, 17763),
	}
	if dotted && domain != "" {
		d, _, _ := strings.Cut(domain, ".")
		d = strings.ToUpper(d)
		if len(d) > 15 {
			d = d[:15]
		}
		id.Target, id.NBDomain = d, d
		id.DNSDomain, id.DNSComputer, id.DNSTree = domain, host, domain
		id.Flags = 0xe2898235 // domain member: TARGET_TYPE_DOMAIN
	}
	return id, host
}

var (
	certMu    sync.Mutex
	certCache = map[string]*tls.Certificate{}
)

// processCert is the self-signed certificate Windows makes for RDP:
// RSA 2048, CN = the computer's name, six months.
func processCert(cn string) (*tls.Certificate, error) {
	certMu.Lock()
	defer certMu.Unlock()
	if c, ok := certCache[cn]; ok {
		return c, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now,
		NotAfter:     now.AddDate(0, 6, 0),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	certCache[cn] = c
	return c, nil
}
