package tlsfp

// TLS record layer constants (RFC 8446 §5.1).
const (
	recordTypeHandshake = 22
	recordHeaderLen     = 5
	maxRecordLen        = 1 << 14 // TLSPlaintext.length bound
	handshakeHeaderLen  = 4
)

// ParseRecord parses the ClientHello at the start of a TLS client's byte
// stream: one or more records of content type handshake (22) whose
// fragments, concatenated, begin with a ClientHello handshake message. The
// message may be split across any number of records.
//
// It returns the ClientHello once b holds all of it. If b is a valid but
// incomplete prefix, it returns need > 0: a lower bound on the number of
// bytes that must be appended to b before calling again (the stream may
// need more, for example if the sender splits the rest into small
// records). If b cannot be the start of a ClientHello, it returns an
// error: ErrNotHandshake for another record or handshake type, ErrTooLong
// for a message over MaxClientHelloLen, or an error wrapping ErrMalformed.
//
// Bytes after the ClientHello (in its last record or after it) are
// ignored. The result does not alias b.
func ParseRecord(b []byte) (ch *ClientHello, need int, err error) {
	var hs []byte // handshake bytes gathered from the record fragments
	off := 0
	for {
		rest := b[off:]
		if len(rest) > 0 && rest[0] != recordTypeHandshake {
			return nil, 0, ErrNotHandshake
		}
		if len(rest) > 1 && rest[1] != 3 {
			return nil, 0, malformed("record version")
		}
		if len(rest) < recordHeaderLen {
			return nil, recordHeaderLen - len(rest) + hsNeed(hs), nil
		}
		rl := int(rest[3])<<8 | int(rest[4])
		if rl == 0 || rl > maxRecordLen {
			return nil, 0, malformed("record length")
		}
		frag := rest[recordHeaderLen:]
		if len(frag) > rl {
			frag = frag[:rl]
		}
		hs = append(hs, frag...)
		if len(hs) >= handshakeHeaderLen {
			if hs[0] != handshakeTypeClientHello {
				return nil, 0, ErrNotHandshake
			}
			n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if n > MaxClientHelloLen {
				return nil, 0, ErrTooLong
			}
			if len(hs) >= handshakeHeaderLen+n {
				ch, err := ParseClientHello(hs[handshakeHeaderLen : handshakeHeaderLen+n])
				return ch, 0, err
			}
		}
		if left := rl - len(frag); left > 0 {
			// The current record is incomplete, and so is the message.
			h := hsNeed(hs)
			if h <= left {
				return nil, h, nil
			}
			return nil, left + recordHeaderLen + (h - left), nil
		}
		off += recordHeaderLen + rl
	}
}

// hsNeed returns how many more handshake bytes hs needs, at least, to
// hold a whole handshake message.
func hsNeed(hs []byte) int {
	if len(hs) < handshakeHeaderLen {
		return handshakeHeaderLen - len(hs)
	}
	n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
	return handshakeHeaderLen + n - len(hs)
}

// parseHandshake parses msg, a whole handshake message with its 4-byte
// header, as a ClientHello. Bytes after the message are ignored.
func parseHandshake(msg []byte) (*ClientHello, error) {
	if len(msg) < handshakeHeaderLen {
		return nil, malformed("handshake header")
	}
	if msg[0] != handshakeTypeClientHello {
		return nil, ErrNotHandshake
	}
	n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
	if n > MaxClientHelloLen {
		return nil, ErrTooLong
	}
	if len(msg)-handshakeHeaderLen < n {
		return nil, malformed("truncated handshake message")
	}
	return ParseClientHello(msg[handshakeHeaderLen : handshakeHeaderLen+n])
}
