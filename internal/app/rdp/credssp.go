package rdp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/event"
)

// credsspVersion is the CredSSP version of Windows Server 2019.
const credsspVersion = 6

// statusLogonFailure is STATUS_LOGON_FAILURE, the errorCode of a refused
// logon.
var statusLogonFailure = []byte{0xc0, 0x00, 0x00, 0x6d}

// loginTimeout bounds the whole exchange, as the RDP listener drops a
// client that does not authenticate in time.
const loginTimeout = 30 * time.Second

// maxTSRequest bounds one TSRequest (an AUTHENTICATE is a few KiB).
const maxTSRequest = 16 << 10

// maxRounds bounds the TSRequests read on one connection.
const maxRounds = 4

// RunLibrary implements app.LibraryHandler.
func (h *Handler) RunLibrary(c *app.Conn, nc net.Conn, recApp func(*event.App)) {
	rec := func(f []event.Field) { recApp(&event.App{Fields: f}) }
	_ = nc.SetDeadline(time.Now().Add(loginTimeout))
	buf := make([]byte, 0, 512)
	var reply []byte
	var fields []event.Field
	var selected uint32
	for {
		var more bool
		reply, _, fields, selected, more = answer(buf)
		if !more {
			break
		}
		if len(buf) >= maxCR {
			return
		}
		tmp := make([]byte, maxCR-len(buf))
		k, err := nc.Read(tmp)
		buf = append(buf, tmp[:k]...)
		if err != nil && k == 0 {
			return
		}
	}
	rec(fields)
	if reply == nil {
		return
	}
	if _, err := nc.Write(reply); err != nil || selected == 0 {
		return
	}
	id, host := identity(c)
	tap := &alertTap{Conn: nc}
	cfg := &tls.Config{
		// Windows Server 2019's RDP listener: TLS 1.2 (1.0 and 1.1 are
		// refused by current clients anyway), ECDHE with AES-GCM
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: rdpSuites,
		KeyLogWriter: keyLog{tap},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if h.TLS != nil && h.TLS.Certs != nil {
				return h.TLS.Certs(c, host)
			}
			return processCert(host)
		},
	}
	tc := tls.Server(tap, cfg)
	if err := tc.Handshake(); err != nil {
		rec([]event.Field{{Key: "tls_error", Value: app.Printable([]byte(err.Error()))}})
		return
	}
	st := tc.ConnectionState()
	rec([]event.Field{{Key: "tls", Value: tls.VersionName(st.Version)}, {Key: "cipher", Value: tls.CipherSuiteName(st.CipherSuite)}})
	if credSSP(c, tc, &id, rec) == denyAlert && tap.accessDenied(tc) {
		return // the alert ends the TLS session: no close_notify
	}
	_ = tc.Close()
}

// How a CredSSP exchange ends.
const (
	endClose  = iota // close_notify and FIN
	denyAlert        // a fatal access_denied alert, then FIN
)

// tsRequest is the part of a CredSSP TSRequest (MS-CSSP 2.2.1) we read.
type tsRequest struct {
	version                  int64
	token                    []byte // first negoToken
	hasAuthInfo, hasPubKey   bool
	hasErrorCode, hasNonce   bool
	errorCode                int64
	authInfoLen, pubKeyLen   int
	nonceLen, negoTokenCount int
}

var errTSRequest = errors.New("malformed TSRequest")

// parseTSRequest decodes a DER TSRequest.
func parseTSRequest(b []byte) (tsRequest, error) {
	var r tsRequest
	in := cryptobyte.String(b)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) {
		return r, errTSRequest
	}
	var v cryptobyte.String
	if !seq.ReadASN1(&v, asn1.Tag(0).Constructed().ContextSpecific()) || !v.ReadASN1Integer(&r.version) {
		return r, errTSRequest
	}
	var tokens cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&tokens, &present, asn1.Tag(1).Constructed().ContextSpecific()) {
		return r, errTSRequest
	}
	if present {
		var list cryptobyte.String
		if !tokens.ReadASN1(&list, asn1.SEQUENCE) {
			return r, errTSRequest
		}
		for !list.Empty() {
			var item, tok cryptobyte.String
			var t []byte
			if !list.ReadASN1(&item, asn1.SEQUENCE) || !item.ReadASN1(&tok, asn1.Tag(0).Constructed().ContextSpecific()) ||
				!tok.ReadASN1Bytes(&t, asn1.OCTET_STRING) {
				return r, errTSRequest
			}
			if r.negoTokenCount == 0 {
				r.token = t
			}
			r.negoTokenCount++
		}
	}
	octets := func(tag int, has *bool, n *int) bool {
		var s cryptobyte.String
		if !seq.ReadOptionalASN1(&s, has, asn1.Tag(tag).Constructed().ContextSpecific()) {
			return false
		}
		if *has {
			var o []byte
			if !s.ReadASN1Bytes(&o, asn1.OCTET_STRING) {
				return false
			}
			*n = len(o)
		}
		return true
	}
	if !octets(2, &r.hasAuthInfo, &r.authInfoLen) || !octets(3, &r.hasPubKey, &r.pubKeyLen) {
		return r, errTSRequest
	}
	var ec cryptobyte.String
	if !seq.ReadOptionalASN1(&ec, &r.hasErrorCode, asn1.Tag(4).Constructed().ContextSpecific()) {
		return r, errTSRequest
	}
	if r.hasErrorCode && !ec.ReadASN1Integer(&r.errorCode) {
		return r, errTSRequest
	}
	if !octets(5, &r.hasNonce, &r.nonceLen) {
		return r, errTSRequest
	}
	return r, nil
}

