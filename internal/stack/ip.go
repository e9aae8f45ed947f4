package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/wire"
)

func (s *Stack) arp(b []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "arp"
	if len(b) < 28 {
		ev.Drop("arp", event.ReasonTruncated)
		return
	}
	ev.ARPOp = binary.BigEndian.Uint16(b[6:8])
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		ev.Drop("arp", event.ReasonARPFormat)
		return
	}
	sha := [6]byte(b[8:14])
	spa := wire.Addr4(b[14:18])
	tpa := wire.Addr4(b[24:28])
	ev.SrcIP, ev.DstIP = spa, tpa
	if ev.ARPOp != 1 {
		ev.Drop("arp", event.ReasonARPOp)
		return
	}
	if sha[0]&1 != 0 || spa.IsMulticast() || spa == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		ev.Drop("arp", event.ReasonBadSource)
		return
	}
	if s.denied(spa) {
		ev.Drop("arp", event.ReasonDenyList)
		return
	}
	if !s.isSelf(tpa) || tpa.IsUnspecified() || tpa.IsMulticast() || spa == tpa {
		// spa == tpa: a gratuitous ARP announcement, never answered.
		ev.Drop("arp", event.ReasonNotOurIP)
		return
	}
	s.ethHeader(tx, sha, 0x0806)
	n := 28
	if s.p.PadARP {
		n = 46
		if f.tagged {
			n = 42
		}
	}
	r := tx.grow(n)
	binary.BigEndian.PutUint16(r[0:], 1)
	binary.BigEndian.PutUint16(r[2:], 0x0800)
	r[4], r[5] = 6, 4
	binary.BigEndian.PutUint16(r[6:], 2)
	copy(r[8:14], s.cfg.MAC[:])
	copy(r[14:18], b[24:28])
	copy(r[18:24], sha[:])
	copy(r[24:28], b[14:18])
	tx.commit()
	ev.Reply = "arp-reply"
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// badSource: addresses nothing legitimate sends from and that we must
// never answer to.
func badSource(a netip.Addr) bool {
	return a.IsMulticast() || a.IsLoopback() || a == limitedBroadcast || (a.Is4() && a.IsUnspecified())
}

func (s *Stack) ipv4(b []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "ipv4"
	if len(b) < 20 {
		ev.Drop("ipv4", event.ReasonTruncated)
		return
	}
	if b[0]>>4 != 4 {
		ev.Drop("ipv4", event.ReasonBadVersion)
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		ev.Drop("ipv4", event.ReasonBadHeader)
		return
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl || total > len(b) {
		ev.Drop("ipv4", event.ReasonBadLength)
		return
	}
	f.src, f.dst = wire.Addr4(b[12:16]), wire.Addr4(b[16:20])
	f.proto = b[9]
	f.tos = b[1]
	ev.SrcIP, ev.DstIP, ev.IPProto = f.src, f.dst, f.proto
	if wire.Checksum(b[:ihl]) != 0 {
		ev.Drop("ipv4", event.ReasonBadChecksum)
		return
	}
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		ev.Drop("ipv4", event.ReasonFragment)
		return
	}
	if badSource(f.src) {
		ev.Drop("ipv4", event.ReasonBadSource)
		return
	}
	if f.dst.IsMulticast() || f.dst == limitedBroadcast {
		// Linux ignores broadcast and multicast echo; we never answer from
		// such an address.
		ev.Drop("ipv4", event.ReasonMulticastDst)
		return
	}
	if !s.isSelf(f.dst) {
		ev.Drop("ipv4", event.ReasonNotOurIP)
		return
	}
	if s.denied(f.src) {
		ev.Drop("ipv4", event.ReasonDenyList)
		return
	}
	s.lookupHost(f.dst)
	f.ipPkt = b[:total]
	s.l4(b[ihl:total], tx)
}

// Extension headers walked before the upper layer.
const maxExtHeaders = 8

