package tlsfp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/hkdf"
)

// QUIC versions whose Initial packets ParseQUICInitial can decrypt.
const (
	QUICVersion1 uint32 = 0x00000001 // RFC 9000
	QUICVersion2 uint32 = 0x6b3343cf // RFC 9369
)

// Errors returned by ParseQUICInitial besides those of ParseClientHello.
var (
	// ErrNotQUICInitial reports a datagram that does not start with a
	// QUIC long-header Initial packet of a supported version.
	ErrNotQUICInitial = errors.New("tlsfp: not a QUIC v1/v2 Initial packet")
	// ErrQUICDecrypt reports an Initial packet that does not decrypt
	// with the keys derived from its destination connection ID.
	ErrQUICDecrypt = errors.New("tlsfp: QUIC Initial packet does not decrypt")
	// ErrIncomplete reports a datagram whose CRYPTO frames do not hold
	// the whole ClientHello from offset 0 (a ClientHello split across
	// several datagrams, or a datagram that is not the first one).
	ErrIncomplete = errors.New("tlsfp: ClientHello incomplete in this datagram")
)

// quicParams are the version-specific constants of the Initial packet
// protection (RFC 9001 §5.2, RFC 9369 §3.3).
type quicParams struct {
	salt        []byte
	keyLabel    string
	ivLabel     string
	hpLabel     string
	initialType byte // long-header packet type of Initial packets
}

var (
	quicV1 = quicParams{
		salt: []byte{
			0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
			0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
		},
		keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp",
		initialType: 0,
	}
	quicV2 = quicParams{
		salt: []byte{
			0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
			0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
		},
		keyLabel: "quicv2 key", ivLabel: "quicv2 iv", hpLabel: "quicv2 hp",
		initialType: 1,
	}
)

// Bounds of QUIC Initial parsing.
const (
	maxConnIDLen = 20        // RFC 9000 §17.2
	maxCryptoEnd = 1 << 16   // CRYPTO data beyond this offset is refused
	maxDatagram  = 1<<16 - 1 // a UDP payload cannot be longer
	maxCoalesced = 8         // Initial packets decrypted per datagram
	sampleLen    = aes.BlockSize
	tagLen       = 16 // AES-128-GCM
)

// ParseQUICInitial parses the ClientHello carried by a client's first
// QUIC datagram: a long-header Initial packet of QUIC version 1 or 2,
// possibly coalesced with further packets. It derives the client Initial
// keys from the packet's destination connection ID (RFC 9001 §5.2),
// removes header protection, decrypts the payload with AES-128-GCM, and
// reassembles the CRYPTO frames of the Initial packets of the datagram,
// in any order, into the ClientHello handshake message.
//
// It returns ErrNotQUICInitial if the datagram does not start with an
// Initial packet, ErrQUICDecrypt if that packet does not decrypt,
// ErrIncomplete if the datagram does not hold the whole ClientHello, or
// an error from ParseClientHello. The datagram is not modified, and the
// result does not alias it.
func ParseQUICInitial(datagram []byte) (*ClientHello, error) {
	if len(datagram) == 0 || len(datagram) > maxDatagram {
		return nil, ErrNotQUICInitial
	}
	var crypto cryptoAssembler
	rest := datagram
	for i := 0; i < maxCoalesced && len(rest) > 0; i++ {
		payload, next, err := openInitial(rest)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			break // a later packet of another type, or padding
		}
		if err := crypto.frames(payload); err != nil {
			return nil, err
		}
		rest = next
	}
	msg, ok := crypto.message()
	if !ok {
		return nil, ErrIncomplete
	}
	return parseHandshake(msg)
}