// readTSRequest reads one DER element (a TSRequest) from r.
func readTSRequest(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 2, 6)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if hdr[0] != 0x30 {
		return hdr, errTSRequest
	}
	n := int(hdr[1])
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return hdr, errTSRequest
		}
		ext := make([]byte, k)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, err
		}
		hdr = append(hdr, ext...)
		n = 0
		for _, c := range ext {
			n = n<<8 | int(c)
		}
	}
	if n > maxTSRequest {
		return hdr, errTSRequest
	}
	b := make([]byte, len(hdr)+n)
	copy(b, hdr)
	if _, err := io.ReadFull(r, b[len(hdr):]); err != nil {
		return nil, err
	}
	return b, nil
}

// tsRequestBytes builds a server TSRequest: a negoToken, or an errorCode.
func tsRequestBytes(version int, token, errorCode []byte) []byte {
	parts := [][]byte{ntlm.DER(0xa0, ntlm.DER(0x02, []byte{byte(version)}))}
	if token != nil {
		parts = append(parts, ntlm.DER(0xa1, ntlm.DER(0x30, ntlm.DER(0x30, ntlm.DER(0xa0, ntlm.DER(0x04, token))))))
	}
	if errorCode != nil {
		parts = append(parts, ntlm.DER(0xa4, ntlm.DER(0x02, errorCode)))
	}
	return ntlm.DER(0x30, parts...)
}

// credSSP runs the server side of CredSSP over the TLS stream until the
// client's NTLM AUTHENTICATE, which it records and refuses.
func credSSP(c *app.Conn, rw io.ReadWriter, id *ntlm.Identity, rec func([]event.Field)) int {
	var challenge [8]byte
	sent := false
	for range maxRounds {
		b, err := readTSRequest(rw)
		if err != nil {
			if b != nil {
				rec([]event.Field{{Key: "error", Value: "malformed TSRequest"}, {Key: "data", Value: app.Printable(b)}})
			}
			return endClose
		}
		req, err := parseTSRequest(b)
		if err != nil {
			rec([]event.Field{{Key: "error", Value: err.Error()}})
			return endClose
		}
		f := []event.Field{{Key: "credssp_version", Value: int(req.version)}}
		if req.hasPubKey {
			f = append(f, event.Field{Key: "pub_key_auth_length", Value: req.pubKeyLen})
		}
		if req.hasAuthInfo {
			f = append(f, event.Field{Key: "auth_info_length", Value: req.authInfoLen})
		}
		if req.hasErrorCode {
			f = append(f, event.Field{Key: "client_error_code", Value: req.errorCode})
		}
		m := ntlm.Parse(ntlm.Find(req.token))
		var ch *[8]byte
		if sent {
			ch = &challenge
		}
		f = append(f, m.Fields(ch)...)
		switch m.Type {
		case ntlm.TypeNegotiate:
			if c.Rand != nil {
				c.Rand(challenge[:])
			}
			sent = true
			rid := *id
			if m.Flags != 0 {
				// the negotiated flags: what both sides support, and the
				// target bits the server always sets
				rid.Flags = id.Flags&m.Flags | id.Flags&(ntlm.FlagTargetInfo|ntlm.FlagTargetDomain|ntlm.FlagTargetServer)
			}
			rec(f)
			if _, err := rw.Write(tsRequestBytes(credsspVersion, ntlm.Challenge(&rid, challenge, c.Now), nil)); err != nil {
				return endClose
			}
		case ntlm.TypeAuthenticate:
			if a, ok := m.AuthField("rdp", ch, false); ok {
				f = append(f, a)
			}
			f = append(f, event.Field{Key: "status", Value: "STATUS_LOGON_FAILURE"})
			rec(f)
			if req.version < 3 {
				return denyAlert
			}
			_, _ = rw.Write(tsRequestBytes(credsspVersion, nil, statusLogonFailure))
			return endClose
		default:
			f = append(f, event.Field{Key: "error", Value: "no NTLM token"})
			rec(f)
			return endClose
		}
	}
	return endClose
}
