package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

func (s *Stack) udp(p []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "udp"
	if len(p) < 8 {
		ev.Drop("udp", event.ReasonTruncated)
		return
	}
	ev.SrcPort = binary.BigEndian.Uint16(p[0:2])
	ev.DstPort = binary.BigEndian.Uint16(p[2:4])
	ulen := int(binary.BigEndian.Uint16(p[4:6]))
	if ulen < 8 || ulen > len(p) {
		ev.Drop("udp", event.ReasonBadLength)
		return
	}
	p = p[:ulen]
	csum := binary.BigEndian.Uint16(p[6:8])
	if csum == 0 && f.v6 {
		// a zero checksum is not allowed over IPv6 (RFC 8200 8.1)
		ev.Drop("udp", event.ReasonBadChecksum)
		return
	}
	if csum != 0 && !s.verifyL4(17, p) {
		ev.Drop("udp", event.ReasonBadChecksum)
		return
	}
	payload := p[8:]
	ev.PayloadLen = len(payload)
	if f.host != nil && !f.host.UDPOpen(ev.DstPort) {
		ev.Reason = event.ReasonClosedPort
		s.unreachable(true, tx)
		return
	}
	if len(payload) == 0 {
		ev.Reason = event.ReasonNoApp
		return
	}
	c := app.Conn{
		Transport:   app.UDP,
		Client:      netip.AddrPortFrom(f.src, ev.SrcPort),
		Server:      netip.AddrPortFrom(f.dst, ev.DstPort),
		Personality: s.p.Name,
		Now:         f.meta.Time,
		Rand:        s.randFn,
	}
	if f.host != nil {
		c.Service = f.host.Service(ev.DstPort)
		c.Banners = f.host.Banners
		c.HostID = s.hostID(f.host)
	}
	if s.cfg.UDPMaxRatio > 0 {
		c.MaxReply = s.cfg.UDPMaxRatio * len(payload)
	}
	reply, a := s.cfg.Apps.Datagram(&c, payload)
	ev.App = a
	if len(reply) == 0 {
		ev.Reason = event.ReasonNoApp
		return
	}
	if c.MaxReply > 0 && len(reply) > c.MaxReply {
		ev.Suppressed = "udp-reply"
		ev.Reason = event.ReasonUDPRatio
		return
	}
	if !s.allow(BudgetUDPBytes, len(reply)) {
		ev.Suppressed = "udp-reply"
		ev.Reason = event.ReasonRateLimited
		return
	}
	from := ev.DstPort
	if c.ReplyPort != 0 {
		from = c.ReplyPort
	}
	off := s.replyIP(tx, 17, s.p.Data)
	h := tx.grow(8 + len(reply))
	binary.BigEndian.PutUint16(h[0:], from)
	binary.BigEndian.PutUint16(h[2:], ev.SrcPort)
	copy(h[8:], reply)
	s.endIP(tx, off, 6)
	ev.Reply = "data"
}