// openInitial decrypts the Initial packet at the start of b and returns
// its plaintext payload (the frames) and the bytes after the packet.
func openInitial(b []byte) (payload, rest []byte, err error) {
	if len(b) < 7 || b[0]&0x80 == 0 {
		return nil, nil, ErrNotQUICInitial
	}
	s := cryptobyte.String(b[1:])
	var version uint32
	s.ReadUint32(&version)
	var p *quicParams
	switch version {
	case QUICVersion1:
		p = &quicV1
	case QUICVersion2:
		p = &quicV2
	default:
		return nil, nil, ErrNotQUICInitial
	}
	if (b[0]>>4)&3 != p.initialType {
		return nil, nil, ErrNotQUICInitial
	}
	var dcid, scid, token cryptobyte.String
	var tokenLen, length uint64
	if !s.ReadUint8LengthPrefixed(&dcid) || len(dcid) > maxConnIDLen ||
		!s.ReadUint8LengthPrefixed(&scid) || len(scid) > maxConnIDLen ||
		!readVarint(&s, &tokenLen) || tokenLen > uint64(len(s)) ||
		!s.ReadBytes((*[]byte)(&token), int(tokenLen)) ||
		!readVarint(&s, &length) || length > uint64(len(s)) {
		return nil, nil, fmt.Errorf("%w: truncated header", ErrNotQUICInitial)
	}
	pnOffset := len(b) - len(s)
	end := pnOffset + int(length)
	// The header protection sample starts 4 bytes after the packet
	// number offset (RFC 9001 §5.4.2); the packet must reach past it.
	if pnOffset+4+sampleLen > end {
		return nil, nil, fmt.Errorf("%w: packet too short", ErrNotQUICInitial)
	}

	key, iv, hp := initialKeys(p, dcid)
	hpBlock, err := aes.NewCipher(hp)
	if err != nil {
		return nil, nil, err
	}
	var mask [aes.BlockSize]byte
	hpBlock.Encrypt(mask[:], b[pnOffset+4:pnOffset+4+sampleLen])

	// Work on a copy: header protection is removed in place.
	pkt := make([]byte, end)
	copy(pkt, b[:end])
	pkt[0] ^= mask[0] & 0x0f
	pnLen := int(pkt[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		pkt[pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(pkt[pnOffset+i])
	}
	hdrLen := pnOffset + pnLen
	if end-hdrLen < tagLen {
		return nil, nil, ErrQUICDecrypt
	}

	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	// The nonce is the IV XORed with the packet number (RFC 9001 §5.3).
	// A client's first packets have small numbers, so the truncated
	// packet number on the wire is the full one.
	nonce := iv
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	payload, err = aead.Open(pkt[hdrLen:hdrLen], nonce, pkt[hdrLen:], pkt[:hdrLen])
	if err != nil {
		return nil, nil, ErrQUICDecrypt
	}
	return payload, b[end:], nil
}

// initialKeys derives the client Initial packet protection key, IV and
// header protection key from the destination connection ID.
func initialKeys(p *quicParams, dcid []byte) (key, iv, hp []byte) {
	initial := hkdf.Extract(sha256.New, dcid, p.salt)
	client := expandLabel(initial, "client in", sha256.Size)
	return expandLabel(client, p.keyLabel, 16),
		expandLabel(client, p.ivLabel, 12),
		expandLabel(client, p.hpLabel, 16)
}

// expandLabel is HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with
// SHA-256 and an empty context.
func expandLabel(secret []byte, label string, n int) []byte {
	var b cryptobyte.Builder
	b.AddUint16(uint16(n))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddBytes([]byte("tls13 "))
		b.AddBytes([]byte(label))
	})
	b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
	out := make([]byte, n)
	r := hkdf.Expand(sha256.New, secret, b.BytesOrPanic())
	// Reading n <= 255*32 bytes from HKDF-Expand cannot fail.
	_, _ = r.Read(out)
	return out
}