func (s *Stack) ipv6(b []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "ipv6"
	f.v6 = true
	if len(b) < 40 {
		ev.Drop("ipv6", event.ReasonTruncated)
		return
	}
	if b[0]>>4 != 6 {
		ev.Drop("ipv6", event.ReasonBadVersion)
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if 40+plen > len(b) {
		ev.Drop("ipv6", event.ReasonBadLength)
		return
	}
	f.src, f.dst = wire.Addr16(b[8:24]), wire.Addr16(b[24:40])
	hop := b[7]
	nh := b[6]
	f.tos = b[0]<<4 | b[1]>>4
	p := b[40 : 40+plen]
	f.ipPkt = b[:40+plen]
	f.nhOff = 6
	ev.SrcIP, ev.DstIP = f.src, f.dst
	for i := 0; ; i++ {
		if nh != 0 && nh != 43 && nh != 60 && nh != 44 && nh != 51 && nh != 50 && nh != 59 {
			break
		}
		ev.IPProto = nh
		switch nh {
		case 44:
			ev.Drop("ipv6", event.ReasonFragment)
			return
		case 50, 51, 59:
			ev.Drop("ipv6", event.ReasonExtHeaders)
			return
		}
		if i >= maxExtHeaders || len(p) < 8 {
			ev.Drop("ipv6", event.ReasonExtHeaders)
			return
		}
		if nh == 0 && i != 0 {
			// hop-by-hop options are only allowed first (RFC 8200 4.1)
			ev.Drop("ipv6", event.ReasonExtHeaders)
			return
		}
		n := (int(p[1]) + 1) * 8
		if n > len(p) {
			ev.Drop("ipv6", event.ReasonExtHeaders)
			return
		}
		nh = p[0]
		f.nhOff = uint32(40 + plen - len(p))
		p = p[n:]
	}
	f.proto = nh
	ev.IPProto = nh
	if badSource(f.src) {
		ev.Drop("ipv6", event.ReasonBadSource)
		return
	}
	if s.denied(f.src) {
		ev.Drop("ipv6", event.ReasonDenyList)
		return
	}
	// Neighbour solicitations are filtered on their target, not on the
	// IPv6 destination (a solicited-node multicast address).
	isNS := nh == 58 && len(p) > 0 && p[0] == 135
	if !isNS {
		if f.src.IsUnspecified() {
			ev.Drop("ipv6", event.ReasonBadSource)
			return
		}
		if f.dst.IsMulticast() {
			ev.Drop("ipv6", event.ReasonMulticastDst)
			return
		}
		if !s.isSelf(f.dst) {
			ev.Drop("ipv6", event.ReasonNotOurIP)
			return
		}
	}
	f.dstMcast = f.dst.IsMulticast()
	if isNS {
		s.ndNS(p, hop, tx)
		return
	}
	s.lookupHost(f.dst)
	s.l4(p, tx)
}

func (s *Stack) l4(p []byte, tx *Tx) {
	f := &s.f
	switch {
	case f.proto == 6:
		s.tcp(p, tx)
	case f.proto == 17:
		s.udp(p, tx)
	case f.proto == 1 && !f.v6:
		s.icmpv4(p, tx)
	case f.proto == 58 && f.v6:
		s.icmpv6(p, tx)
	default:
		if f.host != nil && !(f.v6 && f.proto == 1) {
			// a profiled host's kernel: protocol unreachable (not for
			// ICMPv4 carried in IPv6, which Linux ignores)
			f.ev.Reason = event.ReasonProtoUnreach
			s.unreachable(false, tx)
			return
		}
		f.ev.Drop(f.ev.Layer, event.ReasonProtoNotHandled)
	}
}

// verifyL4 checks an upper-layer checksum (unless the kernel marked it
// not ready).
func (s *Stack) verifyL4(proto uint8, seg []byte) bool {
	if s.f.meta.ChecksumNotReady {
		return true
	}
	return wire.L4Checksum(s.f.src, s.f.dst, proto, seg) == 0
}

// beginIP starts a reply IP packet (after the Ethernet header) from src to
// dst and returns the offset of its header in tx.
func (s *Stack) beginIP(tx *Tx, src, dst netip.Addr, proto uint8, shape personality.Shape, hop uint8) int {
	off := len(tx.buf)
	if src.Is4() {
		h := tx.grow(20)
		h[0] = 0x45
		switch shape.ID {
		case personality.IDRandom:
			binary.BigEndian.PutUint16(h[4:], uint16(s.rng.Uint64()))
		case personality.IDPerDest:
			binary.BigEndian.PutUint16(h[4:], s.identPerDest(dst, proto))
		case personality.IDIncrement:
			s.ipID++
			binary.BigEndian.PutUint16(h[4:], s.ipID)
		}
		if shape.DF {
			h[6] = 0x40
		}
		h[8] = hop
		h[9] = proto
		wire.PutAddr(h[12:], src)
		wire.PutAddr(h[16:], dst)
		return off
	}
	h := tx.grow(40)
	h[0] = 0x60
	h[6] = proto
	h[7] = hop
	wire.PutAddr(h[8:], src)
	wire.PutAddr(h[24:], dst)
	return off
}

// identBuckets is the number of per-destination IP ID counters (Linux:
// ip_idents, 2048 at least).
const identBuckets = 2048

// ident is one per-destination IP ID counter.
type ident struct {
	id     uint16
	jiffie int64 // last use, in 4 ms jiffies (HZ=250, Debian's kernels)
	used   bool
}

// identPerDest is the next IP ID toward dst for proto, as Linux's
// ip_idents_reserve: a hashed bucket's counter, +1, plus a random jump
// smaller than the jiffies elapsed since the bucket's last use.
func (s *Stack) identPerDest(dst netip.Addr, proto uint8) uint16 {
	h := s.cookie(netip.AddrPortFrom(dst, uint16(proto)), netip.AddrPort{}, 0xfffffffc)
	b := &s.idents[h%identBuckets]
	now := s.f.meta.Time.UnixMilli() / 4
	if !b.used {
		b.id, b.used = uint16(s.rng.Uint64()), true
	} else if d := now - b.jiffie; d > 0 {
		b.id += uint16(s.rng.Uint64() % uint64(d))
	}
	b.jiffie = now
	b.id++
	return b.id
}

// endIP fills the lengths and checksums of the IP packet begun at off,
// whose L4 checksum field is at csumAt within the L4 header, and ends the
// frame.
func (s *Stack) endIP(tx *Tx, off, csumAt int) {
	h := tx.buf[off:]
	var l4 []byte
	var src, dst netip.Addr
	var proto uint8
	if h[0]>>4 == 4 {
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)))
		binary.BigEndian.PutUint16(h[10:], wire.Checksum(h[:20]))
		src, dst, proto = wire.Addr4(h[12:16]), wire.Addr4(h[16:20]), h[9]
		l4 = h[20:]
	} else {
		binary.BigEndian.PutUint16(h[4:], uint16(len(h)-40))
		src, dst, proto = wire.Addr16(h[8:24]), wire.Addr16(h[24:40]), h[6]
		l4 = h[40:]
	}
	if proto == 17 {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	var c uint16
	if proto == 1 {
		c = wire.Checksum(l4)
	} else {
		c = wire.L4Checksum(src, dst, proto, l4)
		if c == 0 && proto == 17 {
			c = 0xffff
		}
	}
	binary.BigEndian.PutUint16(l4[csumAt:], c)
	tx.commit()
}

// replyIP starts a reply to the current frame's sender: Ethernet header
// plus IP header from our address (the request's destination).
func (s *Stack) replyIP(tx *Tx, proto uint8, shape personality.Shape) int {
	f := &s.f
	et := uint16(0x0800)
	hop := s.p.TTL
	if f.v6 {
		et = 0x86dd
		hop = s.p.HopLimit
	}
	s.ethHeader(tx, f.srcMAC, et)
	off := s.beginIP(tx, f.dst, f.src, proto, shape, hop)
	if f.v6 && s.p.FlowLabels {
		// Linux labels its flows with a hash of the flow (auto_flowlabels):
		// stable for a connection, different between connections.
		client := netip.AddrPortFrom(f.src, f.ev.SrcPort)
		server := netip.AddrPortFrom(f.dst, f.ev.DstPort)
		l := s.cookie(client, server, 0xfffffffe)&0xfffff | 1
		h := tx.buf[off:]
		h[1] |= byte(l >> 16)
		h[2], h[3] = byte(l>>8), byte(l)
	}
	return off
}
