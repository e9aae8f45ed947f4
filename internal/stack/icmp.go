package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/wire"
)

func (s *Stack) icmpv4(p []byte, tx *Tx) {
	ev := s.f.ev
	ev.Layer = "icmpv4"
	if len(p) < 8 {
		ev.Drop("icmpv4", event.ReasonTruncated)
		return
	}
	ev.ICMPType, ev.ICMPCode = p[0], p[1]
	ev.PayloadLen = len(p) - 8
	if wire.Checksum(p) != 0 {
		ev.Drop("icmpv4", event.ReasonBadChecksum)
		return
	}
	if p[0] != 8 || p[1] != 0 && !s.p.EchoAnyCode {
		ev.Drop("icmpv4", event.ReasonICMPType)
		return
	}
	s.echoReply(p, 0, 1, tx)
}

// echoReply answers an echo request p with type t (0 or 129).
func (s *Stack) echoReply(p []byte, t, proto uint8, tx *Tx) {
	ev := s.f.ev
	if !s.allow(BudgetICMP, 1) {
		ev.Suppressed = "echo-reply"
		ev.Reason = event.ReasonRateLimited
		return
	}
	off := s.replyIP(tx, proto, s.p.Echo)
	if s.p.EchoCopyTOS {
		h := tx.buf[off:]
		if proto == 1 {
			h[1] = s.f.tos
		} else {
			h[0] |= s.f.tos >> 4
			h[1] |= s.f.tos << 4
		}
	}
	r := tx.grow(len(p))
	copy(r, p)
	r[0], r[2], r[3] = t, 0, 0
	if !s.p.EchoCopyCode {
		r[1] = 0
	}
	s.endIP(tx, off, 2)
	ev.Reply = "echo-reply"
}

func (s *Stack) allow(class BudgetClass, n int) bool {
	if s.cfg.Budget == nil {
		return true
	}
	return s.cfg.Budget.Allow(s.f.src, class, n, s.f.meta.Time)
}

func (s *Stack) icmpv6(p []byte, tx *Tx) {
	ev := s.f.ev
	ev.Layer = "icmpv6"
	if len(p) < 4 {
		ev.Drop("icmpv6", event.ReasonTruncated)
		return
	}
	ev.ICMPType, ev.ICMPCode = p[0], p[1]
	if !s.verifyL4(58, p) {
		ev.Drop("icmpv6", event.ReasonBadChecksum)
		return
	}
	if p[0] != 128 || p[1] != 0 && !s.p.EchoAnyCode {
		ev.Drop("icmpv6", event.ReasonICMPType)
		return
	}
	if len(p) < 8 {
		ev.Drop("icmpv6", event.ReasonTruncated)
		return
	}
	ev.PayloadLen = len(p) - 8
	s.echoReply(p, 129, 58, tx)
}

var allNodes = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})

// ndNS answers a Neighbor Solicitation (RFC 4861 7.1.1 validity checks)
// for one of our addresses with a Neighbor Advertisement.
func (s *Stack) ndNS(p []byte, hop uint8, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "icmpv6"
	ev.ICMPType = p[0]
	if len(p) < 24 {
		ev.Drop("icmpv6", event.ReasonTruncated)
		return
	}
	ev.ICMPCode = p[1]
	if !s.verifyL4(58, p) {
		ev.Drop("icmpv6", event.ReasonBadChecksum)
		return
	}
	target := wire.Addr16(p[8:24])
	dad := f.src.IsUnspecified()
	if hop != 255 || p[1] != 0 || target.IsMulticast() {
		ev.Drop("icmpv6", event.ReasonNDInvalid)
		return
	}
	// Options: each at least 8 bytes; no source link-layer address in DAD.
	for o := p[24:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			ev.Drop("icmpv6", event.ReasonNDInvalid)
			return
		}
		if dad && o[0] == 1 {
			ev.Drop("icmpv6", event.ReasonNDInvalid)
			return
		}
		o = o[int(o[1])*8:]
	}
	if dad && !isSolicitedNode(f.dst) {
		ev.Drop("icmpv6", event.ReasonNDInvalid)
		return
	}
	if !s.isSelf(target) {
		ev.Drop("icmpv6", event.ReasonNotOurIP)
		return
	}
	// Linux includes the target link-layer address and sets Override only
	// when the solicitation was multicast; upstream always does.
	full := f.dst.IsMulticast() || !s.p.NAMinimalUnicast
	dstMAC, dstIP := f.srcMAC, f.src
	if dad {
		dstMAC, dstIP = allNodesMAC, allNodes
	}
	s.ethHeader(tx, dstMAC, 0x86dd)
	off := s.beginIP(tx, target, dstIP, 58, personality.Shape{}, 255)
	n := 24
	if full {
		n = 32
	}
	r := tx.grow(n)
	r[0] = 136
	if !dad {
		r[4] |= 0x40 // Solicited
	}
	if full {
		r[4] |= 0x20 // Override
		r[24], r[25] = 2, 1
		copy(r[26:32], s.cfg.MAC[:])
	}
	copy(r[8:24], p[8:24])
	s.endIP(tx, off, 2)
	ev.Reply = "na"
}

func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return b[0] == 0xff && b[1] == 0x02 && b[11] == 1 && b[12] == 0xff &&
		binary.BigEndian.Uint64(b[2:10]) == 0 && b[10] == 0
}