// readVarint reads a QUIC variable-length integer (RFC 9000 §16).
func readVarint(s *cryptobyte.String, v *uint64) bool {
	var b byte
	if !s.ReadUint8(&b) {
		return false
	}
	n := 1 << (b >> 6)
	x := uint64(b & 0x3f)
	for i := 1; i < n; i++ {
		if !s.ReadUint8(&b) {
			return false
		}
		x = x<<8 | uint64(b)
	}
	*v = x
	return true
}

// QUIC frame types that may appear in a client's Initial packets
// (RFC 9000 §12.4, §19).
const (
	framePadding         = 0x00
	framePing            = 0x01
	frameACK             = 0x02
	frameACKECN          = 0x03
	frameCrypto          = 0x06
	frameConnectionClose = 0x1c
)

// cryptoAssembler reassembles the CRYPTO stream of Initial packets from
// frames that may arrive in any order and overlap.
type cryptoAssembler struct {
	buf  []byte
	have []bool // have[i]: buf[i] was received
}

// frames walks the frames of a decrypted Initial payload, keeping the
// CRYPTO data.
func (a *cryptoAssembler) frames(payload []byte) error {
	s := cryptobyte.String(payload)
	for !s.Empty() {
		var typ uint64
		if !readVarint(&s, &typ) {
			return malformed("QUIC frame type")
		}
		switch typ {
		case framePadding, framePing:
		case frameACK, frameACKECN:
			if !skipACK(&s, typ == frameACKECN) {
				return malformed("QUIC ACK frame")
			}
		case frameCrypto:
			var off, n uint64
			if !readVarint(&s, &off) || !readVarint(&s, &n) || n > uint64(len(s)) {
				return malformed("QUIC CRYPTO frame")
			}
			if off > maxCryptoEnd || n > maxCryptoEnd-off {
				return ErrTooLong
			}
			var data []byte
			s.ReadBytes(&data, int(n))
			a.add(int(off), data)
		case frameConnectionClose:
			// The client gave up; whatever CRYPTO data came before
			// still counts. Nothing of interest can follow.
			return nil
		default:
			// No other frame may be sent in an Initial packet.
			return malformed(fmt.Sprintf("QUIC frame type %#x in Initial", typ))
		}
	}
	return nil
}

// skipACK skips the body of an ACK frame (RFC 9000 §19.3).
func skipACK(s *cryptobyte.String, ecn bool) bool {
	var largest, delay, count, first uint64
	if !readVarint(s, &largest) || !readVarint(s, &delay) ||
		!readVarint(s, &count) || !readVarint(s, &first) {
		return false
	}
	// Each range takes at least two bytes: no more ranges than bytes left.
	if count > uint64(len(*s)) {
		return false
	}
	for range count {
		var gap, length uint64
		if !readVarint(s, &gap) || !readVarint(s, &length) {
			return false
		}
	}
	if ecn {
		var ect0, ect1, ce uint64
		return readVarint(s, &ect0) && readVarint(s, &ect1) && readVarint(s, &ce)
	}
	return true
}

// add records data at offset off of the CRYPTO stream. The caller
// guarantees off+len(data) <= maxCryptoEnd.
func (a *cryptoAssembler) add(off int, data []byte) {
	end := off + len(data)
	if end > len(a.buf) {
		a.buf = append(a.buf, make([]byte, end-len(a.buf))...)
		a.have = append(a.have, make([]bool, end-len(a.have))...)
	}
	copy(a.buf[off:end], data)
	for i := off; i < end; i++ {
		a.have[i] = true
	}
}

// message returns the first handshake message of the stream if all its
// bytes, from offset 0, were received.
func (a *cryptoAssembler) message() ([]byte, bool) {
	contiguous := 0
	for contiguous < len(a.have) && a.have[contiguous] {
		contiguous++
	}
	if contiguous < handshakeHeaderLen {
		return nil, false
	}
	n := handshakeHeaderLen + (int(a.buf[1])<<16 | int(a.buf[2])<<8 | int(a.buf[3]))
	if contiguous < n {
		return nil, false
	}
	return a.buf[:n], true
}
