// Package wire holds the small byte-level helpers shared by the stack:
// the Internet checksum and address conversions. Headers are read and
// written in place with encoding/binary; nothing here allocates.
package wire

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b to the running one's-complement sum acc (RFC 1071), 16 bits
// at a time in network order; an odd trailing byte is padded with zero.
func Sum(acc uint32, b []byte) uint32 {
	n := len(b)
	i := 0
	for ; i+8 <= n; i += 8 {
		acc += uint32(binary.BigEndian.Uint16(b[i:])) + uint32(binary.BigEndian.Uint16(b[i+2:])) +
			uint32(binary.BigEndian.Uint16(b[i+4:])) + uint32(binary.BigEndian.Uint16(b[i+6:]))
		acc = (acc & 0xffff) + (acc >> 16)
	}
	for ; i+1 < n; i += 2 {
		acc += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if i < n {
		acc += uint32(b[i]) << 8
	}
	return acc
}

// Fold folds acc to 16 bits and complements it: the checksum field value.
func Fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = (acc & 0xffff) + (acc >> 16)
	}
	return ^uint16(acc)
}

// Checksum is the Internet checksum of b.
func Checksum(b []byte) uint16 { return Fold(Sum(0, b)) }

// PseudoSum is the sum of the IPv4 or IPv6 pseudo-header for an upper
// layer of protocol proto and length n.
func PseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	var acc uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		acc = Sum(acc, a[:])
		acc = Sum(acc, b[:])
	} else {
		a, b := src.As16(), dst.As16()
		acc = Sum(acc, a[:])
		acc = Sum(acc, b[:])
	}
	acc += uint32(proto) + uint32(n&0xffff) + uint32(n>>16)
	return acc
}

// L4Checksum is the checksum of an upper-layer segment seg (with its
// checksum field already zeroed or, for verification, left in place).
func L4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	return Fold(Sum(PseudoSum(src, dst, proto, len(seg)), seg))
}

// Addr4 reads an IPv4 address from b[0:4].
func Addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// Addr16 reads an IPv6 address from b[0:16].
func Addr16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b[:16])) }

// PutAddr writes a (4 or 16 bytes) at b and returns the bytes written.
func PutAddr(b []byte, a netip.Addr) int {
	if a.Is4() {
		x := a.As4()
		return copy(b, x[:])
	}
	x := a.As16()
	return copy(b, x[:])
}
