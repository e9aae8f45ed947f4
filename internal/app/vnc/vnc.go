// Package vnc plays an RFB (VNC) server that asks for VNC authentication
// and always refuses: it records the client's protocol version, the
// security type it chose and its 16-byte DES response (RFC 6143).
package vnc

import (
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "VNC/RFB 3.8 server asking VNC authentication, records the client's response"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	greeting = "RFB 003.008\n"
	secVNC   = 2
	reason   = "Authentication failed"
)

// Handler is the VNC protocol handler.
type Handler struct{}

// New returns the VNC handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "vnc" }

// Service implements app.Greeter.
func (*Handler) Service() string { return "vnc" }

// Detect implements app.Handler: the server speaks first; reached through
// Greet only.
func (*Handler) Detect([]byte, app.Transport) app.Verdict { return app.No }

type step uint8

const (
	wantVersion step = iota
	wantType
	wantResponse
)

type state struct {
	step      step
	minor     int      // client's minor version: 3, 7 or 8
	challenge [16]byte // the challenge sent: the response is crackable with it
}

// Greet implements app.Greeter.
func (*Handler) Greet(c *app.Conn) app.Result {
	c.State = &state{}
	return app.Result{Reply: []byte(greeting)}
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*state)
	if !ok {
		st = &state{}
		c.State = st
	}
	switch st.step {
	case wantVersion:
		if len(data) < 12 {
			if !prefixOK(data) {
				return app.Result{Consumed: len(data), Close: true,
					Fields: []event.Field{{Key: "error", Value: "bad version"}, {Key: "data", Value: app.Printable(data)}}}
			}
			return app.Result{NeedMore: true}
		}
		v := data[:12]
		res := app.Result{Consumed: 12, Fields: []event.Field{{Key: "client_version", Value: app.Printable(v[:11])}}}
		major, minor, ok := parseVersion(v)
		if !ok || major != 3 {
			// A server that cannot parse the version drops the client.
			res.Close = true
			return res
		}
		switch {
		case minor >= 8:
			st.minor = 8
		case minor == 7:
			st.minor = 7
		default:
			st.minor = 3
		}
		if st.minor == 3 {
			// RFB 3.3: the server chooses the security type.
			res.Reply = binary.BigEndian.AppendUint32(nil, secVNC)
			res.Reply = appendChallenge(res.Reply, c, st)
			st.step = wantResponse
			return res
		}
		res.Reply = []byte{1, secVNC}
		st.step = wantType
		return res
	case wantType:
		if len(data) < 1 {
			return app.Result{NeedMore: true}
		}
		res := app.Result{Consumed: 1, Fields: []event.Field{{Key: "security_type", Value: int(data[0])}}}
		if data[0] != secVNC {
			res.Close = true
			if st.minor == 8 {
				res.Reply = failure(st.minor)
			}
			return res
		}
		res.Reply = appendChallenge(nil, c, st)
		st.step = wantResponse
		return res
	default:
		if len(data) < 16 {
			return app.Result{NeedMore: true}
		}
		return app.Result{Consumed: 16, Close: true, Reply: failure(st.minor),
			Fields: []event.Field{{Key: "response", Value: hex.EncodeToString(data[:16])},
				// John the Ripper's $vnc$ form: challenge and response
				event.AuthHashField("vnc", "", "$vnc$*"+strings.ToUpper(hex.EncodeToString(st.challenge[:]))+"*"+
					strings.ToUpper(hex.EncodeToString(data[:16])), "vnc-des", false)}}
	}
}

// failure is SecurityResult "failed", with a reason from RFB 3.8 on.
func failure(minor int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	if minor >= 8 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(reason)))
		b = append(b, reason...)
	}
	return b
}

func appendChallenge(b []byte, c *app.Conn, st *state) []byte {
	if c.Rand != nil {
		c.Rand(st.challenge[:])
	}
	return append(b, st.challenge[:]...)
}

// prefixOK reports whether b can start "RFB xxx.yyy\n".
func prefixOK(b []byte) bool {
	const tmpl = "RFB 000.000\n"
	for i, x := range b {
		t := tmpl[i]
		if t == '0' {
			if x < '0' || x > '9' {
				return false
			}
		} else if x != t {
			return false
		}
	}
	return true
}

func parseVersion(v []byte) (major, minor int, ok bool) {
	if !prefixOK(v) {
		return 0, 0, false
	}
	for _, x := range v[4:7] {
		major = major*10 + int(x-'0')
	}
	for _, x := range v[8:11] {
		minor = minor*10 + int(x-'0')
	}
	return major, minor, true
}
