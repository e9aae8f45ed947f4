// Package ghost answers Gh0st RAT controller check-ins: a client (an
// infected host) sends a "Gh0st" packet carrying a zlib-compressed login
// record, and the controller answers with a small packet of its own.
//
// Packet layout: the 5-byte flag "Gh0st", a little-endian u32 total packet
// length (header included), a little-endian u32 uncompressed length, then
// the zlib stream.
//
// It is off by default: emulating a RAT controller drew abuse reports
// upstream. It answers over TCP only (Gh0st is a TCP protocol); datagrams
// are recorded but never answered, so it cannot serve as a reflector.
package ghost

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"io"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in protocol listings.
const Description = "Gh0st RAT controller: answers a Gh0st login packet with a minimal reply"

// DefaultEnabled is false: Gh0st emulation drew abuse reports upstream.
const DefaultEnabled = false

const (
	headerLen = 13
	// MaxPacket is the largest packet length we wait for; a header
	// announcing more is treated as lying and answered at once.
	MaxPacket = 64 << 10
	// maxInflate caps the decompressed login record.
	maxInflate = 64 << 10
	// hexCap is how many decompressed bytes are recorded as hex.
	hexCap = 64
)

var magic = []byte("Gh0st")

// reply is upstream's 22-byte answer: "Gh0st", total length 22, uncompressed
// length 1, zlib of a single zero byte.
var reply = []byte{
	'G', 'h', '0', 's', 't',
	0x16, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00,
	0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
}

// Handler is the Gh0st handler.
type Handler struct{}

// New returns a Gh0st handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "ghost" }

// Detect implements app.Handler: the payload starts with "Gh0st" (Maybe on
// a shorter prefix of it).
func (*Handler) Detect(data []byte, _ app.Transport) app.Verdict {
	if len(data) >= len(magic) {
		if bytes.Equal(data[:len(magic)], magic) {
			return app.Yes
		}
		return app.No
	}
	if len(data) > 0 && bytes.Equal(data, magic[:len(data)]) {
		return app.Maybe
	}
	return app.No
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	if len(data) < len(magic) || !bytes.Equal(data[:len(magic)], magic) {
		if c.Transport == app.TCP && len(data) < len(magic) && bytes.Equal(data, magic[:len(data)]) {
			return app.Result{NeedMore: true}
		}
		return app.Result{}
	}
	udp := c.Transport != app.TCP
	if len(data) < headerLen {
		if !udp {
			return app.Result{NeedMore: true}
		}
		// A truncated datagram: record it, nothing to parse.
		return app.Result{Consumed: len(data), Fields: []event.Field{{Key: "truncated", Value: true}}}
	}
	total := binary.LittleEndian.Uint32(data[5:9])
	ulen := binary.LittleEndian.Uint32(data[9:13])
	fields := []event.Field{
		{Key: "total_length", Value: int(total)},
		{Key: "uncompressed_length", Value: int(ulen)},
	}
	// Decide how much of data is this packet.
	n := len(data)
	lying := false
	switch {
	case total < headerLen || total > MaxPacket:
		lying = true
	case int(total) <= len(data):
		n = int(total)
	case !udp:
		return app.Result{NeedMore: true}
	default:
		lying = true // the datagram is shorter than announced
	}
	if lying {
		fields = append(fields, event.Field{Key: "bad_length", Value: true})
	}
	fields = append(fields, inflate(data[headerLen:n])...)
	res := app.Result{Consumed: n, Fields: fields}
	if udp {
		return res
	}
	res.Reply = append([]byte(nil), reply...)
	if lying {
		// We cannot find the next packet boundary: answer once and stop.
		res.Consumed = len(data)
		res.Close = true
	}
	return res
}

// inflate decompresses the login record, bounded, and describes it.
func inflate(z []byte) []event.Field {
	if len(z) == 0 {
		return nil
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return []event.Field{{Key: "zlib_error", Value: err.Error()}}
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxInflate))
	f := []event.Field{{Key: "login_length", Value: len(out)}}
	if len(out) > 0 {
		h := out
		if len(h) > hexCap {
			h = h[:hexCap]
		}
		f = append(f, event.Field{Key: "login_hex", Value: hex.EncodeToString(h)})
	}
	if err != nil {
		f = append(f, event.Field{Key: "zlib_error", Value: err.Error()})
	}
	return f
}
