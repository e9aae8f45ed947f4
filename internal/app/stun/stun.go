// Package stun answers STUN Binding requests (RFC 5389/8489 and the classic
// RFC 3489) over UDP and TCP with a Binding success response carrying the
// client's reflexive address.
package stun

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "STUN Binding requests (RFC 5389/8489, RFC 3489) answered with the mapped address"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	headerLen    = 20
	magicCookie  = 0x2112A442
	maxMsg       = 4096 // largest message we wait for over TCP
	maxAttrs     = 64   // attribute names recorded
	typeBinding  = 0x0001
	typeSuccess  = 0x0101
	fingerprintX = 0x5354554e

	attrMappedAddress    = 0x0001
	attrChangeRequest    = 0x0003
	attrSourceAddress    = 0x0004
	attrChangedAddress   = 0x0005
	attrXORMappedAddress = 0x0020
	attrSoftware         = 0x8022
	attrFingerprint      = 0x8028
	attrResponseOrigin   = 0x802B

	changePort = 0x02
)

// linuxSoftware is coturn's SOFTWARE attribute (Debian 12 ships 4.6.1).
const linuxSoftware = "Coturn-4.6.1 'Gorst'"

var attrNames = map[uint16]string{
	0x0001: "MAPPED-ADDRESS",
	0x0002: "RESPONSE-ADDRESS",
	0x0003: "CHANGE-REQUEST",
	0x0004: "SOURCE-ADDRESS",
	0x0005: "CHANGED-ADDRESS",
	0x0006: "USERNAME",
	0x0007: "PASSWORD",
	0x0008: "MESSAGE-INTEGRITY",
	0x0009: "ERROR-CODE",
	0x000A: "UNKNOWN-ATTRIBUTES",
	0x000B: "REFLECTED-FROM",
	0x000C: "CHANNEL-NUMBER",
	0x000D: "LIFETIME",
	0x0012: "XOR-PEER-ADDRESS",
	0x0013: "DATA",
	0x0014: "REALM",
	0x0015: "NONCE",
	0x0016: "XOR-RELAYED-ADDRESS",
	0x0019: "REQUESTED-TRANSPORT",
	0x001C: "MESSAGE-INTEGRITY-SHA256",
	0x001D: "PASSWORD-ALGORITHM",
	0x001E: "USERHASH",
	0x0020: "XOR-MAPPED-ADDRESS",
	0x0024: "PRIORITY",
	0x0025: "USE-CANDIDATE",
	0x0026: "PADDING",
	0x0027: "RESPONSE-PORT",
	0x8002: "PASSWORD-ALGORITHMS",
	0x8003: "ALTERNATE-DOMAIN",
	0x8020: "XOR-MAPPED-ADDRESS-OLD",
	0x8022: "SOFTWARE",
	0x8023: "ALTERNATE-SERVER",
	0x8027: "CACHE-TIMEOUT",
	0x8028: "FINGERPRINT",
	0x8029: "ICE-CONTROLLED",
	0x802A: "ICE-CONTROLLING",
	0x802B: "RESPONSE-ORIGIN",
	0x802C: "OTHER-ADDRESS",
	0xC057: "GOOG-NETWORK-INFO",
}

// Handler is the STUN protocol handler.
type Handler struct{}

// New returns the STUN handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "stun" }

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if len(data) < 4 {
		if t == app.UDP || (len(data) >= 1 && data[0] != 0) || (len(data) >= 2 && data[1] != 1) {
			return app.No
		}
		return app.Maybe
	}
	if binary.BigEndian.Uint16(data) != typeBinding {
		return app.No
	}
	l := int(binary.BigEndian.Uint16(data[2:]))
	if l%4 != 0 {
		return app.No
	}
	if t == app.UDP {
		if len(data) != headerLen+l {
			return app.No
		}
		if _, ok := walk(data[headerLen:], nil); !ok {
			return app.No
		}
		return app.Yes
	}
	if l > maxMsg {
		return app.No
	}
	if len(data) < 8 {
		return app.Maybe
	}
	if binary.BigEndian.Uint32(data[4:]) == magicCookie || len(data) >= headerLen {
		return app.Yes
	}
	return app.Maybe
}

// request is what we learnt from a Binding request.
type request struct {
	rfc5389     bool
	tid         []byte // 12 bytes (RFC 5389) or 16 bytes (RFC 3489)
	attrs       []string
	change      uint32
	hasChange   bool
	software    []byte
	hasSoftware bool
	fingerprint bool
}

