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
	var m [40]byte
	a := client.Addr().As16()
	b := server.Addr().As16()
	copy(m[0:16], a[:])
	copy(m[16:32], b[:])
	binary.BigEndian.PutUint16(m[32:], client.Port())
	binary.BigEndian.PutUint16(m[34:], server.Port())
	binary.BigEndian.PutUint32(m[36:], slot)
	return uint32(siphash.Hash(s.k0, s.k1, m[:]))
}

// tsOffset is a per-connection offset for TCP timestamps, so that our
// clock is not exposed and differs between peers (as Linux does).
func (s *Stack) tsOffset(client, server netip.AddrPort) uint32 {
	return s.cookie(client, server, 0xffffffff)
}
