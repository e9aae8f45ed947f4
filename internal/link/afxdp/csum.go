package afxdp

import "encoding/binary"

// partialChecksum reports whether frame is a TCP or UDP packet whose
// checksum field holds only the pseudo-header sum: the CHECKSUM_PARTIAL
// shape of a packet sent by a kernel on this machine (another namespace
// over a veth, with checksum offload on) that no device completed. An
// AF_PACKET ring flags such frames (TP_STATUS_CSUMNOTREADY); XDP hands
// them over with no flag, so the link recognises the shape itself. It
// reads headers only (a few additions, no payload), never allocates, and
// tolerates any input.
//
// A full checksum that happens to equal the pseudo-header sum (one in
// 65536) is then not verified: harmless, the stack answers it as the
// kernel would have.
func partialChecksum(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	typ := binary.BigEndian.Uint16(f[12:])
	off := 14
	if typ == 0x8100 || typ == 0x88a8 {
		if len(f) < 18 {
			return false
		}
		typ = binary.BigEndian.Uint16(f[16:])
		off = 18
	}
	var sum uint32
	var proto uint8
	var l4 []byte
	switch typ {
	case 0x0800:
		ip := f[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return false // fragments are never partial
		}
		proto = ip[9]
		l4 = ip[ihl:total]
		sum = sumWords(ip[12:20]) + uint32(proto) + uint32(len(l4))
	case 0x86dd:
		ip := f[off:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen > len(ip) {
			return false
		}
		proto = ip[6] // extension headers: not a shape the kernel offloads here
		l4 = ip[40 : 40+plen]
		sum = sumWords(ip[8:40]) + uint32(proto) + uint32(len(l4))
	default:
		return false
	}
	var field int
	switch proto {
	case 6:
		field = 16
	case 17:
		field = 6
	default:
		return false
	}
	if len(l4) < field+2 {
		return false
	}
	got := binary.BigEndian.Uint16(l4[field:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	// 0 and 0xffff are the same number in one's complement
	return got == uint16(sum) || (got == 0xffff && sum == 0) || (got == 0 && sum == 0xffff)
}

// sumWords adds b as big-endian 16-bit words (len(b) even).
func sumWords(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	return s
}