// walk checks the attributes of a message body and records them in r (nil:
// validate only). Attributes are padded to 4 bytes (RFC 5389 §15; RFC 3489
// attributes are all multiples of 4 bytes).
func walk(body []byte, r *request) (int, bool) {
	n := 0
	for off := 0; off < len(body); {
		if len(body)-off < 4 {
			return n, false
		}
		typ := binary.BigEndian.Uint16(body[off:])
		alen := int(binary.BigEndian.Uint16(body[off+2:]))
		next := off + 4 + (alen+3)&^3
		if next > len(body) {
			return n, false
		}
		val := body[off+4 : off+4+alen]
		if typ == attrChangeRequest && alen != 4 {
			return n, false
		}
		if r != nil {
			if len(r.attrs) < maxAttrs {
				name, ok := attrNames[typ]
				if !ok {
					name = fmt.Sprintf("0x%04X", typ)
				}
				r.attrs = append(r.attrs, name)
			}
			switch typ {
			case attrChangeRequest:
				r.change = binary.BigEndian.Uint32(val)
				r.hasChange = true
			case attrSoftware:
				if !r.hasSoftware {
					r.software, r.hasSoftware = val, true
				}
			case attrFingerprint:
				r.fingerprint = true
			}
		}
		n++
		off = next
	}
	return n, true
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	if len(data) < headerLen {
		if c.Transport == app.TCP && (&Handler{}).Detect(data, app.TCP) != app.No {
			return app.Result{NeedMore: true}
		}
		return app.Result{}
	}
	if binary.BigEndian.Uint16(data) != typeBinding {
		return app.Result{}
	}
	l := int(binary.BigEndian.Uint16(data[2:]))
	if l%4 != 0 {
		return app.Result{}
	}
	if headerLen+l > len(data) {
		if c.Transport == app.TCP && l <= maxMsg {
			return app.Result{NeedMore: true}
		}
		return app.Result{}
	}
	if c.Transport == app.UDP && headerLen+l != len(data) {
		return app.Result{}
	}
	msg := data[:headerLen+l]
	var r request
	r.rfc5389 = binary.BigEndian.Uint32(msg[4:]) == magicCookie
	if r.rfc5389 {
		r.tid = msg[8:20]
	} else {
		r.tid = msg[4:20]
	}
	if _, ok := walk(msg[headerLen:], &r); !ok {
		return app.Result{}
	}
	res := app.Result{Consumed: len(msg), Fields: fields(&r)}
	replyPort := c.Server.Port()
	if r.hasChange && r.change&changePort != 0 && c.Transport == app.UDP {
		replyPort++ // wraps at 65536
		c.ReplyPort = replyPort
	}
	res.Reply = reply(c, &r, msg, replyPort)
	return res
}

func fields(r *request) []event.Field {
	rfc := "3489"
	if r.rfc5389 {
		rfc = "5389"
	}
	f := []event.Field{
		{Key: "rfc", Value: rfc},
		{Key: "transaction_id", Value: hex.EncodeToString(r.tid)},
		{Key: "attributes", Value: append([]string{}, r.attrs...)},
	}
	if r.hasChange {
		f = append(f, event.Field{Key: "change_request", Value: int(r.change)})
	}
	if r.hasSoftware {
		f = append(f, event.Field{Key: "software", Value: app.Printable(r.software)})
	}
	return f
}

// reply builds the Binding success response, falling back to a smaller
// form when the full one does not fit c.MaxReply.
func reply(c *app.Conn, r *request, msg []byte, replyPort uint16) []byte {
	client := netip.AddrPortFrom(c.Client.Addr().Unmap(), c.Client.Port())
	server := netip.AddrPortFrom(c.Server.Addr().Unmap(), replyPort)
	if c.Personality == "masscanned" {
		// Upstream: the 16 bytes after the length echoed, one plain
		// MAPPED-ADDRESS.
		b := header(msg[4:20])
		b = appendAddr(b, attrMappedAddress, client, nil)
		return finish(b, false)
	}
	var forms [][]byte
	if r.rfc5389 {
		full := header(msg[4:20])
		full = appendAddr(full, attrXORMappedAddress, client, msg[4:20])
		full = appendAddr(full, attrMappedAddress, client, nil)
		full = appendAddr(full, attrResponseOrigin, server, nil)
		full = appendAttr(full, attrSoftware, []byte(linuxSoftware))
		minimal := header(msg[4:20])
		minimal = appendAddr(minimal, attrXORMappedAddress, client, msg[4:20])
		forms = [][]byte{finish(full, r.fingerprint), finish(minimal, false)}
	} else {
		changed := netip.AddrPortFrom(server.Addr(), c.Server.Port()+1)
		full := header(msg[4:20])
		full = appendAddr(full, attrMappedAddress, client, nil)
		full = appendAddr(full, attrSourceAddress, server, nil)
		full = appendAddr(full, attrChangedAddress, changed, nil)
		minimal := header(msg[4:20])
		minimal = appendAddr(minimal, attrMappedAddress, client, nil)
		forms = [][]byte{finish(full, false), finish(minimal, false)}
	}
	for _, f := range forms {
		if c.MaxReply <= 0 || len(f) <= c.MaxReply {
			return f
		}
	}
	return forms[len(forms)-1]
}

func header(tid []byte) []byte {
	b := make([]byte, 4, 128)
	binary.BigEndian.PutUint16(b, typeSuccess)
	return append(b, tid...)
}

// appendAddr appends an address attribute; xor is the 16 bytes after the
// length field (cookie + transaction id) for XOR-encoded attributes.
func appendAddr(b []byte, typ uint16, ap netip.AddrPort, xor []byte) []byte {
	fam := byte(1)
	ip := ap.Addr().AsSlice()
	if len(ip) == 16 {
		fam = 2
	}
	port := ap.Port()
	if xor != nil {
		port ^= uint16(magicCookie >> 16)
		for i := range ip {
			ip[i] ^= xor[i]
		}
	}
	v := []byte{0, fam, byte(port >> 8), byte(port)}
	return appendAttr(b, typ, append(v, ip...))
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// finish sets the message length and appends a FINGERPRINT when asked.
func finish(b []byte, fingerprint bool) []byte {
	if fingerprint {
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)-headerLen+8))
		crc := crc32.ChecksumIEEE(b) ^ fingerprintX
		b = appendAttr(b, attrFingerprint, binary.BigEndian.AppendUint32(nil, crc))
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)-headerLen))
	return b
}
