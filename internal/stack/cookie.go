package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/dchest/siphash"
)

// CookiePeriod is the length in seconds of one SYN-cookie time slot; a
// cookie stays valid for the current and the previous slot (64–128 s).
const CookiePeriod = 64

// cookie is the SYN-ACK ISN for a 4-tuple in a time slot: the low 32 bits
// of SipHash-2-4 keyed with the process key over the addresses, ports and
// slot.
func (s *Stack) cookie(client, server netip.AddrPort, slot uint32) uint32 {
	return s.cookieX(client, server, slot, 0)
}

// cookieX is cookie with one more byte of input (the MSS index of an ISN).
func (s *Stack) cookieX(client, server netip.AddrPort, slot uint32, extra byte) uint32 {
	var m [41]byte
	a := client.Addr().As16()
	b := server.Addr().As16()
	copy(m[0:16], a[:])
	copy(m[16:32], b[:])
	binary.BigEndian.PutUint16(m[32:], client.Port())
	binary.BigEndian.PutUint16(m[34:], server.Port())
	binary.BigEndian.PutUint32(m[36:], slot)
	m[40] = extra
	return uint32(siphash.Hash(s.k0, s.k1, m[:]))
}

// mssTable are the MSS values a cookie can remember (2 bits), like
// Linux's msstab: the client's MSS is rounded down to one of them.
var mssTable = [4]uint16{536, 1220, 1440, 1460}

// mssIndex is the index of the largest table value not above mss (an
// absent MSS option means the RFC 879 default, 536).
func mssIndex(mss uint16) uint32 {
	i := uint32(0)
	for j, v := range mssTable {
		if mss >= v {
			i = uint32(j)
		}
	}
	return i
}

// isn is the SYN-ACK sequence number: the cookie with the client's MSS
// index in its two low bits, so that data segments can be sized for the
// client without keeping state. The index is hashed too (its value 1..4,
// never 0, so that no ISN shares its input with cookie's other uses):
// only ack = ISN+1 validates, never ISN, ISN+2 or another index's value.
func (s *Stack) isn(client, server netip.AddrPort, slot, mssIdx uint32) uint32 {
	return s.cookieX(client, server, slot, byte(mssIdx&3)+1)&^3 | mssIdx&3
}

// tsOffset is a per-connection offset for TCP timestamps, so that our
// clock is not exposed and differs between peers (as Linux does).
func (s *Stack) tsOffset(client, server netip.AddrPort) uint32 {
	return s.cookie(client, server, 0xffffffff)
}
