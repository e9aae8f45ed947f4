// Package smb answers SMB1 and SMB2 over NetBIOS session framing (direct
// TCP, any port): NBT session requests, Negotiate, and Session Setup with
// an NTLMSSP challenge, so that clients (and credential sprayers) go as
// far as authentication. It records the dialects offered, the NTLM
// identities (user, domain, workstation) and a hashcat-ready NetNTLM line.
//
// SMB is a TCP protocol: datagrams are parsed and recorded but never
// answered, so the handler cannot be used for reflection.
package smb

import (
	"encoding/binary"
	"strings"
	"sync"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in protocol listings.
const Description = "SMB1/SMB2 over NetBIOS: negotiate, NTLMSSP challenge, records users and NetNTLM hashes"

// DefaultEnabled: SMB is answered by default.
const DefaultEnabled = true

// MaxMessage caps one NBT message.
const MaxMessage = 64 << 10

// NT status codes.
const (
	statusSuccess         = 0x00000000
	statusMoreProcessing  = 0xc0000016
	statusLogonFailure    = 0xc000006d
	statusAccessDenied    = 0xc0000022
	statusNotSupported    = 0xc00000bb
	statusInvalidParam    = 0xc000000d
	statusNotImplemented  = 0xc0000002
	statusUserSessionGone = 0xc0000203
)

// Handler is the SMB handler.
type Handler struct {
	once sync.Once
	guid [16]byte // server GUID, random per process
}

// New returns an SMB handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "smb" }

// state is kept per TCP connection.
type state struct {
	challenge    [8]byte
	hasChallenge bool
	sessionID    uint64
	uid          uint16
}

func (h *Handler) serverGUID(c *app.Conn) [16]byte {
	h.once.Do(func() {
		if c.Rand != nil {
			c.Rand(h.guid[:])
		}
	})
	return h.guid
}

// Detect implements app.Handler: an NBT session message (type 0) holding
// an SMB1 (FF 'SMB') or SMB2 (FE 'SMB') header, or, over TCP, an NBT
// session request (0x81).
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if len(data) == 0 {
		return app.No
	}
	switch data[0] {
	case 0x81:
		if t != app.TCP {
			return app.No
		}
		if len(data) > 1 && data[1] != 0 {
			return app.No
		}
		if len(data) < 5 {
			return app.Maybe
		}
		l := int(binary.BigEndian.Uint16(data[2:]))
		// Called and calling names are first-level encoded: 0x20, 32 bytes.
		if data[4] == 0x20 && l >= 68 && l <= 1024 {
			return app.Yes
		}
		return app.No
	case 0x00:
		for i := 4; i < len(data) && i < 8; i++ {
			if i == 4 {
				if data[4] != 0xff && data[4] != 0xfe {
					return app.No
				}
				continue
			}
			if data[i] != "xSMB"[i-4] {
				return app.No
			}
		}
		if len(data) < 8 {
			return app.Maybe
		}
		return app.Yes
	}
	return app.No
}

// Serve implements app.Handler: one NBT message per call.
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	tcp := c.Transport == app.TCP
	st, _ := c.State.(*state)
	if st == nil {
		st = &state{}
		if tcp {
			c.State = st
		}
	}
	if len(data) < 4 {
		if tcp {
			return app.Result{NeedMore: true}
		}
		return app.Result{}
	}
	l := int(data[1])<<16 | int(data[2])<<8 | int(data[3])
	if data[0] != 0 {
		l &= 0x1ffff
	}
	if l > MaxMessage {
		return app.Result{Fields: []event.Field{{Key: "error", Value: "message too large"}}}
	}
	n := 4 + l
	if len(data) < n {
		if tcp {
			return app.Result{NeedMore: true}
		}
		n = len(data) // a truncated datagram: parse what there is
	}
	msg := data[4:n]
	var res app.Result
	switch data[0] {
	case 0x81: // session request
		res.Reply = []byte{0x82, 0, 0, 0}
		res.Fields = []event.Field{{Key: "command", Value: "nbt_session_request"}}
		called, rest := nbName(msg)
		calling, _ := nbName(rest)
		res.Fields = append(res.Fields, event.Field{Key: "called_name", Value: called},
			event.Field{Key: "calling_name", Value: calling})
	case 0x85: // keepalive
	case 0x00:
		var body []byte
		switch {
		case len(msg) >= 4 && msg[0] == 0xff && string(msg[1:4]) == "SMB":
			body, res.Fields, res.Close = h.smb1(c, st, msg)
		case len(msg) >= 4 && msg[0] == 0xfe && string(msg[1:4]) == "SMB":
			body, res.Fields, res.Close = h.smb2(c, st, msg)
		default:
			return app.Result{Consumed: n, Close: true, Fields: []event.Field{{Key: "error", Value: "not SMB"}}}
		}
		if body != nil {
			res.Reply = nbt(body)
		}
	default:
		return app.Result{Consumed: n, Close: true, Fields: []event.Field{{Key: "error", Value: "unexpected NBT type"}}}
	}
	res.Consumed = n
	if !tcp {
		res.Reply = nil
	}
	return res
}

