// Package tlsfp parses TLS ClientHello messages, from a TCP stream or from
// a QUIC Initial packet, and computes the JA3 and JA4 client fingerprints
// from them.
//
// Everything here is pure computation on byte slices: no I/O, no global
// state. Every parser is bounded and returns an error on malformed input;
// none of them panics, whatever the input.
//
// JA4 follows FoxIO's specification of JA4 (the TLS client fingerprint,
// published under the BSD 3-Clause licence); the other members of the JA4+
// family are not implemented.
package tlsfp

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// TLS extension types decoded by the parser (RFC 6066, 7301, 8422, 8446).
const (
	ExtServerName          uint16 = 0x0000
	ExtSupportedGroups     uint16 = 0x000a
	ExtECPointFormats      uint16 = 0x000b
	ExtSignatureAlgorithms uint16 = 0x000d
	ExtALPN                uint16 = 0x0010
	ExtSupportedVersions   uint16 = 0x002b
)

// handshakeTypeClientHello is the HandshakeType of a ClientHello.
const handshakeTypeClientHello = 1

// MaxClientHelloLen bounds the length of a ClientHello handshake message
// body. Real ones are a few KiB, even with post-quantum key shares; the
// parsers refuse anything longer rather than buffer it.
const MaxClientHelloLen = 1 << 16

// Errors returned by the parsers. Parse errors wrap ErrMalformed.
var (
	// ErrMalformed reports input that is not a well-formed ClientHello.
	ErrMalformed = errors.New("tlsfp: malformed ClientHello")
	// ErrNotHandshake reports a TLS record whose content type is not
	// handshake (22), or a handshake message that is not a ClientHello.
	ErrNotHandshake = errors.New("tlsfp: not a ClientHello handshake")
	// ErrTooLong reports a ClientHello longer than MaxClientHelloLen.
	ErrTooLong = errors.New("tlsfp: ClientHello too long")
)

// Extension is one ClientHello extension as it appears on the wire.
type Extension struct {
	Type uint16
	Data []byte // the extension_data, aliasing the parsed input
}

// ClientHello is a parsed TLS ClientHello (RFC 8446 §4.1.2, and the
// earlier versions it is compatible with).
//
// The raw fields are filled from the message itself. The decoded fields
// are filled from the extensions that carry them when those parse; a
// malformed extension leaves its decoded field empty without failing the
// whole parse, so that a fingerprint can still be computed.
type ClientHello struct {
	// Version is the legacy_version field (0x0303 for TLS 1.2 and 1.3).
	Version uint16
	// Random is the 32-byte client random.
	Random []byte
	// SessionIDLen is the length of legacy_session_id (0 to 32).
	SessionIDLen int
	// SessionID is legacy_session_id.
	SessionID []byte
	// CipherSuites lists the offered cipher suites in wire order,
	// GREASE values included.
	CipherSuites []uint16
	// CompressionMethods lists legacy_compression_methods.
	CompressionMethods []byte
	// Extensions lists the extensions in wire order, GREASE included.
	Extensions []Extension

	// HasSNI reports whether a server_name extension is present (even
	// an empty or malformed one).
	HasSNI bool
	// ServerName is the first host_name of the server_name extension.
	ServerName string
	// ALPN lists the protocol names of the ALPN extension, in order.
	// They are byte strings and need not be valid UTF-8.
	ALPN []string
	// SupportedVersions lists the supported_versions extension, in order.
	SupportedVersions []uint16
	// SignatureAlgorithms lists the signature_algorithms extension.
	SignatureAlgorithms []uint16
	// SupportedGroups lists the supported_groups (elliptic_curves)
	// extension.
	SupportedGroups []uint16
	// ECPointFormats lists the ec_point_formats extension.
	ECPointFormats []byte
	// HasGREASE reports whether a GREASE value (RFC 8701) appears among
	// the cipher suites, extension types, supported versions, signature
	// algorithms or supported groups.
	HasGREASE bool
}

