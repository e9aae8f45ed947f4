package event

// Connection summaries in the manner of zeek's conn.log: a uid joining a
// connection's events, and its history letters.

// base62 digits in zeek's order (zeek's uids are "C" + base62).
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// uidLen is the digits of a 64-bit uid in base62 (62^11 > 2^64).
const uidLen = 11

// AppendUID appends uid in zeek's form: "C" followed by its base62
// digits, zero-padded to a fixed width so that uids sort and align.
// A zero uid (none) appends nothing.
func AppendUID(b []byte, uid uint64) []byte {
	if uid == 0 {
		return b
	}
	var d [uidLen]byte
	for i := uidLen - 1; i >= 0; i-- {
		d[i] = base62[uid%62]
		uid /= 62
	}
	b = append(b, 'C')
	return append(b, d[:]...)
}

// UIDString is AppendUID as a string ("" for none).
func UIDString(uid uint64) string { return string(AppendUID(nil, uid)) }

// ParseUID is the inverse of AppendUID.
func ParseUID(s string) (uint64, bool) {
	if len(s) != 1+uidLen || s[0] != 'C' {
		return 0, false
	}
	var v uint64
	for i := 1; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'A' && c <= 'Z':
			d = uint64(c-'A') + 10
		case c >= 'a' && c <= 'z':
			d = uint64(c-'a') + 36
		default:
			return 0, false
		}
		hi := v * 62
		if v != 0 && hi/62 != v || hi+d < hi {
			return 0, false // overflow
		}
		v = hi + d
	}
	return v, v != 0
}

// History is a TCP connection's state history as zeek's conn.log writes
// it: one letter per kind of segment, in the order first seen, upper
// case from the client (originator), lower case from us (responder):
//
//	S  the client's SYN            h  our SYN-ACK
//	A  a pure ACK                  a  our pure ACK
//	D  a segment with payload      d  ours
//	F  a FIN                       f  ours
//	R  a RST
//	T  a retransmitted payload (again after 10, 100, ... of them)
//
// As in zeek, a segment with SYN, FIN or RST gives only that letter (a
// FIN carrying data is F, not D). It is a fixed-size value (no
// allocation); letters beyond its capacity are not recorded.
type History struct {
	n uint8
	b [15]byte
}

// Add appends letter c.
func (h *History) Add(c byte) {
	if int(h.n) < len(h.b) {
		h.b[h.n] = c
		h.n++
	}
}

// Once appends letter c unless it is there already.
func (h *History) Once(c byte) {
	if !h.Has(c) {
		h.Add(c)
	}
}

// Has reports whether letter c was recorded.
func (h *History) Has(c byte) bool {
	for _, x := range h.b[:h.n] {
		if x == c {
			return true
		}
	}
	return false
}

// Len is the number of letters.
func (h *History) Len() int { return int(h.n) }

// AppendTo appends the letters to b.
func (h *History) AppendTo(b []byte) []byte { return append(b, h.b[:h.n]...) }

// String is the letters, e.g. "ShADadFf".
func (h History) String() string { return string(h.b[:h.n]) }