// nbt prepends an NBT session message header.
func nbt(b []byte) []byte {
	out := make([]byte, 4, 4+len(b))
	out[1] = byte(len(b) >> 16)
	out[2] = byte(len(b) >> 8)
	out[3] = byte(len(b))
	return append(out, b...)
}

// nbName decodes a first-level encoded NetBIOS name (RFC 1001 §14.1).
func nbName(b []byte) (string, []byte) {
	if len(b) < 1 {
		return "", nil
	}
	l := int(b[0])
	if l == 0 || 1+l > len(b) {
		return "", nil
	}
	enc := b[1 : 1+l]
	rest := b[1+l:]
	// skip scope labels
	for len(rest) > 0 && rest[0] != 0 {
		if int(rest[0])+1 > len(rest) {
			return "", nil
		}
		rest = rest[rest[0]+1:]
	}
	if len(rest) > 0 {
		rest = rest[1:]
	}
	var out []byte
	for i := 0; i+1 < len(enc); i += 2 {
		out = append(out, (enc[i]-'A')<<4|((enc[i+1]-'A')&0x0f))
	}
	suffix := ""
	if len(out) == 16 {
		suffix = "<" + hex2(out[15]) + ">"
		out = out[:15]
	}
	return strings.TrimRight(oem(out), " ") + suffix, rest
}

func hex2(b byte) string {
	const d = "0123456789abcdef"
	return string([]byte{d[b>>4], d[b&15]})
}

// personality data.
func upstream(c *app.Conn) bool { return c.Personality == "masscanned" }

func identFor(c *app.Conn) *ntlm.Identity {
	if upstream(c) {
		return &identUpstream
	}
	return &identLinux
}

// newChallenge draws a fresh server challenge for this connection.
func newChallenge(c *app.Conn, st *state) {
	if c.Rand != nil {
		c.Rand(st.challenge[:])
	}
	st.hasChallenge = true
}

// sessionSetup handles the security blob of a session setup (SMB1 or 2):
// it returns the status to answer with, the blob to send back, and the
// fields recorded.
func sessionSetup(c *app.Conn, st *state, blob []byte) (uint32, []byte, []event.Field) {
	m := findNTLM(blob)
	if m == nil {
		return statusLogonFailure, nil, []event.Field{{Key: "error", Value: "no NTLMSSP token"}}
	}
	var ch *[8]byte
	if st.hasChallenge {
		ch = &st.challenge
	}
	a := parseNTLM(m, ch)
	switch a.msgType {
	case 1:
		newChallenge(c, st)
		return statusMoreProcessing, negTokenResp(challengeMsg(identFor(c), st.challenge, c.Now)), a.fields
	case 3:
		if a.anonymous {
			return statusSuccess, negTokenRespDone, a.fields
		}
		return statusLogonFailure, nil, a.fields
	}
	return statusLogonFailure, nil, a.fields
}

func statusName(s uint32) string {
	switch s {
	case statusSuccess:
		return "STATUS_SUCCESS"
	case statusMoreProcessing:
		return "STATUS_MORE_PROCESSING_REQUIRED"
	case statusLogonFailure:
		return "STATUS_LOGON_FAILURE"
	case statusAccessDenied:
		return "STATUS_ACCESS_DENIED"
	case statusNotSupported:
		return "STATUS_NOT_SUPPORTED"
	case statusInvalidParam:
		return "STATUS_INVALID_PARAMETER"
	case statusNotImplemented:
		return "STATUS_NOT_IMPLEMENTED"
	case statusUserSessionGone:
		return "STATUS_USER_SESSION_DELETED"
	}
	return "0x" + hex2(byte(s>>24)) + hex2(byte(s>>16)) + hex2(byte(s>>8)) + hex2(byte(s))
}
