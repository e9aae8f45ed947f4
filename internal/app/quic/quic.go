// Package quic recognises a QUIC Initial packet on UDP, decrypts its
// ClientHello (the Initial keys come from the destination connection ID,
// RFC 9001 5.2) and records it with its JA4 ("q"). It never answers: a
// QUIC server's first flight is far larger than the client's Initial, so
// an answer to a spoofed one would reflect.
package quic

import (
	"encoding/binary"
	"fmt"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/tlsfp"
)

// Description is the one-line summary shown in the protocol list.
const Description = "QUIC Initial on UDP: ClientHello decrypted and recorded (SNI, ALPN, JA4 q); never answered (reflection)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Handler is the QUIC handler.
type Handler struct{}

// New returns the QUIC handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "quic" }

// Detect implements app.Handler: a long-header Initial packet of QUIC
// version 1 or 2, in a datagram of at least 1200 bytes (RFC 9000 14.1:
// clients pad their Initials).
func (*Handler) Detect(b []byte, t app.Transport) app.Verdict {
	if t != app.UDP || len(b) < 1200 || b[0]&0xc0 != 0xc0 {
		return app.No
	}
	switch v := binary.BigEndian.Uint32(b[1:5]); {
	case v == tlsfp.QUICVersion1 && b[0]&0x30 == 0x00, v == tlsfp.QUICVersion2 && b[0]&0x30 == 0x10:
		return app.Yes
	}
	return app.No
}

// Serve implements app.Handler: record the ClientHello, answer nothing.
func (*Handler) Serve(_ *app.Conn, b []byte) app.Result {
	ch, err := tlsfp.ParseQUICInitial(b)
	if err != nil {
		return app.Result{Consumed: len(b), Fields: []event.Field{{Key: "error", Value: app.Printable([]byte(err.Error()))}}}
	}
	var exts []string
	for _, e := range ch.Extensions {
		exts = append(exts, fmt.Sprintf("%04x", e.Type))
	}
	alpn := make([]string, len(ch.ALPN))
	for i, a := range ch.ALPN {
		alpn[i] = app.Printable([]byte(a))
	}
	return app.Result{Consumed: len(b), Fields: []event.Field{
		{Key: "client_hello", Value: true},
		{Key: "sni", Value: app.Printable([]byte(ch.ServerName))},
		{Key: "alpn", Value: alpn},
		{Key: "extensions", Value: exts},
		{Key: "ja4", Value: tlsfp.JA4(ch, 'q')},
		{Key: "ja4_r", Value: tlsfp.JA4R(ch, 'q')},
	}}
}