// IsGREASE reports whether v is one of the sixteen GREASE values of RFC
// 8701 (0x0a0a, 0x1a1a, ..., 0xfafa).
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// Extension returns the data of the first extension of type t and
// whether there is one.
func (ch *ClientHello) Extension(t uint16) ([]byte, bool) {
	for _, e := range ch.Extensions {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// malformed returns an error wrapping ErrMalformed that names what failed.
func malformed(what string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, what)
}

// ParseClientHello parses b, the body of a ClientHello handshake message:
// what follows the 4-byte handshake header (msg_type 1 and a 3-byte
// length), from legacy_version to the end of the extensions. The result
// aliases b. Bytes after the extensions block are ignored.
func ParseClientHello(b []byte) (*ClientHello, error) {
	if len(b) > MaxClientHelloLen {
		return nil, ErrTooLong
	}
	s := cryptobyte.String(b)
	ch := &ClientHello{}
	if !s.ReadUint16(&ch.Version) {
		return nil, malformed("legacy_version")
	}
	if !s.ReadBytes(&ch.Random, 32) {
		return nil, malformed("random")
	}
	var sid cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 {
		return nil, malformed("legacy_session_id")
	}
	ch.SessionID, ch.SessionIDLen = sid, len(sid)

	var suites cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 {
		return nil, malformed("cipher_suites")
	}
	ch.CipherSuites = make([]uint16, 0, len(suites)/2)
	for !suites.Empty() {
		var v uint16
		suites.ReadUint16(&v)
		ch.CipherSuites = append(ch.CipherSuites, v)
	}

	var comp cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&comp) {
		return nil, malformed("legacy_compression_methods")
	}
	ch.CompressionMethods = comp

	// Hellos from before TLS 1.2 may end here, without an extensions block.
	if s.Empty() {
		ch.finish()
		return ch, nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return nil, malformed("extensions")
	}
	for !exts.Empty() {
		var e Extension
		var data cryptobyte.String
		if !exts.ReadUint16(&e.Type) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, malformed("extension")
		}
		e.Data = data
		ch.Extensions = append(ch.Extensions, e)
	}
	ch.finish()
	return ch, nil
}

// finish fills the decoded fields from the raw ones.
func (ch *ClientHello) finish() {
	grease := anyGREASE(ch.CipherSuites)
	seen := map[uint16]bool{}
	for _, e := range ch.Extensions {
		if IsGREASE(e.Type) {
			grease = true
		}
		if e.Type == ExtServerName {
			ch.HasSNI = true
		}
		// Only the first occurrence of an extension is decoded; a
		// repeated one (illegal, RFC 8446 §4.2) is kept raw only.
		if seen[e.Type] {
			continue
		}
		seen[e.Type] = true
		switch e.Type {
		case ExtServerName:
			ch.ServerName = parseServerName(e.Data)
		case ExtALPN:
			ch.ALPN = parseALPN(e.Data)
		case ExtSupportedVersions:
			ch.SupportedVersions = parseUint16List(e.Data, true)
		case ExtSignatureAlgorithms:
			ch.SignatureAlgorithms = parseUint16List(e.Data, false)
		case ExtSupportedGroups:
			ch.SupportedGroups = parseUint16List(e.Data, false)
		case ExtECPointFormats:
			ch.ECPointFormats = parseECPointFormats(e.Data)
		}
	}
	ch.HasGREASE = grease || anyGREASE(ch.SupportedVersions) ||
		anyGREASE(ch.SignatureAlgorithms) || anyGREASE(ch.SupportedGroups)
}

// anyGREASE reports whether l holds a GREASE value.
func anyGREASE(l []uint16) bool {
	for _, v := range l {
		if IsGREASE(v) {
			return true
		}
	}
	return false
}

// parseServerName returns the first host_name of a server_name extension
// (RFC 6066 §3), or "" if there is none or the extension is malformed.
func parseServerName(b []byte) string {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return ""
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return ""
		}
		if typ == 0 {
			return string(name)
		}
	}
	return ""
}

// parseALPN returns the protocol names of an ALPN extension (RFC 7301
// §3.1), or nil if it is malformed. Empty names are kept: JA4 needs to
// see them.
func parseALPN(b []byte) []string {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return nil
	}
	var out []string
	for !list.Empty() {
		var name cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&name) {
			return nil
		}
		out = append(out, string(name))
	}
	return out
}

// parseUint16List decodes a vector of uint16 with a one-byte (supported
// versions) or two-byte length prefix; nil if malformed.
func parseUint16List(b []byte, shortPrefix bool) []uint16 {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	var ok bool
	if shortPrefix {
		ok = s.ReadUint8LengthPrefixed(&list)
	} else {
		ok = s.ReadUint16LengthPrefixed(&list)
	}
	if !ok || len(list)%2 != 0 {
		return nil
	}
	out := make([]uint16, 0, len(list)/2)
	for !list.Empty() {
		var v uint16
		list.ReadUint16(&v)
		out = append(out, v)
	}
	return out
}

// parseECPointFormats decodes an ec_point_formats extension (RFC 8422
// §5.1.2); nil if malformed.
func parseECPointFormats(b []byte) []byte {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&list) {
		return nil
	}
	return list
}
